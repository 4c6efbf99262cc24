"""Typed callback events: one class per Event/ChangeType, a registry, and a fallback.

A decrypted callback is a flat XML document. `parse_xml` (bot.wecom.xmlfields) turns it into
a dict of fields (the form that is stored), and `from_fields` turns that dict into one of the
classes below. An unknown type becomes `UnknownEvent` (recorded, logged, not acted on); a
known type that lacks an identifying field raises `MalformedEvent`, which the endpoint
answers with 400.

Every event knows its `dedupe_key` (WeCom redelivers up to three times; customer-contact
events come from `sys` with no MsgId, so the key is built from the event's own ids) and its
`lane` (events in one lane are handled in order: one customer, one group, the tag list).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, NamedTuple, Self

from bot.wecom.xmlfields import Fields as Fields
from bot.wecom.xmlfields import MalformedEvent as MalformedEvent
from bot.wecom.xmlfields import parse_xml as parse_xml

_INT64 = 2**63


def _int(fields: Fields, name: str, default: int | None = None) -> int:
    """An integer field, as WeCom writes them: ASCII digits, optional sign, within 64 bits.

    Python's `int()` also takes "１２３", "1_000" and 4,000-digit numbers; a CreateTime past
    64 bits reached the inbox INSERT and came back as a 500 (tests/hostile/test_hostile_callbacks).
    """
    raw = fields.get(name)
    if raw in (None, ""):
        if default is None:
            raise MalformedEvent(f"missing {name}")
        return default
    text = str(raw)
    digits = text[1:] if text[:1] in "+-" else text
    if not (digits.isascii() and digits.isdigit()) or len(digits) > 19:
        raise MalformedEvent(f"{name} must be an integer")
    value = int(text)
    if not -_INT64 <= value < _INT64:
        raise MalformedEvent(f"{name} must be a 64-bit integer")
    return value


def _text(fields: Fields, name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not value:
        raise MalformedEvent(f"missing {name}")
    return value


def _digest(*parts: object) -> str:
    joined = "\x1f".join("" if p is None else str(p) for p in parts)
    return hashlib.sha1(joined.encode(), usedforsecurity=False).hexdigest()


# -- how an attribute is read from the fields ----------------------------------------------
#
# Every attribute of an event names, in its dataclass field metadata, how it is read from the
# callback's fields, whether it is part of the event's identity (its dedupe key), and whether
# it names the event's lane. One generic `from_fields` reads them in declaration order (the
# first missing one names the `MalformedEvent`), one `_identity` joins the marked ones and one
# `lane` builds the lane: the event classes below are declarations only.

Read = Callable[[Fields], Any]


def _given(name: str) -> Read:
    """An optional text field, as received ("" when absent)."""
    def read(f: Fields) -> str:
        value = f.get(name, "")
        if not isinstance(value, str):  # child elements where WeCom sends text
            raise MalformedEvent(f"field {name} must be text")
        return value
    return read


def _required(name: str) -> Read:
    return lambda f: _text(f, name)


def _number(name: str) -> Read:
    """An optional integer field (0 when absent)."""
    return lambda f: _int(f, name, 0)


def _members(f: Fields) -> tuple[str, ...]:
    return tuple(f.get("MemChangeList") or ())


def _from(read: Read, *, key: bool = False, lane: str = "") -> dict[str, Any]:
    """Field metadata; `lane="contact"`: the event's lane is "contact:<this value>"."""
    return {"read": read, "key": key, "lane": lane}


class _Plan(NamedTuple):
    reads: tuple[tuple[str, Read], ...]  # (attribute, reader), in declaration order
    keys: tuple[str, ...]  # identity attributes after kind and create_time; () = all fields
    lane: tuple[str, str] | None  # (prefix, attribute); None: the lane is the kind


_PLANS: dict[type[Event], _Plan] = {}


def _plan(cls: type[Event]) -> _Plan:
    """The class's readers and identity, from its field metadata (once per class)."""
    plan = _PLANS.get(cls)
    if plan is None:
        marked = [f for f in dataclasses.fields(cls) if "read" in f.metadata]
        lanes = [(f.metadata["lane"], f.name) for f in marked if f.metadata["lane"]]
        plan = _PLANS[cls] = _Plan(tuple((f.name, f.metadata["read"]) for f in marked),
                                   tuple(f.name for f in marked if f.metadata["key"]),
                                   lanes[0] if lanes else None)
    return plan


@dataclass(frozen=True, slots=True)
class Event:
    """Common envelope. `fields` keeps every field as received, for storage and replay."""

    kind: ClassVar[str] = "unknown"
    corp_id: str
    create_time: int
    fields: Fields = field(repr=False, compare=False)

    def __init_subclass__(cls, kind: str | None = None) -> None:
        """`class ContactEdited(ContactEvent, kind="contact.edited")` names the kind."""
        if kind is not None:  # None also when dataclass(slots=True) rebuilds the class
            cls.kind = kind

    @classmethod
    def from_fields(cls, f: Fields) -> Self:
        corp_id = f.get("ToUserName", "")
        create_time = _int(f, "CreateTime")
        values = {name: read(f) for name, read in _plan(cls).reads}
        return cls(corp_id=corp_id, create_time=create_time, fields=f, **values)

    @property
    def dedupe_key(self) -> str:
        return f"{self.kind}:{_digest(*self._identity())}"

    def _identity(self) -> tuple[object, ...]:
        keys = _plan(type(self)).keys
        if not keys:
            return tuple(sorted((k, str(v)) for k, v in self.fields.items()))
        return (self.kind, self.create_time, *(getattr(self, name) for name in keys))

    @property
    def lane(self) -> str:
        lane = _plan(type(self)).lane
        return self.kind if lane is None else f"{lane[0]}:{getattr(self, lane[1])}"

    @property
    def urgent(self) -> bool:
        """Must be acted on within seconds: the dispatcher serves these lanes first."""
        return False


@dataclass(frozen=True, slots=True)
class UnknownEvent(Event):
    """Anything not in the registry: kept with its raw fields so nothing is lost."""


# -- customer contacts (Event=change_external_contact) -------------------------------------


@dataclass(frozen=True, slots=True)
class ContactEvent(Event):
    # the staff member (store manager, assistant)
    user_id: str = field(metadata=_from(_required("UserID"), key=True))
    external_user_id: str = field(metadata=_from(_required("ExternalUserID"), key=True,
                                                 lane="contact"))


@dataclass(frozen=True, slots=True)
class ContactAdded(ContactEvent, kind="contact.added"):
    """A customer added a staff member, usually by scanning a 「联系我」 QR code."""

    state: str = field(default="", metadata=_from(_given("State"), key=True))
    welcome_code: str = field(default="", metadata=_from(_given("WelcomeCode"), key=True))

    @property
    def urgent(self) -> bool:
        return bool(self.welcome_code)  # a WelcomeCode can be used for 20 s after the scan


@dataclass(frozen=True, slots=True)
class ContactHalfAdded(ContactAdded, kind="contact.half_added"):
    """Customer added a member with 免验证 on; the member has not confirmed yet."""


@dataclass(frozen=True, slots=True)
class ContactEdited(ContactEvent, kind="contact.edited"):
    """Remark or tags of the customer were edited in WeCom."""


@dataclass(frozen=True, slots=True)
class ContactDeletedByStaff(ContactEvent, kind="contact.deleted_by_staff"):
    """The staff member deleted the customer (`Source=DELETE_BY_TRANSFER` on 在职继承)."""

    source: str = field(default="", metadata=_from(_given("Source")))


@dataclass(frozen=True, slots=True)
class ContactTransferFailed(ContactEvent, kind="contact.transfer_failed"):
    fail_reason: str = field(default="", metadata=_from(_given("FailReason")))


@dataclass(frozen=True, slots=True)
class ContactMsgAuditApproved(ContactEvent, kind="contact.msg_audit_approved"):
    """The customer agreed to chat archiving (会话内容存档); may carry a WelcomeCode."""

    welcome_code: str = field(default="", metadata=_from(_given("WelcomeCode"), key=True))

    @property
    def urgent(self) -> bool:
        return bool(self.welcome_code)  # usable for 20 s, like an add's


@dataclass(frozen=True, slots=True)
class ContactDeletedByCustomer(ContactEvent, kind="contact.deleted_by_customer"):
    """The customer deleted the staff member (`del_follow_user`)."""


# -- customer groups (Event=change_external_chat) -----------------------------------------


@dataclass(frozen=True, slots=True)
class ChatEvent(Event):
    chat_id: str = field(metadata=_from(_required("ChatId"), key=True, lane="chat"))


@dataclass(frozen=True, slots=True)
class ChatCreated(ChatEvent, kind="chat.created"):
    """A customer group was created."""


@dataclass(frozen=True, slots=True)
class ChatUpdated(ChatEvent, kind="chat.updated"):
    """A change to a customer group; for members, `members` lists who joined or left.

    join_scene (add_member): 0 invited by a member (directly or by link), 3 scanned the
    group QR code. quit_scene (del_member): 0 left, 1 removed by the owner or an admin.
    """

    update_detail: str = field(default="", metadata=_from(_given("UpdateDetail"), key=True))
    join_scene: int = field(default=0, metadata=_from(_number("JoinScene")))
    quit_scene: int = field(default=0, metadata=_from(_number("QuitScene")))
    mem_change_cnt: int = field(default=0, metadata=_from(_number("MemChangeCnt")))
    members: tuple[str, ...] = field(default=(), metadata=_from(_members, key=True))
    last_mem_ver: str = field(default="", metadata=_from(_given("LastMemVer")))
    cur_mem_ver: str = field(default="", metadata=_from(_given("CurMemVer"), key=True))


@dataclass(frozen=True, slots=True)
class ChatDismissed(ChatEvent, kind="chat.dismissed"):
    """A customer group was dismissed."""


# -- corp tags (Event=change_external_tag) ------------------------------------------------


@dataclass(frozen=True, slots=True)
class TagChanged(Event, kind="tag.changed"):
    """A corp tag or tag group was created, renamed, deleted or reordered (shuffle).

    On shuffle `Id` names the tag group whose tags were reordered, and is empty when the
    order of the tag groups themselves changed ("如果为空，则表示全部标签组顺序都发生了变化"):
    an empty Id is a valid callback, not a malformed one.
    """

    change_type: str = field(default="", metadata=_from(_required("ChangeType"), key=True))
    tag_id: str = field(default="", metadata=_from(_given("Id"), key=True))
    # "tag" or "tag_group"; absent on shuffle
    tag_type: str = field(default="", metadata=_from(_given("TagType"), key=True))
    strategy_id: str = field(default="", metadata=_from(_given("StrategyId")))

    @property
    def lane(self) -> str:
        return "tags"  # the handler re-reads the whole list: one at a time is enough


# -- the bot app's own messages ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AppEvent(Event):
    # the staff member's userid; FromUserName+CreateTime tell app events apart (§1.3)
    from_user: str = field(metadata=_from(_required("FromUserName"), key=True, lane="staff"))
    agent_id: int = field(metadata=_from(_number("AgentID")))


@dataclass(frozen=True, slots=True)
class TextMessage(AppEvent, kind="app.text"):
    msg_id: str = field(default="", metadata=_from(_required("MsgId")))
    content: str = field(default="", metadata=_from(_given("Content")))

    @property
    def dedupe_key(self) -> str:
        return f"{self.kind}:{self.msg_id}"  # messages carry a MsgId: WeCom's own dedupe key


@dataclass(frozen=True, slots=True)
class EnterAgent(AppEvent, kind="app.enter_agent"):
    """A staff member opened the bot app."""


_CONTACT_TYPES: dict[str, type[ContactEvent]] = {
    "add_external_contact": ContactAdded,
    "add_half_external_contact": ContactHalfAdded,
    "edit_external_contact": ContactEdited,
    "del_external_contact": ContactDeletedByStaff,
    "del_follow_user": ContactDeletedByCustomer,
    "transfer_fail": ContactTransferFailed,
    "msg_audit_approved": ContactMsgAuditApproved,
}
_CHAT_TYPES: dict[str, type[ChatEvent]] = {
    "create": ChatCreated,
    "update": ChatUpdated,
    "dismiss": ChatDismissed,
}
EVENT_CLASSES: tuple[type[Event], ...] = (
    UnknownEvent, *_CONTACT_TYPES.values(), *_CHAT_TYPES.values(),
    TagChanged, TextMessage, EnterAgent,
)


def from_fields(f: Fields) -> Event:
    """The typed event for a callback's fields (as returned by `parse_xml` or stored)."""
    msg_type = str(f.get("MsgType", "")).lower()
    cls: type[Event] | None = None
    if msg_type == "event":
        event = str(f.get("Event", ""))
        change = str(f.get("ChangeType", ""))
        if event == "change_external_contact":
            cls = _CONTACT_TYPES.get(change)
        elif event == "change_external_chat":
            cls = _CHAT_TYPES.get(change)
        elif event == "change_external_tag":
            cls = TagChanged
        elif event.lower() == "enter_agent":
            cls = EnterAgent
    elif msg_type == "text":
        cls = TextMessage
    if cls is None:
        return UnknownEvent(corp_id=f.get("ToUserName", ""), create_time=_int(f, "CreateTime", 0),
                            fields=f)
    return cls.from_fields(f)


def parse_event(xml: str) -> Event:
    return from_fields(parse_xml(xml))
