"""Typed callback events: one class per Event/ChangeType, a registry, and a fallback.

A decrypted callback is a flat XML document. `parse_xml` turns it into a dict of fields
(the form that is stored), and `from_fields` turns that dict into one of the classes below.
An unknown type becomes `UnknownEvent` (recorded, logged, not acted on); a known type that
lacks an identifying field raises `MalformedEvent`, which the endpoint answers with 400.

Every event knows its `dedupe_key` (WeCom redelivers up to three times; customer-contact
events come from `sys` with no MsgId, so the key is built from the event's own ids) and its
`lane` (events in one lane are handled in order: one customer, one group, the tag list).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, ClassVar
from xml.parsers import expat

Fields = dict[str, Any]


class MalformedEvent(Exception):
    """A verified callback whose content cannot be understood; the message says why."""


def parse_xml(xml: str | bytes) -> Fields:
    """Flat fields of a decrypted callback (or of the POST envelope around it).

    Parsed with expat directly, with a handler per element: about a third of the cost of
    building xmltodict's nested dicts, and this runs for every callback before the 200.
    A document type declaration is refused outright, so no entity can be declared, let
    alone expanded: no XML bombs, no external entities. Text is stripped and an empty
    element is "", as the stored form has always been.
    """
    reader = _FlatReader()
    parser = expat.ParserCreate()
    parser.buffer_text = True  # one CharacterData call per text node, not one per chunk
    parser.StartDoctypeDeclHandler = _refuse_doctype
    parser.EntityDeclHandler = _refuse_doctype
    parser.StartElementHandler = reader.start
    parser.EndElementHandler = reader.end
    parser.CharacterDataHandler = reader.text.append
    try:
        parser.Parse(xml, True)
    except expat.ExpatError as exc:
        raise MalformedEvent(f"invalid XML: {exc}") from exc
    except (LookupError, ValueError) as exc:
        # An XML declaration naming an encoding Python does not know ("x-klingon") raises
        # LookupError out of expat; it used to escape as a 500.
        raise MalformedEvent(f"invalid XML: {exc}") from exc
    if reader.depth != 0 or not reader.seen_root:  # pragma: no cover - expat refuses these
        raise MalformedEvent("missing <xml> root element")
    return reader.fields


def _refuse_doctype(*_args: object) -> None:
    raise MalformedEvent("invalid XML: document type declarations are not accepted")


class _FlatReader:
    """Collects `<xml><Name>text</Name>...</xml>`; `MemChangeList` may hold `<Item>`s."""

    __slots__ = ("depth", "field", "fields", "items", "seen_root", "text")

    def __init__(self) -> None:
        self.fields: Fields = {}
        self.text: list[str] = []
        self.depth = 0
        self.field = ""
        self.items: list[str] | None = None
        self.seen_root = False

    def start(self, name: str, attrs: dict[str, str]) -> None:
        depth = self.depth = self.depth + 1
        if depth == 2:
            if attrs or name in self.fields:
                raise MalformedEvent(f"field {name} must be text")
            self.field = name
            self.items = None
        elif depth == 1:
            if name != "xml":
                raise MalformedEvent("missing <xml> root element")
            self.seen_root = True
        elif depth == 3 and self.field == "MemChangeList" and name == "Item" and not attrs:
            if self.items is None:
                self.items = []
        else:
            raise MalformedEvent(f"field {self.field} must be text")
        self.text.clear()

    def end(self, name: str) -> None:
        depth = self.depth
        self.depth = depth - 1
        if depth == 2:
            if name == "MemChangeList":
                self.fields[name] = (self.items if self.items is not None
                                     else _member_list("".join(self.text)))
            else:
                self.fields[name] = "".join(self.text).strip()
        elif depth == 3:
            item = "".join(self.text).strip()
            if not item or self.items is None:
                raise MalformedEvent("MemChangeList must list <Item> user ids")
            self.items.append(item)
        self.text.clear()


def _member_list(value: str) -> list[str]:
    """MemChangeList as comma-separated text (some samples) rather than <Item> children."""
    return [part.strip() for part in value.split(",") if part.strip()]


_INT64 = 2**63


def _int(fields: Fields, name: str, default: int | None = None) -> int:
    """An integer field, as WeCom writes them: ASCII digits, optional sign, within 64 bits.

    Python's `int()` also takes "１２３", "1_000" and 4,000-digit numbers; a CreateTime past
    64 bits reached the inbox INSERT and came back as a 500 (tests/test_hostile_callbacks).
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


@dataclass(frozen=True, slots=True)
class Event:
    """Common envelope. `fields` keeps every field as received, for storage and replay."""

    kind: ClassVar[str] = "unknown"
    corp_id: str
    create_time: int
    fields: Fields = field(repr=False, compare=False)

    @property
    def dedupe_key(self) -> str:
        return f"{self.kind}:{_digest(*self._identity())}"

    def _identity(self) -> tuple[object, ...]:
        return tuple(sorted((k, str(v)) for k, v in self.fields.items()))

    @property
    def lane(self) -> str:
        return self.kind

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
    user_id: str  # the staff member (store manager, assistant)
    external_user_id: str

    @property
    def lane(self) -> str:
        return f"contact:{self.external_user_id}"

    def _identity(self) -> tuple[object, ...]:
        return (self.kind, self.create_time, self.user_id, self.external_user_id)

    @classmethod
    def common(cls, f: Fields) -> dict[str, Any]:
        return {
            "corp_id": f.get("ToUserName", ""),
            "create_time": _int(f, "CreateTime"),
            "fields": f,
            "user_id": _text(f, "UserID"),
            "external_user_id": _text(f, "ExternalUserID"),
        }

    @classmethod
    def from_fields(cls, f: Fields) -> ContactEvent:
        return cls(**cls.common(f))


@dataclass(frozen=True, slots=True)
class ContactAdded(ContactEvent):
    """A customer added a staff member, usually by scanning a 「联系我」 QR code."""

    kind: ClassVar[str] = "contact.added"
    state: str = ""
    welcome_code: str = ""

    def _identity(self) -> tuple[object, ...]:
        return (*ContactEvent._identity(self), self.state, self.welcome_code)

    @property
    def urgent(self) -> bool:
        return bool(self.welcome_code)  # a WelcomeCode can be used for 20 s after the scan

    @classmethod
    def from_fields(cls, f: Fields) -> ContactAdded:
        return cls(**cls.common(f), state=f.get("State", ""), welcome_code=f.get("WelcomeCode", ""))


@dataclass(frozen=True, slots=True)
class ContactHalfAdded(ContactAdded):
    """Customer added a member with 免验证 on; the member has not confirmed yet."""

    kind: ClassVar[str] = "contact.half_added"


@dataclass(frozen=True, slots=True)
class ContactEdited(ContactEvent):
    """Remark or tags of the customer were edited in WeCom."""

    kind: ClassVar[str] = "contact.edited"


@dataclass(frozen=True, slots=True)
class ContactDeletedByStaff(ContactEvent):
    """The staff member deleted the customer (`Source=DELETE_BY_TRANSFER` on 在职继承)."""

    kind: ClassVar[str] = "contact.deleted_by_staff"
    source: str = ""

    @classmethod
    def from_fields(cls, f: Fields) -> ContactDeletedByStaff:
        return cls(**cls.common(f), source=f.get("Source", ""))


@dataclass(frozen=True, slots=True)
class ContactDeletedByCustomer(ContactEvent):
    """The customer deleted the staff member (`del_follow_user`)."""

    kind: ClassVar[str] = "contact.deleted_by_customer"


@dataclass(frozen=True, slots=True)
class ContactTransferFailed(ContactEvent):
    kind: ClassVar[str] = "contact.transfer_failed"
    fail_reason: str = ""

    @classmethod
    def from_fields(cls, f: Fields) -> ContactTransferFailed:
        return cls(**cls.common(f), fail_reason=f.get("FailReason", ""))


@dataclass(frozen=True, slots=True)
class ContactMsgAuditApproved(ContactEvent):
    kind: ClassVar[str] = "contact.msg_audit_approved"
    welcome_code: str = ""

    @classmethod
    def from_fields(cls, f: Fields) -> ContactMsgAuditApproved:
        return cls(**cls.common(f), welcome_code=f.get("WelcomeCode", ""))


# -- customer groups (Event=change_external_chat) -----------------------------------------


@dataclass(frozen=True, slots=True)
class ChatEvent(Event):
    chat_id: str

    @property
    def lane(self) -> str:
        return f"chat:{self.chat_id}"

    def _identity(self) -> tuple[object, ...]:
        return (self.kind, self.create_time, self.chat_id)

    @classmethod
    def common(cls, f: Fields) -> dict[str, Any]:
        return {
            "corp_id": f.get("ToUserName", ""),
            "create_time": _int(f, "CreateTime"),
            "fields": f,
            "chat_id": _text(f, "ChatId"),
        }

    @classmethod
    def from_fields(cls, f: Fields) -> ChatEvent:
        return cls(**cls.common(f))


@dataclass(frozen=True, slots=True)
class ChatCreated(ChatEvent):
    kind: ClassVar[str] = "chat.created"


@dataclass(frozen=True, slots=True)
class ChatDismissed(ChatEvent):
    kind: ClassVar[str] = "chat.dismissed"


@dataclass(frozen=True, slots=True)
class ChatUpdated(ChatEvent):
    """A change to a customer group; for members, `members` lists who joined or left.

    join_scene (add_member): 0 invited by a member (directly or by link), 3 scanned the
    group QR code. quit_scene (del_member): 0 left, 1 removed by the owner or an admin.
    """

    kind: ClassVar[str] = "chat.updated"
    update_detail: str = ""
    join_scene: int = 0
    quit_scene: int = 0
    mem_change_cnt: int = 0
    members: tuple[str, ...] = ()
    last_mem_ver: str = ""
    cur_mem_ver: str = ""

    def _identity(self) -> tuple[object, ...]:
        return (*ChatEvent._identity(self), self.update_detail, self.members, self.cur_mem_ver)

    @classmethod
    def from_fields(cls, f: Fields) -> ChatUpdated:
        return cls(
            **cls.common(f),
            update_detail=f.get("UpdateDetail", ""),
            join_scene=_int(f, "JoinScene", 0),
            quit_scene=_int(f, "QuitScene", 0),
            mem_change_cnt=_int(f, "MemChangeCnt", 0),
            members=tuple(f.get("MemChangeList") or ()),
            last_mem_ver=f.get("LastMemVer", ""),
            cur_mem_ver=f.get("CurMemVer", ""),
        )


# -- corp tags (Event=change_external_tag) ------------------------------------------------


@dataclass(frozen=True, slots=True)
class TagChanged(Event):
    """A corp tag or tag group was created, renamed, deleted or reordered (shuffle)."""

    kind: ClassVar[str] = "tag.changed"
    change_type: str = ""
    tag_id: str = ""
    tag_type: str = ""  # "tag" or "tag_group"; absent on shuffle
    strategy_id: str = ""

    @property
    def lane(self) -> str:
        return "tags"  # the handler re-reads the whole list: one at a time is enough

    def _identity(self) -> tuple[object, ...]:
        return (self.kind, self.create_time, self.change_type, self.tag_id, self.tag_type)

    @classmethod
    def from_fields(cls, f: Fields) -> TagChanged:
        return cls(
            corp_id=f.get("ToUserName", ""),
            create_time=_int(f, "CreateTime"),
            fields=f,
            change_type=_text(f, "ChangeType"),
            tag_id=_text(f, "Id"),
            tag_type=f.get("TagType", ""),
            strategy_id=f.get("StrategyId", ""),
        )


# -- the bot app's own messages ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AppEvent(Event):
    from_user: str  # the staff member's userid
    agent_id: int

    @property
    def lane(self) -> str:
        return f"staff:{self.from_user}"

    @classmethod
    def common(cls, f: Fields) -> dict[str, Any]:
        return {
            "corp_id": f.get("ToUserName", ""),
            "create_time": _int(f, "CreateTime"),
            "fields": f,
            "from_user": _text(f, "FromUserName"),
            "agent_id": _int(f, "AgentID", 0),
        }


@dataclass(frozen=True, slots=True)
class TextMessage(AppEvent):
    kind: ClassVar[str] = "app.text"
    msg_id: str = ""
    content: str = ""

    @property
    def dedupe_key(self) -> str:
        return f"{self.kind}:{self.msg_id}"  # messages carry a MsgId: WeCom's own dedupe key

    @classmethod
    def from_fields(cls, f: Fields) -> TextMessage:
        return cls(**cls.common(f), msg_id=_text(f, "MsgId"), content=f.get("Content", ""))


@dataclass(frozen=True, slots=True)
class EnterAgent(AppEvent):
    kind: ClassVar[str] = "app.enter_agent"

    def _identity(self) -> tuple[object, ...]:
        return (self.kind, self.create_time, self.from_user)  # FromUserName+CreateTime (§1.3)

    @classmethod
    def from_fields(cls, f: Fields) -> EnterAgent:
        return cls(**cls.common(f))


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
    return cls.from_fields(f)  # type: ignore[attr-defined,no-any-return]


def parse_event(xml: str) -> Event:
    return from_fields(parse_xml(xml))
