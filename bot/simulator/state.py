"""The simulated corp: staff, customers, follow relations, corp tags, customer groups.

Pure in-memory model, no I/O. World actions (a customer scans a QR code, joins a group,
an admin adds a tag...) change the model and hand the callback WeCom would push to the
`emit` function given at construction; API operations (mark_tag, add_corp_tag...) change
the model silently, because WeCom raises no callback for changes made through the API
(reference §1.3, §6). Whatever the world did is what the APIs later return.
"""

from __future__ import annotations

import random
import string
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from . import codes
from .codes import ApiError
from .messages import Callback, FieldValue
from .options import SimOptions

Scene = Literal["invite", "link", "qr"]
# groupchat/get join_scene: 1 direct invite, 2 invite link, 3 group QR code (§4) ...
API_JOIN_SCENE: dict[str, int] = {"invite": 1, "link": 2, "qr": 3}
# ... but the change_external_chat callback says 0 for any invitation and 3 for the QR (§2.2).
CALLBACK_JOIN_SCENE: dict[str, int] = {"invite": 0, "link": 0, "qr": 3}

_ALNUM = string.ascii_letters + string.digits


@dataclass
class Staff:
    userid: str
    name: str


@dataclass
class Contact:
    """A WeChat user (type 1) as externalcontact/get describes them."""

    external_userid: str
    name: str
    type: int = 1
    avatar: str = ""
    gender: int = 0
    unionid: str = ""


@dataclass
class Follow:
    """One staff member's relation to one customer (follow_user / follow_info)."""

    userid: str
    external_userid: str
    createtime: int
    state: str
    add_way: int
    oper_userid: str
    remark: str = ""
    description: str = ""
    tag_ids: list[str] = field(default_factory=list)
    half: bool = False  # 免验证 add the member has not confirmed: APIs answer 84061
    # The customer deleted the member: a one-way relation remains, the customer APIs
    # (externalcontact/get, mark_tag...) still work, messages no longer reach them (§5.1).
    deleted_by_customer: bool = False


class Follows:
    """Follow relations by (userid, external_userid), also indexed by customer and by staff.

    `externalcontact/get` asks for one customer's relations and `batch/get_by_user` for one
    member's customers: a scan of every relation per call made the simulator, not the bot,
    the bottleneck of the callback benchmark once a few thousand customers existed.
    """

    def __init__(self) -> None:
        self._all: dict[tuple[str, str], Follow] = {}
        self._by_customer: dict[str, dict[str, Follow]] = {}
        self._by_staff: dict[str, dict[str, Follow]] = {}

    def add(self, follow: Follow) -> None:
        key = (follow.userid, follow.external_userid)
        if key in self._all:
            raise ValueError(f"{key[1]!r} is already a customer of {key[0]!r}")
        self._all[key] = follow
        self._by_customer.setdefault(follow.external_userid, {})[follow.userid] = follow
        self._by_staff.setdefault(follow.userid, {})[follow.external_userid] = follow

    def remove(self, userid: str, external_userid: str) -> None:
        del self._all[(userid, external_userid)]
        for index, outer, inner in ((self._by_customer, external_userid, userid),
                                    (self._by_staff, userid, external_userid)):
            del index[outer][inner]
            if not index[outer]:
                del index[outer]

    def get(self, key: tuple[str, str]) -> Follow | None:
        return self._all.get(key)

    def __contains__(self, key: tuple[str, str]) -> bool:
        return key in self._all

    def __len__(self) -> int:
        return len(self._all)

    def values(self) -> Iterable[Follow]:
        return self._all.values()

    def of_customer(self, external_userid: str) -> list[Follow]:
        """The customer's relations, oldest first."""
        return list(self._by_customer.get(external_userid, {}).values())

    def of_staff(self, userid: str) -> list[Follow]:
        """The member's customers, in the order they were added."""
        return list(self._by_staff.get(userid, {}).values())


@dataclass
class Tag:
    id: str
    name: str
    group_id: str
    create_time: int
    order: int = 0


@dataclass
class TagGroup:
    group_id: str
    group_name: str
    create_time: int
    order: int = 0
    tag_ids: list[str] = field(default_factory=list)


@dataclass
class Member:
    userid: str
    type: int  # 1 corp member, 2 external customer
    join_time: int
    join_scene: int  # groupchat/get numbering: 1 invite, 2 link, 3 QR
    invitor: str | None
    name: str
    state: str = ""  # the join way's state; set a moment after the join (contact_ways.py)


@dataclass
class Chat:
    chat_id: str
    name: str
    owner: str
    create_time: int
    member_version: str
    notice: str = ""
    members: dict[str, Member] = field(default_factory=dict)
    admins: list[str] = field(default_factory=list)
    status: int = 0  # groupchat/list status: 0 normal (no resignation inheritance here)


@dataclass
class WelcomeCode:
    code: str
    userid: str
    external_userid: str
    issued_at: float  # monotonic: expiry must not jump with the wall clock
    used: bool = False


@dataclass(frozen=True, slots=True)
class WelcomeRecord:
    """A welcome message as the customer received it."""

    external_userid: str
    userid: str
    text: str
    attachments: tuple[dict[str, Any], ...]
    received_at: float
    welcome_code: str


@dataclass(frozen=True, slots=True)
class AppMessage:
    """A message/send recipient entry; `dropped` when over the per-member limit (silent)."""

    userid: str
    msgtype: str
    content: str
    agentid: int
    sent_at: float
    msgid: str
    dropped: bool = False


class World:
    """All state, the world actions that emit callbacks, and the operations the APIs use."""

    def __init__(self, corp_id: str, agent_id: int, options: SimOptions,
                 emit: Callable[[Callback], object], *,
                 wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.corp_id = corp_id
        self.agent_id = agent_id
        self.options = options
        self._emit = emit
        self._wall = wall
        self._mono = monotonic
        self.rng = random.Random(options.seed)
        self.staff: dict[str, Staff] = {}
        self.contacts: dict[str, Contact] = {}
        self.follows = Follows()
        self.tag_groups: dict[str, TagGroup] = {}
        self.tags: dict[str, Tag] = {}
        self.chats: dict[str, Chat] = {}
        self.welcome_codes: dict[str, WelcomeCode] = {}
        self.welcomes: list[WelcomeRecord] = []
        self.app_messages: list[AppMessage] = []
        self._app_windows: dict[str, tuple[float, int]] = {}
        # (userid, msgtype, content) -> (monotonic time, msgid) of the last delivery: what
        # message/send's enable_duplicate_check compares with
        self._app_last: dict[tuple[str, str, str], tuple[float, str]] = {}
        self.app_duplicates = 0  # message/send copies dropped by the duplicate check
        self._used_ids: set[str] = set()

    # -- ids ---------------------------------------------------------------------------

    def new_id(self, prefix: str, length: int, alphabet: str = _ALNUM) -> str:
        while True:
            value = prefix + "".join(self.rng.choice(alphabet) for _ in range(length))
            if value not in self._used_ids:
                self._used_ids.add(value)
                return value

    def new_external_userid(self) -> str:
        return self.new_id("wm", 30)

    def new_token(self) -> str:
        return self.new_id("", 96, _ALNUM + "-_")

    def new_msgid(self) -> str:
        """A 64-bit message id as a decimal string, like the MsgId of the official vector."""
        while True:
            value = str(self.rng.randrange(10**18, 2**63))
            if value not in self._used_ids:
                self._used_ids.add(value)
                return value

    def _version(self) -> str:
        return f"{self.rng.getrandbits(128):032x}"

    def now(self) -> int:
        return int(self._wall())

    # -- callback envelopes --------------------------------------------------------------

    def _head(self, from_user: str, msg_type: str) -> list[tuple[str, FieldValue]]:
        return [("ToUserName", self.corp_id), ("FromUserName", from_user),
                ("CreateTime", self.now()), ("MsgType", msg_type)]

    def _contact_event(self, change: str, userid: str, external_userid: str,
                       *extra: tuple[str, FieldValue]) -> None:
        fields = [*self._head("sys", "event"), ("Event", "change_external_contact"),
                  ("ChangeType", change), ("UserID", userid),
                  ("ExternalUserID", external_userid), *extra]
        self._emit(Callback(tuple(fields), lane=f"contact:{external_userid}"))

    def _chat_event(self, chat_id: str, change: str, *extra: tuple[str, FieldValue]) -> None:
        fields = [*self._head("sys", "event"), ("Event", "change_external_chat"),
                  ("ChatId", chat_id), ("ChangeType", change), *extra]
        self._emit(Callback(tuple(fields), lane=f"chat:{chat_id}"))

    def _tag_event(self, change: str, tag_id: str, tag_type: str) -> None:
        """`tag_type` "" leaves TagType out, as on shuffle (reference §2.3)."""
        fields = [*self._head("sys", "event"), ("Event", "change_external_tag"),
                  ("Id", tag_id), *((("TagType", tag_type),) if tag_type else ()),
                  ("ChangeType", change)]
        self._emit(Callback(tuple(fields), lane="tags"))

    # -- checks ------------------------------------------------------------------------

    def _require_staff(self, userid: str) -> Staff:
        try:
            return self.staff[userid]
        except KeyError:
            raise ValueError(f"unknown staff member {userid!r}: add_staff first") from None

    def _require_follow(self, userid: str, external_userid: str) -> Follow:
        follow = self.follows.get((userid, external_userid))
        if follow is None:
            raise ValueError(f"{external_userid!r} is not a customer of {userid!r}")
        return follow

    def _require_chat(self, chat_id: str) -> Chat:
        try:
            return self.chats[chat_id]
        except KeyError:
            raise ValueError(f"unknown or dismissed group {chat_id!r}") from None

    def _require_tags(self, tag_ids: Iterable[str]) -> list[str]:
        ids = list(dict.fromkeys(tag_ids))
        unknown = [t for t in ids if t not in self.tags]
        if unknown:
            raise ValueError(f"unknown tag ids {unknown}")
        return ids

    # -- world actions: staff and customers ----------------------------------------------

    def add_staff(self, userid: str, name: str) -> Staff:
        staff = self.staff[userid] = Staff(userid, name)
        return staff

    def _add_contact(self, userid: str, state: str, name: str,
                     external_userid: str | None, *, half: bool,
                     with_welcome_code: bool) -> tuple[str, str | None]:
        self._require_staff(userid)
        ext = external_userid or self.new_external_userid()
        earlier = self.follows.get((userid, ext))
        if earlier is not None and earlier.deleted_by_customer:
            self.follows.remove(userid, ext)  # adding again replaces the one-way relation
        elif earlier is not None:
            raise ValueError(f"{ext!r} is already a customer of {userid!r}")
        if ext not in self.contacts:
            self.contacts[ext] = Contact(
                ext, name, avatar=f"https://wework.qpic.cn/sim/{ext}/0", gender=0)
        self.follows.add(Follow(userid, ext, createtime=self.now(), state=state, add_way=1,
                                oper_userid=ext, half=half))
        code: str | None = None
        if with_welcome_code:
            code = self.new_id("", 43)
            self.welcome_codes[code] = WelcomeCode(code, userid, ext, self._mono())
        return ext, code

    def scan_contact_qr(self, userid: str, state: str, name: str,
                        external_userid: str | None = None, *, half: bool = False,
                        with_welcome_code: bool = True) -> tuple[str, str | None]:
        """A customer scans the staff member's 「联系我」 QR code (add_way 1)."""
        ext, code = self._add_contact(userid, state, name, external_userid, half=half,
                                      with_welcome_code=with_welcome_code)
        extra: list[tuple[str, FieldValue]] = [("State", state)]
        if code is not None:
            extra.append(("WelcomeCode", code))
        change = "add_half_external_contact" if half else "add_external_contact"
        self._contact_event(change, userid, ext, *extra)
        return ext, code

    def staff_confirms_contact(self, userid: str, external_userid: str) -> None:
        """The member accepts a 免验证 (half) add: add_external_contact, no new WelcomeCode."""
        follow = self._require_follow(userid, external_userid)
        if not follow.half:
            raise ValueError("contact is not waiting for confirmation")
        follow.half = False
        self._contact_event("add_external_contact", userid, external_userid,
                            ("State", follow.state))

    def prepare_contacts(self, userid: str, count: int, state: str,
                         scan_in_s: Sequence[float] = ()) -> list[dict[str, str]]:
        """Contacts and WelcomeCodes with no callback queued (the benchmark sends its own).

        `scan_in_s[i]`: the i-th customer scans that many seconds from now, and their code's
        20 s start then, as a real code's do at the scan. A benchmark prepares a minute of
        customers before it sends the first callback; codes all issued at once would die
        20 s into the run and every later welcome would be refused."""
        if scan_in_s and len(scan_in_s) != count:
            raise ValueError(f"scan_in_s has {len(scan_in_s)} times for {count} contacts")
        made = []
        for i in range(count):
            ext, code = self._add_contact(userid, state, f"顾客{len(self.contacts) + 1}",
                                          None, half=False, with_welcome_code=True)
            assert code is not None
            if scan_in_s:
                issued = self.welcome_codes[code]
                issued.issued_at += max(0.0, float(scan_in_s[i]))
            made.append({"external_userid": ext, "welcome_code": code, "state": state})
        return made

    def customer_agrees_to_archiving(self, userid: str, external_userid: str, *,
                                     with_welcome_code: bool = True) -> str | None:
        """The customer accepts the member's chat-archiving notice (会话内容存档): the
        msg_audit_approved callback, with a fresh WelcomeCode (20 s, single use) as in the
        real samples. Returns the code."""
        follow = self._require_follow(userid, external_userid)
        code: str | None = None
        extra: list[tuple[str, FieldValue]] = []
        if with_welcome_code:
            code = self.new_id("", 43)
            self.welcome_codes[code] = WelcomeCode(code, userid, follow.external_userid,
                                                   self._mono())
            extra.append(("WelcomeCode", code))
        self._contact_event("msg_audit_approved", userid, external_userid, *extra)
        return code

    def customer_deletes_staff(self, userid: str, external_userid: str) -> None:
        """del_follow_user. The member keeps the customer (a one-way relation): the customer
        APIs still answer for them; only the member deleting the customer ends it (84061)."""
        follow = self._require_follow(userid, external_userid)
        if follow.deleted_by_customer:
            raise ValueError(f"{external_userid!r} already deleted {userid!r}")
        follow.deleted_by_customer = True
        self._contact_event("del_follow_user", userid, external_userid)

    def bulk_follow(self, external_userid: str, name: str, userids: Sequence[str]) -> None:
        """Many members follow one customer, with no callbacks (set-up for a customer with
        more followers than one externalcontact/get page holds)."""
        for userid in userids:
            self._add_contact(userid, "", name, external_userid, half=False,
                              with_welcome_code=False)

    def staff_deletes_customer(self, userid: str, external_userid: str, source: str = "") -> None:
        self._require_follow(userid, external_userid)
        self.follows.remove(userid, external_userid)
        extra: list[tuple[str, FieldValue]] = [("Source", source)] if source else []
        self._contact_event("del_external_contact", userid, external_userid, *extra)

    def edit_contact_tags(self, userid: str, external_userid: str,
                          add_tag_ids: Iterable[str] = (),
                          remove_tag_ids: Iterable[str] = ()) -> None:
        """The member edits the customer's tags in the WeCom client."""
        follow = self._require_follow(userid, external_userid)
        self.apply_tags(follow, self._require_tags(add_tag_ids),
                        self._require_tags(remove_tag_ids))
        self._contact_event("edit_external_contact", userid, external_userid)

    @staticmethod
    def apply_tags(follow: Follow, add: Sequence[str], remove: Sequence[str]) -> None:
        for tag_id in add:
            if tag_id not in follow.tag_ids:
                follow.tag_ids.append(tag_id)
        follow.tag_ids[:] = [t for t in follow.tag_ids if t not in set(remove)]

    # -- world actions: corp tags (admin console) ----------------------------------------

    def admin_add_tag(self, group_name: str, tag_name: str) -> str:
        group = self.find_group_by_name(group_name) or self.new_tag_group(group_name, 0)
        if any(self.tags[t].name == tag_name for t in group.tag_ids):
            raise ValueError(f"tag {tag_name!r} already exists in {group_name!r}")
        tag = self.new_tag(group, tag_name, 0)
        self._tag_event("create", tag.id, "tag")
        return tag.id

    def admin_edit_tag(self, tag_id: str, name: str) -> None:
        self._require_tags([tag_id])
        self.tags[tag_id].name = name
        self._tag_event("update", tag_id, "tag")

    def admin_delete_tag(self, tag_id: str) -> None:
        self._require_tags([tag_id])
        self.delete_tags([tag_id])
        self._tag_event("delete", tag_id, "tag")

    def admin_shuffle_tags(self, group_id: str = "") -> None:
        """The admin drags tags into a new order: within `group_id`, or (no group) the tag
        groups themselves. The callback is a shuffle with Id = the group, or an empty Id
        when the groups were reordered; no TagType either way."""
        items: list[Tag | TagGroup]
        if group_id:
            group = self.tag_groups.get(group_id)
            if group is None:
                raise ValueError(f"unknown tag group {group_id!r}")
            items = [self.tags[t] for t in group.tag_ids]
        else:
            items = list(self.tag_groups.values())
        for n, item in enumerate(reversed(items)):  # the last becomes the first
            item.order = n  # a larger order sorts first
        self._tag_event("shuffle", group_id, "")

    def find_group_by_name(self, group_name: str) -> TagGroup | None:
        return next((g for g in self.tag_groups.values() if g.group_name == group_name), None)

    def new_tag_group(self, group_name: str, order: int) -> TagGroup:
        group = TagGroup(self.new_id("et", 30), group_name, self.now(), order)
        self.tag_groups[group.group_id] = group
        return group

    def new_tag(self, group: TagGroup, name: str, order: int) -> Tag:
        tag = Tag(self.new_id("et", 30), name, group.group_id, self.now(), order)
        self.tags[tag.id] = tag
        group.tag_ids.append(tag.id)
        return tag

    def delete_tags(self, tag_ids: Iterable[str]) -> None:
        """Remove tags everywhere; a group left empty goes too (WeCom has no empty groups)."""
        doomed = set(tag_ids)
        for tag_id in doomed:
            tag = self.tags.pop(tag_id)
            group = self.tag_groups[tag.group_id]
            group.tag_ids.remove(tag_id)
            if not group.tag_ids:
                del self.tag_groups[group.group_id]
        for follow in self.follows.values():
            follow.tag_ids[:] = [t for t in follow.tag_ids if t not in doomed]

    # -- world actions: customer groups --------------------------------------------------

    def create_group(self, owner: str, name: str, chat_id: str | None = None) -> str:
        staff = self._require_staff(owner)
        chat_id = chat_id or self.new_id("wr", 30)
        if chat_id in self.chats:
            raise ValueError(f"group {chat_id!r} exists")
        now = self.now()
        chat = Chat(chat_id, name, owner, now, member_version=self._version())
        chat.members[owner] = Member(owner, 1, now, 1, None, staff.name)
        self.chats[chat_id] = chat
        self._chat_event(chat_id, "create")
        return chat_id

    def bulk_create_groups(self, rows: Iterable[tuple[str, str, str]]) -> int:
        """(chat_id, owner, name) rows at once and without callbacks: benchmark set-up for
        tens of thousands of groups. All rows are checked before any is created."""
        rows = list(rows)
        seen: set[str] = set()
        for chat_id, owner, _ in rows:
            self._require_staff(owner)
            if not chat_id or chat_id in self.chats or chat_id in seen:
                raise ValueError(f"group {chat_id!r} is empty, exists or is repeated")
            seen.add(chat_id)
        now = self.now()
        for chat_id, owner, name in rows:
            chat = Chat(chat_id, name, owner, now, member_version=self._version())
            chat.members[owner] = Member(owner, 1, now, 1, None, self.staff[owner].name)
            self.chats[chat_id] = chat
        return len(rows)

    def _member_name(self, member_id: str, name: str | None) -> tuple[int, str]:
        if member_id in self.staff:
            return 1, name or self.staff[member_id].name
        contact = self.contacts.get(member_id)
        return 2, name or (contact.name if contact else f"群成员{member_id[-4:]}")

    def join_group_many(self, chat_id: str, member_ids: Sequence[str], scene: Scene,
                        invitor: str | None = None,
                        names: Sequence[str | None] | None = None) -> str:
        """Members join in one change (one callback listing them all); returns CurMemVer."""
        if scene not in API_JOIN_SCENE:
            raise ValueError(f"scene must be one of {sorted(API_JOIN_SCENE)}")
        chat = self._require_chat(chat_id)
        if not member_ids:
            raise ValueError("no members to add")
        already = [m for m in member_ids if m in chat.members]
        if already or len(set(member_ids)) != len(member_ids):
            raise ValueError(f"already in the group: {already or member_ids}")
        if invitor is not None:
            self._require_staff(invitor)
        if scene == "qr":
            invitor = None  # "目前仅当是由本企业内部成员邀请入群时会返回该值": not for QR joins
        elif invitor is None:
            invitor = chat.owner
        now = self.now()
        for n, member_id in enumerate(member_ids):
            kind, display = self._member_name(member_id, names[n] if names else None)
            chat.members[member_id] = Member(member_id, kind, now, API_JOIN_SCENE[scene],
                                             invitor, display)
        return self._member_change(chat, "add_member", member_ids,
                                   join_scene=CALLBACK_JOIN_SCENE[scene], quit_scene=0)

    def leave_group(self, chat_id: str, member_id: str, removed: bool = False) -> str:
        chat = self._require_chat(chat_id)
        if member_id not in chat.members:
            raise ValueError(f"{member_id!r} is not in {chat_id!r}")
        if member_id == chat.owner:
            raise ValueError("the owner cannot leave; dismiss the group instead")
        del chat.members[member_id]
        if member_id in chat.admins:
            chat.admins.remove(member_id)
        return self._member_change(chat, "del_member", [member_id], join_scene=0,
                                   quit_scene=1 if removed else 0)

    def _member_change(self, chat: Chat, detail: str, member_ids: Sequence[str], *,
                       join_scene: int, quit_scene: int) -> str:
        last, chat.member_version = chat.member_version, self._version()
        self._chat_event(chat.chat_id, "update", ("UpdateDetail", detail),
                         ("JoinScene", join_scene), ("QuitScene", quit_scene),
                         ("MemChangeCnt", len(member_ids)), ("MemChangeList", list(member_ids)),
                         ("LastMemVer", last), ("CurMemVer", chat.member_version))
        return chat.member_version

    def rename_group(self, chat_id: str, name: str) -> None:
        chat = self._require_chat(chat_id)
        chat.name = name
        # Non-member updates: scene fields present and 0, no member list (UNCONFIRMED).
        self._chat_event(chat_id, "update", ("UpdateDetail", "change_name"), ("JoinScene", 0),
                         ("QuitScene", 0), ("MemChangeCnt", 0))

    def dismiss_group(self, chat_id: str) -> None:
        self._require_chat(chat_id)
        del self.chats[chat_id]
        self._chat_event(chat_id, "dismiss")

    # -- world actions: the bot app --------------------------------------------------------

    def staff_sends_app_text(self, userid: str, content: str) -> str:
        self._require_staff(userid)
        msg_id = self.new_msgid()
        fields = [*self._head(userid, "text"), ("Content", content), ("MsgId", msg_id),
                  ("AgentID", self.agent_id)]
        self._emit(Callback(tuple(fields), lane=f"staff:{userid}", agent_id=self.agent_id))
        return msg_id

    def staff_enters_app(self, userid: str) -> None:
        self._require_staff(userid)
        fields = [*self._head(userid, "event"), ("Event", "enter_agent"), ("EventKey", ""),
                  ("AgentID", self.agent_id)]
        self._emit(Callback(tuple(fields), lane=f"staff:{userid}", agent_id=self.agent_id))

    # -- operations behind the APIs (no callbacks) ----------------------------------------

    def visible_follows(self, external_userid: str) -> list[Follow]:
        return [f for f in self.follows.of_customer(external_userid) if not f.half]

    def use_welcome_code(self, code: str) -> WelcomeCode:
        """Check a WelcomeCode and spend it: unknown or expired 41050, spent 41051."""
        welcome = self.welcome_codes.get(code)
        if welcome is None:
            raise ApiError(codes.WELCOME_CODE_INVALID, "unknown welcome_code")
        if welcome.used:
            raise ApiError(codes.WELCOME_ALREADY_SENT)
        if self._mono() - welcome.issued_at > self.options.welcome_code_ttl_s:
            raise ApiError(codes.WELCOME_CODE_INVALID, "welcome_code expired")
        welcome.used = True
        return welcome

    def record_welcome(self, welcome: WelcomeCode, text: str,
                       attachments: Sequence[dict[str, Any]]) -> WelcomeRecord:
        record = WelcomeRecord(welcome.external_userid, welcome.userid, text,
                               tuple(attachments), self._wall(), welcome.code)
        self.welcomes.append(record)
        return record

    def app_duplicate_of(self, userid: str, msgtype: str, content: str,
                         interval_s: float) -> str | None:
        """message/send ``enable_duplicate_check``: the msgid of the same content delivered
        to `userid` by this app within the last `interval_s` seconds, if any."""
        last = self._app_last.get((userid, msgtype, content))
        if last is not None and self._mono() - last[0] < interval_s:
            return last[1]
        return None

    def deliver_app_message(self, userid: str, msgtype: str, content: str, msgid: str) -> bool:
        """Record one recipient; past the per-member limit it is dropped silently (§5.2)."""
        now = self._mono()
        self._app_last[(userid, msgtype, content)] = (now, msgid)
        start, count = self._app_windows.get(userid, (now, 0))
        if now - start >= self.options.rate_window_s:
            start, count = now, 0
        count += 1
        self._app_windows[userid] = (start, count)
        dropped = count > self.options.app_msg_per_member
        self.app_messages.append(AppMessage(userid, msgtype, content, self.agent_id,
                                            self._wall(), msgid, dropped))
        return not dropped
