"""The journeys' SQL: due entries, step rows, and their slots and reservations in the outbox.

A step that will be a 群发 is reserved in ``outbox_delivery`` when the day is planned (its
customer's row, status queued, no send yet), so the SOP planner's quota check sees it and a
lower-precedence member SOP later that day is held back. At the step's time the reservation
gets its send (`bot.journeys.dispatch`), or is cancelled if the customer left meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.engine import Connection

from bot.db.engine import sql
from bot.journeys.stops import EntryRow
from bot.outbox.status import DeliveryStatus, SlotStatus

ENTRY_COLUMNS = "id, journey, external_userid, entry_day, entered_at, sender, store_id"
_ACTIVE_ON = sql(f"SELECT {ENTRY_COLUMNS} FROM journey_entry WHERE status = 'active' "  # noqa: S608
                 "AND journey = :journey AND entry_day IN :days"
                 ).bindparams(bindparam("days", expanding=True))
_POSTPONED = sql(f"""SELECT s.id, s.step, {', '.join('e.' + c for c in ENTRY_COLUMNS.split(', '))}
                     FROM journey_step s JOIN journey_entry e ON e.id = s.entry_id
                     WHERE s.status = 'postponed' AND s.journey = :journey
                       AND s.due_day <= :day AND e.status = 'active'""")  # noqa: S608
_STEPS_OF = sql("SELECT entry_id, step FROM journey_step WHERE entry_id IN :ids"
                ).bindparams(bindparam("ids", expanding=True))
_NEW_STEP = sql("""
    INSERT INTO journey_step (entry_id, journey, step, external_userid, due_day, due_at, status,
                              reason, slot_id, updated_at)
    VALUES (:entry_id, :journey, :step, :ext, :due_day, :due_at, :status, :reason, :slot_id,
            :at)
""")
_MOVE_POSTPONED = sql("""
    UPDATE journey_step SET status = :status, reason = :reason, due_day = :due_day,
                            due_at = :due_at, slot_id = :slot_id, updated_at = :at
    WHERE id = :id AND status = 'postponed'
""")
_END_ENTRY = sql("""UPDATE journey_entry SET status = :status, reason = :reason, ended_at = :at
                    WHERE id = :id AND status = 'active'""")
_SLOT_NEW = sql("""
    INSERT INTO sop_slot (sop, slot_at, slot_local, status, fired_at, late_s, groups, held, note)
    VALUES (:sop, :slot_at, :slot_local, :status, :at, 0, 0, 0, :note)
    ON CONFLICT (sop, slot_at) DO NOTHING
""")
_SLOT_ID = sql("SELECT id FROM sop_slot WHERE sop = :sop AND slot_at = :slot_at")
_RESERVE = sql("""
    INSERT INTO outbox_delivery (slot_id, chat_id, send_id, via, slot_at, status, updated_at)
    VALUES (:slot_id, :chat_id, NULL, 'group_send', :slot_at, :status, :at)
    ON CONFLICT (slot_id, chat_id) DO NOTHING
""")


def active_entries(conn: Connection, journey: str, days: Sequence[str]) -> list[EntryRow]:
    if not days:
        return []
    return [EntryRow(*row) for row in conn.execute(_ACTIVE_ON, {"journey": journey,
                                                                "days": list(days)})]


def postponed_steps(conn: Connection, journey: str, day: str
                    ) -> list[tuple[int, str, EntryRow]]:
    return [(int(r[0]), str(r[1]), EntryRow(*r[2:]))
            for r in conn.execute(_POSTPONED, {"journey": journey, "day": day})]


def steps_recorded(conn: Connection, entry_ids: Sequence[int]) -> set[tuple[int, str]]:
    found: set[tuple[int, str]] = set()
    ids = list(entry_ids)
    for start in range(0, len(ids), 500):
        found.update((int(e), str(s)) for e, s in conn.execute(
            _STEPS_OF, {"ids": ids[start:start + 500]}))
    return found


def new_steps(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Plain INSERT: a row that exists means another planner got there first, and the
    whole plan's transaction must fail rather than plan a step twice."""
    if rows:
        conn.execute(_NEW_STEP, rows)


def move_postponed(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(_MOVE_POSTPONED, rows)


def end_entries(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """rows: {id, status: finished|stopped, reason, at}."""
    if rows:
        conn.execute(_END_ENTRY, rows)


def slot_for(conn: Connection, name: str, slot_at: float, label: str, at: float) -> int:
    """The outbox slot of one journey step on one day (created once)."""
    conn.execute(_SLOT_NEW, {"sop": name, "slot_at": slot_at, "slot_local": label,
                             "status": SlotStatus.PLANNED, "at": at, "note": "journey step"})
    return int(conn.execute(_SLOT_ID, {"sop": name, "slot_at": slot_at}).scalar_one())


def reserve(conn: Connection, slot_id: int, slot_at: float, customers: Sequence[str],
            at: float) -> None:
    if customers:
        conn.execute(_RESERVE, [{"slot_id": slot_id, "chat_id": ext, "slot_at": slot_at,
                                 "status": DeliveryStatus.QUEUED, "at": at}
                                for ext in customers])


_SKIP_OPEN = sql("""
    UPDATE journey_step SET status = 'skipped', reason = :reason, updated_at = :at
    WHERE entry_id = :entry_id AND step = :step AND status IN ('planned', 'postponed')
""")
_CANCEL = sql("""
    UPDATE outbox_delivery SET status = :status, updated_at = :at
    WHERE send_id IS NULL AND status = :queued AND (slot_id, chat_id) IN (
        SELECT slot_id, external_userid FROM journey_step
        WHERE entry_id = :entry_id AND step = :step AND status = 'planned')
""")


def skip_open_steps(conn: Connection, steps: Sequence[tuple[int, str, str]],
                    at: float) -> None:
    """Skip steps still planned or postponed (a customer who left), freeing their
    reservation in the outbox."""
    if not steps:
        return
    conn.execute(_CANCEL, [{"status": DeliveryStatus.CANCELLED, "at": at,
                            "queued": DeliveryStatus.QUEUED, "entry_id": e, "step": s}
                           for e, s, _ in steps])
    conn.execute(_SKIP_OPEN, [{"entry_id": e, "step": s, "reason": r, "at": at}
                              for e, s, r in steps])
