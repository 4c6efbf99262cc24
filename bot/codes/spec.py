"""The pydantic models of `sop/codes.yaml`: its shape, before any cross-checks.

What needs channels.yaml, stores.yaml or the templates (a channel that does not exist, a
state too long once the store id is in it, staff WeCom would refuse) is checked in
`bot.codes.desired`, with file:line like these.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, Field

from bot.books.stores import check_store_id
from bot.books.yamlfile import OperatorModel
from bot.wecom.contact_ways import (
    MAX_REMARK_CHARS,
    MAX_STATE_CHARS,
)
from bot.wecom.content import ImageSpec, LinkSpec

NonEmpty = Annotated[str, Field(min_length=1)]
Remark = Annotated[str, Field(max_length=MAX_REMARK_CHARS)]
StoreId = Annotated[str, AfterValidator(check_store_id)]


def _clock(value: str) -> str:
    hours, _, minutes = value.partition(":")
    if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60
            and len(minutes) == 2):
        raise ValueError(f'expected a time like "14:40" (found {value!r})')
    return value


class ContactWaySpec(OperatorModel):
    """One ``contact_ways:`` entry: the 「联系我」 code(s) of a channel."""

    staff: Literal["manager"] | list[NonEmpty]
    state: Annotated[str, Field(min_length=1, max_length=MAX_STATE_CHARS)] | None = None
    remark: Remark = ""
    skip_verify: bool = True  # customers are added without the member's confirmation


class JoinWaySpec(OperatorModel):
    """``join_ways:``: every store's permanent 「加入群聊」 code."""

    state: NonEmpty = "group-{store}"
    channel: NonEmpty = "门店福利群"
    room_base_id: int = Field(default=2, ge=1)
    remark: Remark = ""
    full_at: int = Field(default=500, ge=2, le=500)  # a group this full is left out


class PerkSpec(OperatorModel):
    title: NonEmpty
    code: str = ""


class GroupWelcomeSpec(OperatorModel):
    """One ``group_welcome:`` entry: a 入群欢迎语 template for some stores' groups."""

    stores: Literal["all"] | list[StoreId] = "all"
    template: NonEmpty
    flash_sale_at: Annotated[str, AfterValidator(_clock)] | None = None
    perk: PerkSpec | None = None
    link: LinkSpec | None = None
    image: ImageSpec | None = None
    notify: bool = True  # WeCom also tells the members to apply it (the `notify` field)


class CodesFile(OperatorModel):
    contact_ways: dict[NonEmpty, ContactWaySpec] = Field(default_factory=dict)
    join_ways: JoinWaySpec | None = None
    group_welcome: dict[NonEmpty, GroupWelcomeSpec] = Field(default_factory=dict)
