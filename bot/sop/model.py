"""An SOP as the bot holds it once its file has loaded: the compiled values.

`bot.sop.spec` says what operators may write; `bot.sop.book` turns it into these values and
renders them. The scheduler and the outbox only ever see these (a `Sop`, a `SopMessage`),
never the YAML.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.books.templating import TemplateError
from bot.sop.datafiles import SopData
from bot.sop.group_tags import GroupRow
from bot.sop.robots import Robot
from bot.sop.schedule import Schedule
from bot.wecom.content import Attachment

__all__ = [
    "GroupSelect",
    "Loc",
    "MemberSelect",
    "Sop",
    "SopAttachment",
    "SopError",
    "SopMessage",
    "TagRef",
]

Loc = tuple[str | int, ...]  # where in an SOP a problem is written: ("attachments", 0, "each")


@dataclass(frozen=True, slots=True)
class TagRef:
    """A corp tag named in ``to: {members: {tags: [...]}}``: ``组/名`` or a bare name."""

    group: str | None  # None: a tag of this name in any group
    name: str

    @classmethod
    def parse(cls, text: str) -> TagRef:
        group, slash, name = text.partition("/")
        if not slash:
            return cls(None, text.strip())
        if not group.strip() or not name.strip():
            raise ValueError(f"tag '{text}': write 标签组/标签名 or just 标签名")
        return cls(group.strip(), name.strip())

    def __str__(self) -> str:
        return f"{self.group}/{self.name}" if self.group else self.name


@dataclass(frozen=True, slots=True)
class GroupSelect:
    """A compiled ``to: {groups: ...}``: the stores it covers and the group tags it wants."""

    stores: frozenset[str]
    tags: frozenset[str] | None  # None: any group of those stores
    exclude_tags: frozenset[str] = frozenset()

    def matches(self, group: GroupRow) -> bool:
        return (
            group.store_id is not None
            and group.store_id in self.stores
            and (self.tags is None or bool(group.tags & self.tags))
            and not group.tags & self.exclude_tags
        )


@dataclass(frozen=True, slots=True)
class MemberSelect:
    """A compiled ``to: {members: ...}``; tags are resolved against the database at send time."""

    tags: tuple[TagRef, ...]
    match: str  # any | all
    stores: frozenset[str]


@dataclass(frozen=True, slots=True)
class SopAttachment:
    """An attachment of an SOP, optionally repeated over a list (``each: data.items``)."""

    spec: Attachment  # msgtype, (key, template) pairs, required key
    each: str | None = None  # Jinja expression for the list to repeat over
    each_expr: Callable[..., Any] | None = None


@dataclass(frozen=True, slots=True)
class Sop:
    """One compiled SOP."""

    name: str
    path: Path  # the file it is defined in
    line: int
    column: int
    note: str
    enabled: bool
    schedule: Schedule
    grace: timedelta  # misfire grace: a slot is still sent if this late, else recorded missed
    target: GroupSelect | MemberSelect | None  # None for robots
    template: str
    data: SopData | None
    robot: Robot | None
    attachments: tuple[SopAttachment, ...] = ()
    owner_post: bool = False  # via: owner_post: each group's owner posts it from the sidebar
    title: str = ""  # owner_post: what the reminder calls it (今日秒杀); default: the name
    moment: bool = False  # via: moment: each store's staff post it to 客户朋友圈

    @property
    def via(self) -> str:
        """``group_send`` (add_msg_template per owner), ``owner_post`` (the owner posts it
        from the sidebar, reminded by an app message) or ``robot`` (webhook)."""
        if self.robot is not None:
            return "robot"
        if self.moment:
            return "moment"
        return "owner_post" if self.owner_post else "group_send"

    @property
    def label(self) -> str:
        """What staff read in a reminder: the SOP's title, else its name."""
        return self.title or self.name

    @property
    def timezone(self) -> ZoneInfo:
        return self.schedule.timezone

    @property
    def where(self) -> str:
        """``sop/daily.yaml:12:3``: where the SOP is defined, for messages and logs."""
        return f"{self.path}:{self.line}:{self.column}"


@dataclass(frozen=True, slots=True)
class SopMessage:
    """One rendered SOP message for one store (or one robot) at one slot, within limits."""

    sop: str
    store_id: str | None
    slot: datetime  # aware, in the SOP's timezone
    via: str  # group_send | robot
    text: str
    attachments: list[dict[str, Any]] = field(default_factory=list)
    robot: Robot | None = None
    dropped_attachments: int = 0  # repeated attachments cut at WeCom's 9

    def group_send_payload(self, sender: str, chat_ids: Sequence[str]) -> dict[str, Any]:
        """The body of ``externalcontact/add_msg_template`` for one owner's groups."""
        return self._template_body("group", sender, "chat_id_list", chat_ids)

    def member_send_payload(
        self, sender: str, external_userids: Sequence[str]
    ) -> dict[str, Any]:
        """The body of ``externalcontact/add_msg_template`` for one member's customers."""
        return self._template_body("single", sender, "external_userid", external_userids)

    def _template_body(self, chat_type: str, sender: str, field_name: str,
                       recipients: Sequence[str]) -> dict[str, Any]:
        body: dict[str, Any] = {"chat_type": chat_type, "sender": sender,
                                field_name: list(recipients)}
        if self.text:
            body["text"] = {"content": self.text}
        if self.attachments:
            body["attachments"] = self.attachments
        return body

    def robot_payload(self) -> dict[str, Any]:
        """The body of ``webhook/send`` (text with ``mentioned_list``, or markdown)."""
        if self.robot is None:
            raise SopError(self.sop, self.store_id, "not a robot SOP (via group_send)")
        return self.robot.payload(self.text)


class SopError(Exception):
    """An SOP could not be rendered for a store; names the SOP, the store and why."""

    def __init__(
        self, sop: str, store_id: str | None, reason: str, loc: Loc = ("template",),
        template: TemplateError | None = None,
    ) -> None:
        super().__init__(sop, store_id, reason)
        self.sop = sop
        self.store_id = store_id
        self.reason = reason
        self.loc = loc  # where in the SOP the problem is written (for load-time errors)
        self.template = template  # the template's own error (file and line), if it is one

    def __str__(self) -> str:
        store = f" for store {self.store_id}" if self.store_id else ""
        return f"SOP '{self.sop}'{store}: {self.reason}"
