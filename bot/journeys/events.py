"""The events a journey can start on, and the interface the member data calls.

Events the bot records itself (from WeCom's callbacks) are read from its own tables when
the day is planned: ``staff_added`` (member_follow), ``group_joined`` (group_member_log)
and ``tag_added`` (member_tag). Purchases, levels and stages come from the member data
(bot/members/, built beside this package): it calls `record_member_event` in the same
transaction as its own write, once per fact. ``no_purchase`` is derived from the recorded
purchases when the day is planned (quiet for ``days``, with ``min_purchases`` in the past
year).
"""

from __future__ import annotations

import json
import time
from typing import Any

from sqlalchemy.engine import Connection

from bot.db.engine import sql

# events that member data reports through record_member_event
MEMBER_EVENTS = frozenset({"purchase", "first_purchase", "level_reached", "stage_changed"})
# events the bot's own records give
RECORDED_EVENTS = frozenset({"staff_added", "group_joined", "tag_added"})
DERIVED_EVENTS = frozenset({"no_purchase"})
ENTRY_EVENTS = MEMBER_EVENTS | RECORDED_EVENTS | DERIVED_EVENTS
MAX_ATTRS_BYTES = 2000

_INSERT = sql("""
    INSERT INTO member_event (dedupe_key, external_userid, event, at, attrs)
    VALUES (:key, :ext, :event, :at, :attrs)
    ON CONFLICT (dedupe_key) DO NOTHING
""")


class UnknownMemberEvent(ValueError):
    """An event name the journeys do not know: refused rather than silently stored."""


def record_member_event(conn: Connection, external_userid: str, event: str,
                        at: float | None = None, *, key: str | None = None,
                        **attrs: Any) -> bool:
    """Record one member fact for the journeys; True if new, False if already recorded.

    `event` is one of `MEMBER_EVENTS`: ``purchase`` (attrs: ``order_id``, ``amount``),
    ``first_purchase``, ``level_reached`` (``level``: 银卡/金卡), ``stage_changed``
    (``stage``). `at` is UTC epoch seconds. `key` makes a repeat harmless (default: the
    order id for purchases, else event+customer+time). Run it in the caller's
    transaction: the fact and its journey event commit together.
    """
    if event not in MEMBER_EVENTS:
        raise UnknownMemberEvent(
            f"unknown member event {event!r}; one of {', '.join(sorted(MEMBER_EVENTS))}")
    at = time.time() if at is None else float(at)
    if key is None:
        order = attrs.get("order_id")
        key = f"{event}|{order}" if order else f"{event}|{external_userid}|{at:.3f}"
    payload = json.dumps(attrs, ensure_ascii=False, sort_keys=True, default=str)
    if len(payload.encode()) > MAX_ATTRS_BYTES:
        raise ValueError(f"member event attrs over {MAX_ATTRS_BYTES} bytes")
    done = conn.execute(_INSERT, {"key": key[:160], "ext": external_userid, "event": event,
                                  "at": at, "attrs": payload})
    return bool(done.rowcount)
