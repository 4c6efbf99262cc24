"""群发 (group sends): tasks, owner confirmation, the receive quota and the query indexes.

add_msg_template only *creates* a task; nothing reaches a customer or group until the
member confirms in the WeCom client (reference §4.1). That gap is the whole difficulty
for a bot, so it is modelled explicitly:

* Each member task is confirmed by its owner `groupsend_confirm_delay_s` after creation —
  but only owners inside `groupsend_confirm_share`, picked by a hash of (seed, owner) so a
  run is reproducible. The rest stay silent until reminded (then each confirms with
  probability `groupsend_remind_confirm_share`, again a seeded hash), or until a test
  confirms for them (`confirm`, `confirm_pending`).
* Time is lazy: due confirmations are carried out by `advance()`, which every API handler,
  robot delivery and facade read calls first. No timers, so tests need no clock, and a
  delivery is stamped with the moment it was due, not the moment it was noticed.
* On sending, each recipient takes one receive from the quota (quota.py); over-quota ones
  get send_result status 3 and nothing.

Everything here is O(recipients of the message) per operation, except the documented
sender-only forms of add_msg_template (all of a member's groups or customers), which scan.
"""

from __future__ import annotations

import hashlib
import heapq
import json
import time
from bisect import bisect_left, insort
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from . import codes
from .codes import ApiError
from .options import SimOptions
from .quota import Quota
from .records import GroupMessage, Inbox
from .state import Follow, World

ChatType = Literal["single", "group"]
CORP, PERSONAL = 0, 1  # create_type in get_groupmsg_list_v2
UNSENT, SENT, NOT_FRIEND, OVER_QUOTA = 0, 1, 2, 3  # send_result status
TASK_SENT = 2  # get_groupmsg_task status for a member who sent ("0-未发送 2-已发送")


@dataclass
class SendResult:
    """One row of get_groupmsg_send_result."""

    target: str  # chat_id (group sends) or external_userid (single)
    status: int
    send_time: int | None = None


@dataclass
class MemberTask:
    """One member's part of a group send: a row of get_groupmsg_task."""

    userid: str
    targets: list[str]
    status: int = UNSENT
    send_time: int | None = None
    results: list[SendResult] = field(default_factory=list)
    refused: bool = False  # the owner declined: never confirms on their own or when reminded
    scheduled: bool = False  # an automatic confirmation is queued


@dataclass
class GroupSend:
    """One msgid: what was asked, and what each member did with it."""

    msgid: str
    seq: int
    chat_type: ChatType
    create_type: int  # 0 corp (add_msg_template), 1 personal (a member's own send)
    creator: str | None  # None for API-created sends: list_v2 omits the field for them
    sender: str | None  # add_msg_template's `sender`, if given
    create_time: int
    created_at: float  # monotonic, for the 41063 dispatch window
    text: str
    attachments: tuple[dict[str, Any], ...]
    tasks: dict[str, MemberTask]
    fail_list: list[str]
    content_key: str = field(repr=False, default="")
    # the attachments as get_groupmsg_list_v2 returns them (`listed_attachments`)
    listed: tuple[dict[str, Any], ...] = field(repr=False, default=())
    cancelled: bool = False
    reminders: list[float] = field(default_factory=list)  # monotonic stamps in the window
    remind_count: int = 0

    def to_json(self) -> dict[str, Any]:
        """The control route's view (/sim/groupsend/tasks)."""
        return {
            "msgid": self.msgid, "chat_type": self.chat_type, "create_type": self.create_type,
            "creator": self.creator, "sender": self.sender, "create_time": self.create_time,
            "text": self.text, "attachments": list(self.attachments),
            "fail_list": self.fail_list, "cancelled": self.cancelled,
            "remind_count": self.remind_count,
            "tasks": [{"userid": t.userid, "status": t.status, "send_time": t.send_time,
                       "refused": t.refused, "targets": t.targets,
                       "results": [{"target": r.target, "status": r.status,
                                    "send_time": r.send_time} for r in t.results]}
                      for t in self.tasks.values()],
        }


def unit(*parts: object) -> float:
    """A reproducible draw in [0, 1) from its inputs (seed, owner, ...), stable across runs."""
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def content_key(text: str, attachments: Sequence[dict[str, Any]]) -> str:
    """What makes two group sends "the same message" for double detection."""
    return json.dumps([text, list(attachments)], sort_keys=True, ensure_ascii=False)


def listed_attachments(attachments: Sequence[dict[str, Any]],
                       new_media_id: Callable[[], str]) -> tuple[dict[str, Any], ...]:
    """What get_groupmsg_list_v2 says was sent: an image given by `pic_url` comes back as
    a `media_id` of WeCom's own ("与图片的media_id不能共存优先吐出media_id", doc 93338 as
    copied by SDKs), so a client cannot find its send by comparing attachments verbatim."""
    listed = []
    for attachment in attachments:
        image = attachment.get("image") if attachment.get("msgtype") == "image" else None
        if isinstance(image, dict) and image.get("pic_url") and not image.get("media_id"):
            attachment = {"msgtype": "image", "image": {"media_id": new_media_id()}}
        listed.append(attachment)
    return tuple(listed)


class GroupSends:
    """Every group send of the corp, their member tasks, schedule and indexes."""

    def __init__(self, world: World, inbox: Inbox, options: SimOptions, *,
                 wall: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.world = world
        self.inbox = inbox
        self.options = options
        self._wall = wall
        self._mono = monotonic
        self._msgs: dict[str, GroupSend] = {}
        self._seq = 0
        # list_v2 index per chat_type: (create_time, seq, msg), sorted.
        self._by_time: dict[ChatType, list[tuple[int, int, GroupSend]]] = {
            "single": [], "group": []}
        self._dispatching: deque[GroupSend] = deque()  # created within groupsend_dispatch_s
        self._due: list[tuple[float, int, str, str]] = []  # heap: (due, seq, msgid, userid)
        self._unsent: dict[tuple[str, str], None] = {}  # (msgid, userid), insertion-ordered
        self._chat_quota = Quota(lambda: self.options.groupsend_quota)
        self._customer_quota = Quota(lambda: self.options.groupsend_quota)
        self.counters = {"delivered": 0, "over_quota": 0, "not_friend": 0, "reminders": 0,
                         "cancelled": 0}

    # -- creation ------------------------------------------------------------------------

    def create(self, *, chat_type: ChatType, sender: str | None, chat_ids: Sequence[str],
               external_userids: Sequence[str], tag_groups: Sequence[Sequence[str]],
               text: str, attachments: Sequence[dict[str, Any]]) -> GroupSend:
        """add_msg_template after validation: resolve recipients, create, schedule owners.

        41048 (with the fail_list) when nobody at all can be sent to: no msgid exists then.
        """
        self.advance()
        if chat_type == "group":
            assert sender is not None
            targets, fail = self._group_targets(sender, chat_ids)
            assigned = {sender: targets} if targets else {}
        else:
            assigned, fail = self._single_targets(sender, external_userids, tag_groups)
        if not assigned:
            raise ApiError(codes.NOTHING_SENDABLE, fail_list=fail)
        msg = self._new(chat_type, CORP, None, sender, text, attachments, assigned, fail)
        now = self._mono()
        for task in msg.tasks.values():
            if unit(self.options.seed, "confirm", task.userid) < \
                    self.options.groupsend_confirm_share:
                self._schedule(msg, task, now + self.options.groupsend_confirm_delay_s)
        self.advance()  # with no delay the owner has confirmed before the call returns
        return msg

    def personal(self, userid: str, text: str, attachments: Sequence[dict[str, Any]],
                 chat_ids: Sequence[str] = (), external_userids: Sequence[str] = ()) -> GroupSend:
        """A member's own 群发 from the client (个人发表): sent at once, counts for the quota."""
        self.advance()
        if userid not in self.world.staff:
            raise ValueError(f"unknown staff member {userid!r}")
        if not text and not attachments:
            raise ValueError("text and attachments are both empty")
        if chat_ids:
            targets, fail = self._group_targets(userid, chat_ids)
            chat_type: ChatType = "group"
        elif external_userids:
            by_member, fail = self._single_targets(userid, external_userids, ())
            targets, chat_type = by_member.get(userid, []), "single"
        else:
            raise ValueError("give chat_ids or external_userids")
        if fail:
            raise ValueError(f"not {userid!r}'s groups or customers: {fail}")
        msg = self._new(chat_type, PERSONAL, userid, userid, text, attachments,
                        {userid: targets}, [])
        self._send(msg, msg.tasks[userid], self._wall())
        return msg

    def _new(self, chat_type: ChatType, create_type: int, creator: str | None,
             sender: str | None, text: str, attachments: Sequence[dict[str, Any]],
             assigned: dict[str, list[str]], fail: list[str]) -> GroupSend:
        self._seq += 1
        tasks = {}
        for userid, targets in assigned.items():
            task = MemberTask(userid, targets)
            if chat_type == "single":  # customers are listed unsent; groups only once sent
                task.results = [SendResult(t, UNSENT) for t in targets]
            tasks[userid] = task
        msg = GroupSend(self.world.new_id("msg", 27), self._seq, chat_type, create_type,
                        creator, sender, int(self._wall()), self._mono(), text,
                        tuple(attachments), tasks, fail, content_key(text, attachments))
        msg.listed = listed_attachments(attachments, lambda: self.world.new_id("3", 60))
        self._msgs[msg.msgid] = msg
        insort(self._by_time[chat_type], (msg.create_time, msg.seq, msg))
        if self.options.groupsend_dispatch_s > 0:
            self._dispatching.append(msg)
        for userid in tasks:
            self._unsent[(msg.msgid, userid)] = None
        return msg

    def _group_targets(self, sender: str, chat_ids: Sequence[str]) -> tuple[list[str], list[str]]:
        """Live customer groups owned by `sender`; any other chat_id goes to fail_list."""
        if not chat_ids:  # sender only: all of the member's groups (a scan; rare)
            chat_ids = [c.chat_id for c in self.world.chats.values() if c.owner == sender]
        ok: list[str] = []
        fail: list[str] = []
        for chat_id in dict.fromkeys(chat_ids):
            chat = self.world.chats.get(chat_id)
            (ok if chat is not None and chat.owner == sender else fail).append(chat_id)
        return ok, fail

    def _single_targets(self, sender: str | None, external_userids: Sequence[str],
                        tag_groups: Sequence[Sequence[str]]
                        ) -> tuple[dict[str, list[str]], list[str]]:
        """Customers per member. With a sender: the sender's customers only. Without: each
        customer goes to the member who added them last (the reference says the task goes to
        the member who last interacted; the add time stands in for that)."""
        def tagged(follow: Follow) -> bool:
            return all(any(t in follow.tag_ids for t in group) for group in tag_groups if group)

        assigned: dict[str, list[str]] = {}
        fail: list[str] = []
        if sender is not None:
            exts: Iterable[str] = external_userids or [
                f.external_userid for f in self.world.follows.of_staff(sender) if not f.half]
            for ext in dict.fromkeys(exts):
                follow = self.world.follows.get((sender, ext))
                if follow is None or follow.half:
                    fail.append(ext)
                elif tagged(follow):  # filtered out by tags: left out, not a failure
                    assigned.setdefault(sender, []).append(ext)
            return assigned, fail
        best: dict[str, Follow] = {}
        for ext in dict.fromkeys(external_userids):
            for follow in self.world.follows.of_customer(ext):
                if not follow.half:
                    current = best.get(ext)
                    if current is None or follow.createtime > current.createtime:
                        best[ext] = follow
        for ext in dict.fromkeys(external_userids):
            follow = best.get(ext)
            if follow is None:
                fail.append(ext)
            elif tagged(follow):
                assigned.setdefault(follow.userid, []).append(ext)
        return assigned, fail

    # -- lookups -------------------------------------------------------------------------

    def get(self, msgid: Any) -> GroupSend:
        """The send for an API msgid: 41046 when missing, 41047 when unknown."""
        if not isinstance(msgid, str) or not msgid:
            raise ApiError(codes.MSGID_MISSING)
        msg = self._msgs.get(msgid)
        if msg is None:
            raise ApiError(codes.MSGID_INVALID)
        return msg

    def find(self, msgid: str) -> GroupSend:
        """The send for a facade call: ValueError when unknown."""
        msg = self._msgs.get(msgid)
        if msg is None:
            raise ValueError(f"unknown group send {msgid!r}")
        return msg

    def all(self) -> list[GroupSend]:
        return list(self._msgs.values())

    def check_dispatched(self, msg: GroupSend) -> None:
        """41063 while the send is still being dispatched (`groupsend_dispatch_s`)."""
        if self._mono() - msg.created_at < self.options.groupsend_dispatch_s:
            raise ApiError(codes.GROUPSEND_DISPATCHING)

    def check_range_dispatched(self, chat_type: ChatType, start: int, end: int) -> None:
        """41063 for list_v2 when a send in the queried range is still being dispatched."""
        window = self.options.groupsend_dispatch_s
        now = self._mono()
        while self._dispatching and now - self._dispatching[0].created_at >= window:
            self._dispatching.popleft()
        if any(m.chat_type == chat_type and start <= m.create_time <= end
               for m in self._dispatching):
            raise ApiError(codes.GROUPSEND_DISPATCHING)

    def list(self, chat_type: ChatType, start: int, end: int, creator: str | None,
             filter_type: int, position: int | None, limit: int
             ) -> tuple[list[GroupSend], int | None]:
        """list_v2: sends created in [start, end], oldest first, from `position` (a cursor).

        Returns the page and the position to resume at (None when the range is done).
        """
        entries = self._by_time[chat_type]
        pos = bisect_left(entries, (start,)) if position is None else position
        page: list[GroupSend] = []
        while pos < len(entries) and entries[pos][0] <= end:
            msg = entries[pos][2]
            pos += 1
            if filter_type in (CORP, PERSONAL) and msg.create_type != filter_type:
                continue
            if creator and msg.creator != creator:  # API-created sends have no creator
                continue
            page.append(msg)
            if len(page) == limit:
                break
        more = pos < len(entries) and entries[pos][0] <= end
        return page, pos if more else None

    def index_size(self, chat_type: ChatType) -> int:
        return len(self._by_time[chat_type])

    # -- the owners ----------------------------------------------------------------------

    def _schedule(self, msg: GroupSend, task: MemberTask, due: float) -> None:
        task.scheduled = True
        self._seq += 1
        heapq.heappush(self._due, (due, self._seq, msg.msgid, task.userid))

    def advance(self) -> None:
        """Carry out every automatic confirmation that has come due, in due order."""
        if not self._due:
            return
        now = self._mono()
        while self._due and self._due[0][0] <= now:
            due, _, msgid, userid = heapq.heappop(self._due)
            msg = self._msgs[msgid]
            task = msg.tasks[userid]
            task.scheduled = False
            if not task.refused:
                self._send(msg, task, self._wall() - (now - due))

    def confirm(self, msgid: str, userid: str) -> int:
        """The owner sends now (even one who refused before); returns recipients reached."""
        self.advance()
        msg = self.find(msgid)
        task = msg.tasks.get(userid)
        if task is None:
            raise ValueError(f"{userid!r} has no task in {msgid!r}")
        task.refused = False
        return self._send(msg, task, self._wall())

    def refuse(self, msgid: str, userid: str) -> None:
        """The owner will not send: not on their own, not when reminded."""
        self.advance()
        task = self.find(msgid).tasks.get(userid)
        if task is None:
            raise ValueError(f"{userid!r} has no task in {msgid!r}")
        task.refused = True

    def confirm_pending(self, everyone: bool = False) -> int:
        """Every scheduled owner confirms now, ignoring delays; with `everyone`, also the
        silent ones (not those who refused). Returns the number of member tasks sent."""
        self.advance()
        sent = 0
        while self._due:
            _, _, msgid, userid = heapq.heappop(self._due)
            msg = self._msgs[msgid]
            task = msg.tasks[userid]
            task.scheduled = False
            if not task.refused and not msg.cancelled and task.status == UNSENT:
                self._send(msg, task, self._wall())
                sent += 1
        if everyone:
            for msgid, userid in list(self._unsent):
                msg = self._msgs[msgid]
                task = msg.tasks[userid]
                if not task.refused and not msg.cancelled and task.status == UNSENT:
                    self._send(msg, task, self._wall())
                    sent += 1
        return sent

    def remind(self, msgid: Any) -> None:
        """remind_groupmsg_send: ≤ limit per window per msgid (41094), 41093 if cancelled."""
        self.advance()
        msg = self.get(msgid)
        if msg.cancelled:
            raise ApiError(codes.GROUPSEND_CANCELLED)
        now = self._mono()
        window = self.options.groupsend_remind_window_s
        msg.reminders = [t for t in msg.reminders if now - t < window]
        if len(msg.reminders) >= self.options.groupsend_remind_limit:
            raise ApiError(codes.REMIND_LIMITED)
        msg.reminders.append(now)
        msg.remind_count += 1
        self.counters["reminders"] += 1
        for task in msg.tasks.values():
            if task.status != UNSENT or task.refused or task.scheduled:
                continue
            draw = unit(self.options.seed, "remind", msg.msgid, task.userid, msg.remind_count)
            if draw < self.options.groupsend_remind_confirm_share:
                self._schedule(msg, task, now + self.options.groupsend_confirm_delay_s)
        self.advance()

    def cancel(self, msgid: Any) -> None:
        """cancel_groupmsg_send: unsent tasks never deliver; a second cancel answers 41093."""
        self.advance()
        msg = self.get(msgid)
        if msg.cancelled:
            raise ApiError(codes.GROUPSEND_CANCELLED)
        msg.cancelled = True
        self.counters["cancelled"] += 1
        for userid in msg.tasks:
            self._unsent.pop((msg.msgid, userid), None)

    def _send(self, msg: GroupSend, task: MemberTask, at: float) -> int:
        """The member presses send at wall time `at`: deliver within quota, record results."""
        if msg.cancelled or task.status != UNSENT:
            return 0
        task.status = TASK_SENT
        task.send_time = int(at)
        self._unsent.pop((msg.msgid, task.userid), None)
        reached = 0
        if msg.chat_type == "group":
            for chat_id in task.targets:
                chat = self.world.chats.get(chat_id)
                if chat is None or chat.owner != task.userid:
                    continue  # dismissed meanwhile: nothing sent, so nothing listed
                if self._chat_quota.take(chat_id, at):
                    task.results.append(SendResult(chat_id, SENT, int(at)))
                    self._deliver(msg, task.userid, at, chat_id=chat_id)
                    reached += 1
                else:
                    task.results.append(SendResult(chat_id, OVER_QUOTA))
                    self.counters["over_quota"] += 1
            return reached
        for result in task.results:
            follow = self.world.follows.get((task.userid, result.target))
            if follow is None or follow.half or follow.deleted_by_customer:
                result.status = NOT_FRIEND
                self.counters["not_friend"] += 1
            elif self._customer_quota.take(result.target, at):
                result.status, result.send_time = SENT, int(at)
                self._deliver(msg, task.userid, at, external_userid=result.target)
                reached += 1
            else:
                result.status = OVER_QUOTA
                self.counters["over_quota"] += 1
        return reached

    def _deliver(self, msg: GroupSend, userid: str, at: float, *, chat_id: str = "",
                 external_userid: str = "") -> None:
        self.counters["delivered"] += 1
        self.inbox.add(GroupMessage(chat_id, at, "group_send", msg.msgid, userid,
                                    "msg_template", msg.text, msg.attachments,
                                    external_userid=external_userid), msg.content_key)

    # -- numbers -------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        self.advance()
        tasks = [t for m in self._msgs.values() for t in m.tasks.values()]
        return {
            "messages": len(self._msgs),
            "personal": sum(1 for m in self._msgs.values() if m.create_type == PERSONAL),
            "member_tasks": len(tasks),
            "member_tasks_sent": sum(1 for t in tasks if t.status == TASK_SENT),
            "member_tasks_pending": len(self._unsent),
            **self.counters,
            "doubles": self.inbox.doubles,
        }
