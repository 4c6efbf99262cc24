"""Pydantic models of the operator files behind SOPs: ``sops:`` files, robots.yaml, groups.yaml.

These models only say what each key may hold, with messages an operator understands; what
the values mean together (the schedule, a template that exists, a store that exists, a
robot that is defined) is checked by `bot.sop.book.SopBook.load`, which knows the other
files. Every model forbids unknown keys (`OperatorModel`), so ``tempalte:`` is an error
rather than a silently ignored line.

Each SOP is validated on its own (`bot.books.yamlfile.validate_part`), so a typo in one SOP does
not hide the template errors of the next one.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, field_validator, model_validator

from bot.books.stores import check_store_id
from bot.books.yamlfile import OperatorModel
from bot.i18n import t
from bot.sop.schedule import (
    DEFAULT_TIMEZONE,
    parse_clock,
    parse_cron,
    parse_days,
    parse_timezone,
)
from bot.wecom.content import MAX_ATTACHMENTS, AttachmentSpec

__all__ = [
    "SOP_NAME_RE",
    "GroupTagRule",
    "GroupTarget",
    "GroupsFile",
    "MemberTarget",
    "RobotSpec",
    "RobotsFile",
    "SopAttachmentSpec",
    "SopFile",
    "SopSpec",
    "TargetSpec",
    "ViaSpec",
    "check_sop_name",
    "parse_duration",
]

# SOP names end up in job ids, idempotency keys and the sop_slot table (64 chars)
SOP_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
_DURATION_RE = re.compile(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?")
_ENV_NAME_RE = re.compile(r"[A-Z_][A-Z0-9_]*")
DEFAULT_GRACE = timedelta(minutes=10)
MAX_GRACE = timedelta(hours=12)

NonEmpty = Annotated[str, Field(min_length=1)]
StoreId = Annotated[str, AfterValidator(check_store_id)]


def parse_duration(value: Any) -> timedelta:
    """``"15m"``, ``"1h"``, ``"1h30m"``, ``"90s"`` -> timedelta; a bare number means minutes."""
    if isinstance(value, timedelta):
        return value
    if isinstance(value, bool):
        raise ValueError(t("spec.duration_bool"))
    if isinstance(value, int):
        return timedelta(minutes=value)
    text = str(value).strip().lower().replace(" ", "")
    found = _DURATION_RE.fullmatch(text)
    if not text or found is None or not any(found.groups()):
        raise ValueError(t("spec.duration", found=repr(value)))
    hours, minutes, seconds = (int(g or 0) for g in found.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _check_grace(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError(t("spec.grace_zero"))
    if value > MAX_GRACE:
        raise ValueError(t("spec.grace_long"))
    return value


def check_sop_name(value: str) -> str:
    if not SOP_NAME_RE.fullmatch(value):
        raise ValueError(t("spec.bad_name", name=value))
    return value


def _skip_date(value: Any) -> Any:
    """Dates as written: ``2026-12-25`` (YAML reads it as a date) or the same in quotes."""
    if isinstance(value, datetime):
        raise ValueError(t("spec.date_with_time", found=value))
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ValueError(t("spec.date", found=repr(value)))


def _check_time(value: str) -> str:
    """A clock time, or a per-store time (``"store.closes - 30m"``, bot.sop.store_times)."""
    if value.strip().startswith(("store.", "data.")):
        from bot.sop.store_times import parse_store_time  # imports this module: at call time

        parse_store_time(value)
    else:
        parse_clock(value)
    return value


def _check_cron(value: str) -> str:
    parse_cron(value)
    return value


def _check_timezone(value: str) -> str:
    parse_timezone(value)
    return value


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _days(value: Any) -> Any:
    """Normalise and check ``days`` before pydantic's types (one clear message, not three)."""
    if isinstance(value, str):
        parse_days(value)
        return value
    if isinstance(value, list):
        parse_days([str(v) if isinstance(v, str) else v for v in value])
        return [str(v) for v in value]
    raise ValueError(t("spec.days"))


Clock = Annotated[str, AfterValidator(_check_time)]
Grace = Annotated[timedelta, BeforeValidator(parse_duration), AfterValidator(_check_grace)]
TimeZoneName = Annotated[str, AfterValidator(_check_timezone)]


def _all_or_stores(value: Any) -> Any:
    if value == "all":
        return value
    return _one_or_many(value)


StoreSelection = Annotated[
    Literal["all"] | list[StoreId], BeforeValidator(_all_or_stores)
]
NameList = Annotated[list[NonEmpty], BeforeValidator(_one_or_many), Field(min_length=1)]


# --------------------------------------------------------------------------- targets


class GroupTarget(OperatorModel):
    """``to: {groups: ...}``: customer groups, by store, city and group tag (all must hold)."""

    stores: StoreSelection | None = None
    cities: NameList | None = None
    tags: NameList | None = None  # group tags from groups.yaml; any of them
    exclude_tags: list[NonEmpty] = Field(default_factory=list)

    @model_validator(mode="after")
    def _says_which(self) -> GroupTarget:
        if self.stores is None and self.cities is None and self.tags is None:
            raise ValueError(t("spec.which_groups"))
        return self


class MemberTarget(OperatorModel):
    """``to: {members: ...}``: customers (one-to-one 群发) carrying corp tags.

    Tags are ``标签组/标签名`` or a bare ``标签名`` (any group); they are resolved against the
    database's tag table when the SOP runs. Only customers whose store is selected get it,
    so every message can name its store.
    """

    tags: NameList
    match: Literal["any", "all"] = "any"
    stores: StoreSelection = "all"


class TargetSpec(OperatorModel):
    groups: GroupTarget | None = None
    members: MemberTarget | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> TargetSpec:
        if (self.groups is None) == (self.members is None):
            raise ValueError(t("spec.to_one"))
        return self


# --------------------------------------------------------------------------- via


def _via(value: Any) -> Any:
    if value == "group_send":
        return {}
    if value == "owner_post":
        return {"owner_post": True}
    if value == "moment":
        return {"moment": True}
    if isinstance(value, str):
        raise ValueError(t("spec.via", found=repr(value)))
    return value


class ViaSpec(OperatorModel):
    """``via: group_send`` (stored as no robot), ``via: owner_post``, ``via: moment`` or
    ``{robot: <name>}``.

    ``owner_post``: the group owner posts the message into each group from the sidebar
    after an app-message reminder; never a 群发, so it uses none of the 群发 quota.
    ``moment``: each store's staff post it to their 客户朋友圈 (docs/moments.md); no quota.
    """

    robot: NonEmpty | None = None
    owner_post: bool = False
    moment: bool = False

    @model_validator(mode="after")
    def _one_way(self) -> ViaSpec:
        if sum((self.robot is not None, self.owner_post, self.moment)) > 1:
            raise ValueError(t("spec.via_one"))
        return self


# --------------------------------------------------------------------------- attachments


class VideoSpec(OperatorModel):
    """A moment's video: a local MP4 under sop/ (≤ 30 s, ≤ 10 MB), uploaded by the bot."""

    media_id: NonEmpty


class SopAttachmentSpec(AttachmentSpec):
    """An attachment as in channels.yaml, optionally repeated over a list in the context.

    ``each: data.items`` renders the attachment once per entry of that list, with the entry
    as ``item`` (``pic_url: "{{ item.photo }}"``): one photo per product. Attachments are
    kept in file order and cut at WeCom's 9.
    """

    each: NonEmpty | None = None
    video: VideoSpec | None = None  # via: moment only (docs/moments.md)

    @model_validator(mode="after")
    def _exactly_one(self) -> SopAttachmentSpec:
        given = [k for k in ("link", "image", "miniprogram", "video")
                 if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(t("spec.attachment_one") + (
                t("spec.attachment_found", found=", ".join(given)) if given else ""))
        return self


# --------------------------------------------------------------------------- one SOP


class SopSpec(OperatorModel):
    note: str = ""
    title: Annotated[str, Field(max_length=24)] = ""  # owner_post: the reminder's words
    enabled: bool = True
    at: Annotated[list[Clock], BeforeValidator(_one_or_many), Field(min_length=1)] | None = None
    days: Annotated[str | list[str], BeforeValidator(_days)] | None = None
    cron: Annotated[str, AfterValidator(_check_cron)] | None = None
    timezone: TimeZoneName | None = None  # overrides the file's
    skip_dates: list[Annotated[date, BeforeValidator(_skip_date)]] = Field(default_factory=list)
    grace: Grace = DEFAULT_GRACE
    to: TargetSpec | None = None
    template: NonEmpty
    data: NonEmpty | None = None
    via: Annotated[ViaSpec, BeforeValidator(_via)] = Field(default_factory=ViaSpec)
    attachments: list[SopAttachmentSpec] = Field(
        default_factory=list, max_length=MAX_ATTACHMENTS
    )

    @field_validator("at")
    @classmethod
    def _unique_times(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            seen: set[time | str] = set()
            for item in value:
                clock = " ".join(item.split()) if "." in item else parse_clock(item)
                if clock in seen:
                    raise ValueError(t("spec.time_twice", time=repr(item)))
                seen.add(clock)
        return value

    @model_validator(mode="after")
    def _when(self) -> SopSpec:
        if self.at is not None and self.cron is not None:
            raise ValueError(t("spec.at_and_cron"))
        if self.at is None and self.cron is None:
            raise ValueError(t("spec.say_when"))
        if self.cron is not None and self.days is not None:
            raise ValueError(t("spec.days_with_cron"))
        return self


class SopFile(OperatorModel):
    """The shell of a ``sops:`` file; each SOP is validated separately as `SopSpec`."""

    timezone: TimeZoneName = DEFAULT_TIMEZONE
    sops: dict[str, Any] = Field(min_length=1)  # names are checked one by one


# --------------------------------------------------------------------------- robots.yaml


def _check_env_name(value: str) -> str:
    if not _ENV_NAME_RE.fullmatch(value):
        raise ValueError(t("spec.key_env", found=repr(value)))
    return value


def _mention(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class RobotSpec(OperatorModel):
    note: str = ""
    key_env: Annotated[str, AfterValidator(_check_env_name)]
    chat: NonEmpty  # the chat the robot sits in: for records and the preview
    format: Literal["text", "markdown"] = "text"
    mention: Annotated[list[NonEmpty], BeforeValidator(_mention)] = Field(default_factory=list)
    store: StoreId | None = None  # a store's own staff group: its SOPs render with that store

    @model_validator(mode="after")
    def _markdown_mentions(self) -> RobotSpec:
        if self.format == "markdown" and "@all" in self.mention:
            raise ValueError(t("spec.markdown_all"))
        if "@all" in self.mention and len(self.mention) > 1:
            raise ValueError(t("spec.all_and_more"))
        return self


class RobotsFile(OperatorModel):
    robots: dict[Annotated[str, AfterValidator(check_sop_name)], RobotSpec] = Field(
        default_factory=dict
    )


# --------------------------------------------------------------------------- groups.yaml


class GroupTagRule(OperatorModel):
    """One group tag: a group gets it when ANY of the given criteria holds."""

    note: str = ""
    name_contains: list[NonEmpty] = Field(default_factory=list)
    stores: list[StoreId] = Field(default_factory=list)
    owners: list[NonEmpty] = Field(default_factory=list)
    chats: list[NonEmpty] = Field(default_factory=list)

    @model_validator(mode="after")
    def _some_rule(self) -> GroupTagRule:
        if not (self.name_contains or self.stores or self.owners or self.chats):
            raise ValueError(t("spec.tag_rule"))
        return self


class GroupsFile(OperatorModel):
    tags: dict[NonEmpty, GroupTagRule] = Field(default_factory=dict)
