"""The journeys' SQL: due entries, step rows, and their slots and reservations in the outbox.

A step that will be a 群发 is reserved in ``outbox_delivery`` when the day is planned (its
customer's row, status queued, no send yet), so the SOP planner's quota check sees it and a
lower-precedence member SOP later that day is held back. At the step's time the reservation
gets its send (`bot.journeys.dispatch`), or is cancelled if the customer left meanwhile.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.engine import Connection

from bot.db.engine import driver_execute, sql
from bot.journeys.bulk import many, select_in, update_in
from bot.journeys.stops import EntryRow
from bot.outbox.status import QUOTA_COUNTED, DeliveryStatus, SlotStatus, sql_in

ENTRY_COLUMNS = "id, journey, external_userid, entry_day, entered_at, sender, store_id"
_ACTIVE_PAGE = (f"SELECT {ENTRY_COLUMNS} FROM journey_entry "  # noqa: S608 (constants)
                "WHERE status = 'active' AND journey = :journey AND id > :after "
                "ORDER BY id LIMIT :limit")
_POSTPONED = ("SELECT id, step, entry_id FROM journey_step WHERE status = 'postponed' "
              "AND due_day <= :day AND entry_id IN {in}")
_USED = ("SELECT chat_id, COUNT(*) FROM outbox_delivery WHERE chat_id IN {in} "  # noqa: S608
         "AND via = 'group_send' AND slot_at >= :start AND slot_at < :end "
         f"AND status IN ({sql_in(QUOTA_COUNTED)}) GROUP BY chat_id")
_STEPS_OF = "SELECT entry_id, step FROM journey_step WHERE entry_id IN {in}"
_NEW_STEP = ("""
    INSERT INTO journey_step (entry_id, journey, step, external_userid, due_day, due_at, status,
                              reason, slot_id, updated_at)
    VALUES (:entry_id, :journey, :step, :ext, :due_day, :due_at, :status, :reason, :slot_id,
            :at)
""")
_MOVE_POSTPONED = ("""
    UPDATE journey_step SET status = :status, reason = :reason, due_day = :due_day,
                            due_at = :due_at, slot_id = :slot_id, updated_at = :at
    WHERE id = :id AND status = 'postponed'
""")
_END_ENTRY = ("""UPDATE journey_entry SET status = :status, reason = :reason, ended_at = :at
                    WHERE id = :id AND status = 'active'""")
_SLOT_NEW = sql("""
    INSERT INTO sop_slot (sop, slot_at, slot_local, status, fired_at, late_s, groups, held, note)
    VALUES (:sop, :slot_at, :slot_local, :status, :at, 0, 0, 0, :note)
    ON CONFLICT (sop, slot_at) DO NOTHING
""")
_SLOT_ID = sql("SELECT id FROM sop_slot WHERE sop = :sop AND slot_at = :slot_at")
_RESERVE = ("""
    INSERT INTO outbox_delivery (slot_id, chat_id, send_id, via, slot_at, status, updated_at)
    VALUES (:slot_id, :chat_id, NULL, 'group_send', :slot_at, :status, :at)
    ON CONFLICT (slot_id, chat_id) DO NOTHING
""")


def active_page(conn: Connection, journey: str, after: int, limit: int) -> list[EntryRow]:
    """The journey's active entries with ids after `after`, in id order."""
    rows = driver_execute(conn, _ACTIVE_PAGE, {"journey": journey, "after": after,
                                               "limit": limit}).fetchall()
    return [EntryRow(*row) for row in rows]


def postponed_of(conn: Connection, entry_ids: Sequence[int], day: str
                 ) -> list[tuple[int, str, int]]:
    """(step row, step id, entry id) of steps postponed to `day` (or before) of entries."""
    return [(int(r[0]), str(r[1]), int(r[2]))
            for r in select_in(conn, _POSTPONED, entry_ids, {"day": day})]


def used_today(conn: Connection, customers: Sequence[str], start: float, end: float
               ) -> dict[str, int]:
    """群发 deliveries (made or reserved) per customer in [start, end)."""
    return {str(c): int(n) for c, n in select_in(conn, _USED, customers,
                                                   {"start": start, "end": end})}


def steps_recorded(conn: Connection, entry_ids: Sequence[int]) -> set[tuple[int, str]]:
    return {(int(e), str(s)) for e, s in select_in(conn, _STEPS_OF, entry_ids)}


def new_steps(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Plain INSERT: a row that exists means another planner got there first, and the
    whole plan's transaction must fail rather than plan a step twice."""
    many(conn, _NEW_STEP, rows)


def move_postponed(conn: Connection, rows: list[dict[str, Any]]) -> None:
    many(conn, _MOVE_POSTPONED, rows)


def end_entries(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """rows: {id, status: finished|stopped, reason, at}."""
    many(conn, _END_ENTRY, rows)


_FINISH = ("UPDATE journey_entry SET status = 'finished', reason = :reason, ended_at = :at "
           "WHERE id IN {in} AND status = 'active'")


def finish_entries(conn: Connection, ids: Sequence[int], reason: str, at: float) -> None:
    """End these entries as finished: one statement per CHUNK ids, not one per entry."""
    if ids:
        update_in(conn, _FINISH, sorted(ids), {"reason": reason, "at": at})


def slot_for(conn: Connection, name: str, slot_at: float, label: str, at: float) -> int:
    """The outbox slot of one journey step on one day (created once)."""
    conn.execute(_SLOT_NEW, {"sop": name, "slot_at": slot_at, "slot_local": label,
                             "status": SlotStatus.PLANNED, "at": at, "note": "journey step"})
    return int(conn.execute(_SLOT_ID, {"sop": name, "slot_at": slot_at}).scalar_one())


def reserve(conn: Connection, slot_id: int, slot_at: float, customers: Sequence[str],
            at: float) -> None:
    many(conn, _RESERVE, [{"slot_id": slot_id, "chat_id": ext, "slot_at": slot_at,
                           "status": str(DeliveryStatus.QUEUED), "at": at}
                          for ext in customers])


_SKIP_OPEN = sql("""
    UPDATE journey_step SET status = 'skipped', reason = :reason, updated_at = :at
    WHERE entry_id = :entry_id AND step = :step AND status IN ('planned', 'postponed')
""")
_OPEN_OF = sql("SELECT slot_id, external_userid FROM journey_step WHERE entry_id = :entry_id "
               "AND step = :step AND status = 'planned' AND slot_id IS NOT NULL")
_CANCEL = sql("""
    UPDATE outbox_delivery SET status = :status, updated_at = :at
    WHERE slot_id = :slot_id AND chat_id = :ext AND send_id IS NULL AND status = :queued
""")


def skip_open_steps(conn: Connection, steps: Sequence[tuple[int, str, str]],
                    at: float) -> None:
    """Skip steps still planned or postponed (a customer who left), freeing their
    reservation in the outbox."""
    if not steps:
        return
    reserved = [row for e, s, _ in steps
                for row in conn.execute(_OPEN_OF, {"entry_id": e, "step": s})]
    if reserved:
        conn.execute(_CANCEL, [{"status": DeliveryStatus.CANCELLED, "at": at,
                                "queued": DeliveryStatus.QUEUED, "slot_id": slot, "ext": ext}
                               for slot, ext in reserved])
    conn.execute(_SKIP_OPEN, [{"entry_id": e, "step": s, "reason": r, "at": at}
                              for e, s, r in steps])
