"""The event inbox: record a callback durably, once, before WeCom gets its 200.

`record` inserts the event with its dedupe key; a redelivery (same key) inserts nothing and
is reported as a duplicate, in the same statement, so two replicas or two racing requests
cannot both see "new". This holds across replicas: the unique key lives in the database.

Every row carries the replica that handles it (`claimed_by`). `take_over` claims, for
replay, what was recorded but not handled by a replica that is no longer alive (at start,
and every few seconds on PostgreSQL): never the work in progress of a live one, so a
replica that starts next to others does not run their handlers a second time.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.wecom.events import Event, from_fields

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from bot.db.engine import Database

# Hand-written, like bot.db.repo: compiled once, and the same on SQLite and PostgreSQL.
# This module imports no SQLAlchemy at load: `bot run` records callbacks with RECORD and
# `new_row` before it has imported the rest of the bot (bot.frontdoor).
RECORD = (
    "INSERT INTO inbox_event (dedupe_key, kind, lane, payload, create_time, received_at, "
    "status, attempts, claimed_by) VALUES (:dedupe_key, :kind, :lane, :payload, :create_time, "
    ":received_at, :status, :attempts, :claimed_by) ON CONFLICT (dedupe_key) DO NOTHING "
    "RETURNING id")
SEEN = "SELECT 1 FROM inbox_event WHERE dedupe_key = :dedupe_key"  # recorded before?
_DONE = ("UPDATE inbox_event SET status = 'done', handled_at = :at, attempts = attempts + 1 "
         "WHERE id = :id")
_FAILED = ("UPDATE inbox_event SET status = :status, error = :error, "
           "attempts = attempts + 1 WHERE id = :id")
_OLDEST = "SELECT MIN(received_at) FROM inbox_event WHERE status = 'pending'"
_PENDING = ("SELECT id, payload, received_at FROM inbox_event WHERE status = 'pending' "
            "ORDER BY id LIMIT :limit")


@dataclass(frozen=True, slots=True)
class Recorded:
    event_id: int
    event: Event
    received_at: float


async def record(db: Database, event: Event, received_at: float,
                 claimed_by: str | None = None) -> Recorded | None:
    """Store `event`, claimed by this replica; None when it was already there (a
    redelivery, to this replica or another)."""
    from bot.db.statements import Statements

    insert = Statements(((RECORD, new_row(event, received_at, claimed_by)),), returns=0)
    found = await db.write(insert)  # plain SQL: it may commit in the writer process
    return Recorded(int(found[0]), event, received_at) if found is not None else None


def new_row(event: Event, received_at: float, claimed_by: str | None) -> dict[str, Any]:
    """The parameters of RECORD for a new `pending` event."""
    return {
        "dedupe_key": event.dedupe_key,
        "kind": event.kind,
        "lane": event.lane,
        "payload": json.dumps(event.fields, ensure_ascii=False, separators=(",", ":")),
        "create_time": event.create_time,
        "received_at": received_at,
        "status": "pending",
        "attempts": 0,
        "claimed_by": claimed_by,
    }


def mark_done(conn: Connection, event_id: int) -> None:
    """Call inside the handler's last write, so its effects and this mark commit together."""
    from bot.db.engine import driver_execute

    driver_execute(conn, *done_step(event_id))


def done_step(event_id: int) -> tuple[str, dict[str, Any]]:
    """`mark_done` as a step of `Statements`."""
    return _DONE, {"id": event_id, "at": time.time()}


def mark_failed(conn: Connection, event_id: int, error: str, final: bool) -> None:
    from bot.db.engine import driver_execute

    driver_execute(conn, _FAILED, {"id": event_id, "error": error[:500],
                                   "status": "failed" if final else "pending"})


def oldest_pending(conn: Connection) -> float | None:
    """When the oldest event not handled yet came in: its handler's rows will carry that
    time, however late they are written (the journeys sweep reads up to it)."""
    from bot.db.engine import driver_execute

    found = driver_execute(conn, _OLDEST, {}).fetchone()
    return None if found is None or found[0] is None else float(found[0])


def pending(conn: Connection, limit: int = 10_000) -> list[Recorded]:
    """Events recorded but not handled (the bot stopped in between), oldest first."""
    from sqlalchemy import text

    rows = conn.execute(text(_PENDING), {"limit": limit}).all()
    return [Recorded(row.id, from_fields(json.loads(row.payload)), row.received_at)
            for row in rows]


def take_over(conn: Connection, me: str, limit: int = 10_000) -> list[Recorded]:
    """Claim pending events whose replica is gone (or an earlier life of this one), oldest
    first. One statement: two replicas taking over at once get disjoint sets."""
    from sqlalchemy import text

    from bot.db import claims

    sql = text(f"UPDATE inbox_event SET claimed_by = :me WHERE id IN ("  # noqa: S608 (constants)
               f"SELECT id FROM inbox_event WHERE status = 'pending' AND "
               f"{claims.orphaned(conn)} ORDER BY id LIMIT :limit{claims.skip_locked(conn)}) "
               f"RETURNING id, payload, received_at")
    rows = sorted(conn.execute(sql, {"me": me, "limit": limit}).all(), key=lambda r: r.id)
    return [Recorded(row.id, from_fields(json.loads(row.payload)), row.received_at)
            for row in rows]


def still_claimed(conn: Connection, me: str, ids: list[int]) -> set[int]:
    """Which of `ids` are still pending and claimed by `me` (not taken over meanwhile)."""
    from sqlalchemy import text

    found: set[int] = set()
    for start in range(0, len(ids), 500):  # bounded IN lists
        chunk = ids[start:start + 500]
        marks = ", ".join(f":i{n}" for n in range(len(chunk)))
        sql = text(f"SELECT id FROM inbox_event WHERE claimed_by = :me "  # noqa: S608 (marks)
                   f"AND status = 'pending' AND id IN ({marks})")
        params: dict[str, object] = {"me": me, **{f"i{n}": v for n, v in enumerate(chunk)}}
        found.update(int(row[0]) for row in conn.execute(sql, params))
    return found
