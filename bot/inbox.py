"""The event inbox: record a callback durably, once, before WeCom gets its 200.

`record` inserts the event with its dedupe key; a redelivery (same key) inserts nothing and
is reported as a duplicate, in the same statement, so two replicas or two racing requests
cannot both see "new". `pending` lists what was recorded but not yet handled, for replay.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from bot.events import Event, from_fields
from bot.store.db import Database
from bot.store.models import InboxEvent

TABLE = InboxEvent.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True, slots=True)
class Recorded:
    event_id: int
    event: Event
    received_at: float


async def record(db: Database, event: Event, received_at: float) -> Recorded | None:
    """Store `event`; None when it was already there (a redelivery)."""
    row = {
        "dedupe_key": event.dedupe_key,
        "kind": event.kind,
        "lane": event.lane,
        "payload": json.dumps(event.fields, ensure_ascii=False, separators=(",", ":")),
        "create_time": event.create_time,
        "received_at": received_at,
        "status": "pending",
        "attempts": 0,
    }
    insert = sqlite.insert if db.is_sqlite else postgresql.insert
    stmt = (
        insert(TABLE).values(row)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(TABLE.c.id)
    )

    def _insert(session: Session) -> int | None:
        return session.connection().execute(stmt).scalar()

    event_id = await db.write(_insert)
    return Recorded(event_id, event, received_at) if event_id is not None else None


def mark_done(session: Session, event_id: int) -> None:
    """Call inside the handler's last write, so its effects and this mark commit together."""
    session.connection().execute(
        update(TABLE).where(TABLE.c.id == event_id)
        .values(status="done", handled_at=time.time(), attempts=TABLE.c.attempts + 1)
    )


def mark_failed(session: Session, event_id: int, error: str, final: bool) -> None:
    session.connection().execute(
        update(TABLE).where(TABLE.c.id == event_id)
        .values(status="failed" if final else "pending", error=error[:500],
                attempts=TABLE.c.attempts + 1)
    )


def pending(session: Session, limit: int = 10_000) -> list[Recorded]:
    """Events recorded but not handled (the bot stopped in between), oldest first."""
    rows = session.connection().execute(
        select(TABLE.c.id, TABLE.c.payload, TABLE.c.received_at)
        .where(TABLE.c.status == "pending").order_by(TABLE.c.id).limit(limit)
    ).all()
    return [Recorded(row.id, from_fields(json.loads(row.payload)), row.received_at)
            for row in rows]
