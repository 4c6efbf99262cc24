"""The pydantic models of `sop/channels.yaml`: its shape, before any cross-checks.

Schema errors (a missing template, a bad pattern, too many attachments) come from here with
their file:line; what needs the rest of the file or stores.yaml is checked in `compile`.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BeforeValidator, Field

from bot.books.yamlfile import OperatorModel
from bot.channels.patterns import check_pattern
from bot.wecom.content import MAX_ATTACHMENTS, AttachmentSpec


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


NonEmpty = Annotated[str, Field(min_length=1)]
# `match: "a"` and `match: [a, b]` are both accepted; normalising before validation keeps
# pydantic from reporting one error per union member
MatchList = Annotated[
    list[Annotated[str, BeforeValidator(check_pattern)]],
    BeforeValidator(_one_or_many),
    Field(min_length=1),
]


class PerkSpec(OperatorModel):
    """A channel's ``perk:``."""

    title: NonEmpty
    code: str = ""
    valid_days: int | None = Field(default=None, ge=1, le=366)
    rule: str = ""


class ChannelSpec(OperatorModel):
    """One entry of ``channels:``."""

    note: str = ""  # for operators: where the QR code is printed, who owns the campaign
    card_line: str = Field(default="", max_length=40)  # the line printed under the QR card
    match: MatchList | None = None
    store: str | None = None
    tags: dict[NonEmpty, list[NonEmpty]] = Field(default_factory=dict)
    template: NonEmpty
    perk: PerkSpec | None = None
    attachments: list[AttachmentSpec] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)


class ChannelsFile(OperatorModel):
    """The whole file."""

    channels: dict[NonEmpty, ChannelSpec] = Field(min_length=1)
