"""Owner posts (``via: owner_post``) in SQL: what a group's owner is to post, and who may.

A chain's store manager posts the day's material into their own groups (domain notes):
one 群发 a day is all WeCom lets a group receive (reference §6), so the flash sale and the
goodnight are posted by the owner from the sidebar instead. The rows are written with their
slot (`outbox.record_slot`); this module reads them for the sidebar, marks them posted, and
sums them up for operators. Plain functions of a connection, like `bot.outbox.rows`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from bot.db.engine import sql

REMIND_VIA = "owner_remind"  # outbox_send.via of the owner's app-message reminder


@dataclass(frozen=True, slots=True)
class PostRow:
    id: int
    sop: str
    slot_local: str
    chat_id: str
    owner: str
    store_id: str | None
    payload: str
    status: str
    posted_at: float | None
    posted_by: str | None

    @property
    def text(self) -> str:
        return str(json.loads(self.payload).get("text", ""))

    @property
    def title(self) -> str:
        """The SOP's title (今日秒杀), else its name."""
        return str(json.loads(self.payload).get("title") or self.sop)

    @property
    def attachments(self) -> list[dict[str, Any]]:
        return list(json.loads(self.payload).get("attachments", []))


_COLUMNS = ("id, sop, slot_local, chat_id, owner, store_id, payload, status, posted_at, "
            "posted_by")
_FOR_CHAT = sql(f"""
    SELECT {_COLUMNS} FROM owner_post
    WHERE chat_id = :chat_id AND slot_at >= :start AND slot_at < :end
    ORDER BY slot_at, sop
""")  # noqa: S608 (constants only)
# Who may post into a group: its owner, or a staff member in it (group_member, type 1).
_MAY_POST = sql("""
    SELECT 1 FROM customer_group g
    WHERE g.chat_id = :chat_id AND g.dismissed_at IS NULL AND (g.owner = :userid OR EXISTS (
        SELECT 1 FROM group_member m WHERE m.chat_id = g.chat_id AND m.member_id = :userid
          AND m.member_type = 1))
""")
_GROUP_NAME = sql("SELECT name FROM customer_group WHERE chat_id = :chat_id")
_MARK_POSTED = sql("""
    UPDATE owner_post SET status = 'posted', posted_at = :at, posted_by = :userid
    WHERE id = :id AND chat_id = :chat_id AND status = 'due'
""")
_ONE = sql(f"SELECT {_COLUMNS} FROM owner_post WHERE id = :id AND chat_id = :chat_id")  # noqa: S608


def may_post(conn: Connection, userid: str, chat_id: str) -> bool:
    """The staff member owns the group or is in it (per our group_member records)."""
    return conn.execute(_MAY_POST, {"chat_id": chat_id, "userid": userid}).first() is not None


def group_name(conn: Connection, chat_id: str) -> str:
    return str(conn.execute(_GROUP_NAME, {"chat_id": chat_id}).scalar() or "")


def posts_for_chat(conn: Connection, chat_id: str, start: float, end: float) -> list[PostRow]:
    """The group's owner posts of slots in [start, end) (a local day), due and posted."""
    return [PostRow(*row) for row in conn.execute(
        _FOR_CHAT, {"chat_id": chat_id, "start": start, "end": end})]


def mark_posted(conn: Connection, post_id: int, chat_id: str, userid: str,
                at: float) -> PostRow | None:
    """Record that `userid` posted it; a second call changes nothing (the first poster and
    time stay). None when there is no such post in that group."""
    conn.execute(_MARK_POSTED, {"id": post_id, "chat_id": chat_id, "userid": userid, "at": at})
    row = conn.execute(_ONE, {"id": post_id, "chat_id": chat_id}).first()
    return None if row is None else PostRow(*row)


_REPORT = sql("""
    SELECT p.sop, p.slot_local, p.owner, p.status, COUNT(*)
    FROM owner_post p WHERE p.slot_at >= :start AND p.slot_at < :end
    GROUP BY p.sop, p.slot_local, p.owner, p.status
""")
_REMINDERS = sql("""
    SELECT s.sop, s.slot_local, o.status, COUNT(*)
    FROM outbox_send o JOIN sop_slot s ON s.id = o.slot_id
    WHERE o.via = 'owner_remind' AND s.slot_at >= :start AND s.slot_at < :end
    GROUP BY s.sop, s.slot_local, o.status
""")


@dataclass
class SlotPosts:
    """One owner_post slot for operators: groups due vs posted, owners reminded."""

    sop: str
    slot_local: str
    groups: int = 0
    posted: int = 0
    owners: int = 0
    reminded: int = 0  # reminders WeCom accepted (outbox_send done)
    reminders_open: int = 0  # queued / sending / failed / uncertain

    @property
    def due(self) -> int:
        return self.groups - self.posted


def report(conn: Connection, start: float, end: float) -> list[SlotPosts]:
    """Per owner_post slot in [start, end): groups due vs posted and reminders sent."""
    slots: dict[tuple[str, str], SlotPosts] = {}
    owners: dict[tuple[str, str], set[str]] = {}
    params = {"start": start, "end": end}
    for sop, local, owner, status, n in conn.execute(_REPORT, params):
        key = (str(sop), str(local))
        entry = slots.setdefault(key, SlotPosts(*key))
        entry.groups += int(n)
        if status == "posted":
            entry.posted += int(n)
        owners.setdefault(key, set()).add(str(owner))
    for sop, local, status, n in conn.execute(_REMINDERS, params):
        key = (str(sop), str(local))
        entry = slots.setdefault(key, SlotPosts(*key))
        if status == "done":
            entry.reminded += int(n)
        else:
            entry.reminders_open += int(n)
    for key, who in owners.items():
        slots[key].owners = len(who)
    return sorted(slots.values(), key=lambda s: (s.slot_local, s.sop))
