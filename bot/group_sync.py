"""Customer groups as WeCom has them now: read back every group, record what callbacks missed.

A chain does not start with an empty WeCom: the stores' groups, and who is in them, predate
the bot, and a bot that was down (or not yet on the callback URL) missed the joins and
leaves of that time. Without this the SOPs reach only groups created since the bot started.

groupchat/list is asked per 100 group owners (WeCom refuses an unfiltered list once more
than 1000 staff are visible: 81017), groupchat/get reads each group; a group whose
`member_version` is the one we hold is left alone. Joins and leaves learned here are logged
like those from callbacks, with a negative `event_id` (one per group read) so that the log
says they were found by a sync, not seen as they happened: a leave found this way has
`how = 'sync'` because WeCom no longer says whether they left or were removed.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from bot.db import repo
from bot.db.engine import Database, sql
from bot.groupchats import group_fields, join_fields
from bot.wecom.client import WeComClient
from bot.wecom.errors import WeComError

log = logging.getLogger(__name__)

OWNERS_PER_LIST = 100  # groupchat/list owner_filter.userid_list limit
SEQ_KEY = "group_sync_seq"  # the last negative event id handed out
LAST_KEY = "group_sync_at"

_VERSIONS = sql("""SELECT chat_id, member_version, owner FROM customer_group
                   WHERE dismissed_at IS NULL""")


@dataclass
class SyncStats:
    listed: int = 0  # groups WeCom listed for our owners
    read: int = 0  # groups read with groupchat/get
    unchanged: int = 0  # ... whose member_version we already had
    new_groups: int = 0
    joins: int = 0
    leaves: int = 0
    dismissed: int = 0  # groups we knew that WeCom no longer lists
    failed: int = 0  # groups that could not be read (kept as they were)
    seconds: float = 0.0


async def sync_groups(db: Database, wecom: WeComClient, owners: Iterable[str], *,
                      concurrency: int = 8) -> SyncStats:
    """Read every group of `owners` from WeCom and record the differences."""
    started = time.monotonic()
    stats = SyncStats()
    owners = sorted(set(owners))
    listed: list[str] = []
    complete = True
    for start in range(0, len(owners), OWNERS_PER_LIST):
        batch = owners[start:start + OWNERS_PER_LIST]
        try:
            listed.extend(await wecom.list_group_chats(batch))
        except WeComError as exc:  # read what we can; never call a group gone on a failure
            complete = False
            log.error("groupchat/list for owners %s..%s failed: %s", batch[0], batch[-1], exc)
    stats.listed = len(listed)
    known = {chat: (version, owner) for chat, version, owner in
             await db.read(lambda c: c.execute(_VERSIONS).all())}

    gate = asyncio.Semaphore(concurrency)

    async def one(chat_id: str) -> None:
        async with gate:
            try:
                group = await wecom.get_group_chat(chat_id)
            except WeComError as exc:
                stats.failed += 1
                log.warning("groupchat/get %s failed during sync: %s", chat_id, exc)
                return
        stats.read += 1
        held = known.get(chat_id)
        if held is not None and held[0] and held[0] == group.get("member_version"):
            stats.unchanged += 1
            return
        stats.new_groups += held is None
        joins, leaves = await db.write(lambda c: _record(c, chat_id, group))
        stats.joins += joins
        stats.leaves += leaves

    listed_set = set(listed)
    await asyncio.gather(*(one(chat) for chat in listed_set))
    if complete:
        wanted = set(owners)
        gone = [chat for chat, (_, owner) in known.items()
                if owner in wanted and chat not in listed_set]
        for chat in gone:
            await db.write(functools.partial(_dismissed, chat_id=chat))
        stats.dismissed = len(gone)
    await db.write(lambda c: repo.set_state(c, LAST_KEY, repr(time.time())))
    stats.seconds = time.monotonic() - started
    log.info("group sync: %d listed, %d read (%d unchanged, %d new), %d joins and %d leaves "
             "recorded, %d dismissed, %d failed, %.1fs", stats.listed, stats.read,
             stats.unchanged, stats.new_groups, stats.joins, stats.leaves, stats.dismissed,
             stats.failed, stats.seconds)
    return stats


def _next_event_id(conn: Connection) -> int:
    seq = int(repo.get_state(conn, SEQ_KEY) or 0) - 1
    repo.set_state(conn, SEQ_KEY, str(seq))
    return seq


def _record(conn: Connection, chat_id: str, group: dict[str, Any]) -> tuple[int, int]:
    """The group's fields and its members now; joins and leaves against what we held."""
    event_id = _next_event_id(conn)
    repo.group_seen(conn, chat_id=chat_id, **group_fields(group))
    before = repo.group_members(conn, chat_id)
    now_in = {str(m["userid"]): m for m in group.get("member_list", []) if m.get("userid")}
    at = time.time()
    for member_id, info in now_in.items():
        if member_id in before:
            continue
        repo.group_joined(conn, event_id=event_id, chat_id=chat_id, member_id=member_id,
                          **join_fields(info, at))
    gone = before - set(now_in)
    for member_id in gone:
        repo.group_left(conn, event_id=event_id, chat_id=chat_id, member_id=member_id,
                        how="sync", at=at)
    return len(set(now_in) - before), len(gone)


def _dismissed(conn: Connection, chat_id: str) -> None:
    event_id = _next_event_id(conn)
    at = time.time()
    for member_id in repo.group_members(conn, chat_id):
        repo.group_left(conn, event_id=event_id, chat_id=chat_id, member_id=member_id,
                        how="dismissed", at=at)
    repo.group_seen(conn, chat_id=chat_id, dismissed_at=at)


async def last_sync(db: Database) -> float | None:
    value = await db.read(lambda c: repo.get_state(c, LAST_KEY))
    return float(value) if value else None
