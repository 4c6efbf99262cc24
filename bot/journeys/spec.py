"""Pydantic models of a journey file: what each key may hold, in words an operator reads.

What the values mean together (an event the engine knows, a tag in the vocabulary, a
template that renders, precedence between journeys) is checked by `bot.journeys.book`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from bot.books.stores import check_store_id
from bot.books.yamlfile import OperatorModel
from bot.sop.schedule import parse_clock, parse_timezone
from bot.sop.spec import check_sop_name
from bot.wecom.content import MAX_ATTACHMENTS, AttachmentSpec

NonEmpty = Annotated[str, Field(min_length=1)]
StoreId = Annotated[str, AfterValidator(check_store_id)]
MAX_DAY = 366
STEP_ID = Annotated[str, Field(min_length=1, max_length=48, pattern=r"^[A-Za-z0-9_-]+$")]


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _clock(value: str) -> str:
    parse_clock(value)
    return value


def _zone(value: str) -> str:
    parse_timezone(value)
    return value


NameList = Annotated[list[NonEmpty], BeforeValidator(_one_or_many)]
Clock = Annotated[str, AfterValidator(_clock)]
IfFull = Literal["postpone", "drop"]


class EntrySpec(OperatorModel):
    """``entry:``: the event that starts the journey, narrowed by tags, channel and store."""

    event: NonEmpty
    tag: NonEmpty | None = None  # tag_added: which tag (组/名 or 名)
    days: int | None = Field(default=None, ge=1, le=3650)  # no_purchase: quiet for N days
    min_purchases: int | None = Field(default=None, ge=1)  # no_purchase: in the past year
    level: NonEmpty | None = None  # level_reached: which level (any if absent)
    stage: NonEmpty | None = None  # stage_changed: which stage (any if absent)
    tags: NameList = Field(default_factory=list)  # the customer carries all of them
    channels: NameList = Field(default_factory=list)  # any of them
    stores: NameList = Field(default_factory=list)  # any of them
    again_after_days: int | None = Field(default=None, ge=1)  # None: enters once, ever


class StopSpec(OperatorModel):
    """``stop:``: what takes a customer out before the last step."""

    tags: NameList = Field(default_factory=list)  # gets any of these tags
    purchase: bool = False  # buys (a purchase member event after entry)
    left_groups: bool = False  # is in none of the chain's customer groups any more
    staff_deleted: bool = True  # deleted (or was deleted by) the staff member sending


class StepSpec(OperatorModel):
    id: STEP_ID
    day: int = Field(le=MAX_DAY)  # 1 = the day after entry; checked ≥ 1 with its line
    at: Clock
    text: str | None = None
    template: NonEmpty | None = None
    attachments: list[AttachmentSpec] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    if_full: IfFull | None = None  # the journey's when absent
    last: bool = False  # the journey ends after this step ("a step says so")

    @model_validator(mode="after")
    def _says_something(self) -> StepSpec:
        if self.text is None and self.template is None and not self.attachments:
            raise ValueError("a step needs text:, template: or attachments:")
        if self.text is not None and self.template is not None:
            raise ValueError("give text: or template:, not both")
        return self


class JourneySpec(OperatorModel):
    title: NonEmpty
    note: str = ""
    enabled: bool = True
    entry: EntrySpec
    via: Literal["group_send", "staff_task"] = "group_send"
    if_full: IfFull = "postpone"
    postpone_days: int = Field(default=3, ge=1, le=30)
    stop: StopSpec = Field(default_factory=StopSpec)
    steps: list[StepSpec] = Field(min_length=1)


class AllowanceSpec(OperatorModel):
    """``allowance:``: WeCom's one 群发 per customer per day, and who gets it first."""

    per_day: int = Field(default=1, ge=1, le=31)
    # journey names and ``sop:<name>`` (member-targeted SOPs), highest first
    precedence: list[NonEmpty] = Field(default_factory=list)


class JourneyFile(OperatorModel):
    timezone: Annotated[str, AfterValidator(_zone)] = "Asia/Shanghai"
    allowance: AllowanceSpec | None = None
    tags: dict[NonEmpty, NameList] = Field(default_factory=dict)  # the tag vocabulary
    journeys: dict[str, Any] = Field(default_factory=dict)


def check_journey_name(value: str) -> str:
    return check_sop_name(value)
