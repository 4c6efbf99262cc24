"""The journey rollup: per journey, entry day (the cohort), store and step, what became of
the customers who entered that day.

Step ``*`` counts the entries: entered, still in, finished, left by stop rule (bought, got a
stop tag, left the store groups, deleted the staff member, no longer anyone's friend). Each
step counts its `journey_step` rows: reached (a row exists: planned for them), waiting
(planned or postponed), sent (handed to the outbox, or a staff task), skipped by reason
(stopped, allowance, gone; missed or render as other). A cohort keeps moving while its
customers are in the journey, so each run of the job rebuilds, whole (delete + insert:
idempotent), the cohorts where something changed since its last run (ten minutes of margin;
two days after a start).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.engine import Connection

from bot.db.engine import sql

ENTRY_COUNTS = ("entered", "active", "finished", "left_purchase", "left_tag", "left_groups",
                "left_staff", "left_gone")
STEP_COUNTS = ("reached", "waiting", "sent", "skipped_stopped", "skipped_allowance",
               "skipped_gone", "skipped_other")
COLUMNS = ("day", "journey", "step", "store_id", *ENTRY_COUNTS, *STEP_COUNTS)
_LEFT = """CASE WHEN reason = 'bought' THEN 'left_purchase'
    WHEN reason LIKE 'got the tag%' THEN 'left_tag'
    WHEN reason LIKE 'left the store groups%' THEN 'left_groups'
    WHEN reason LIKE 'deleted the staff member%' THEN 'left_staff' ELSE 'left_gone' END"""
_SKIP = """CASE WHEN s.reason LIKE 'stopped%' THEN 'skipped_stopped'
    WHEN s.reason LIKE 'allowance%' THEN 'skipped_allowance'
    WHEN s.reason LIKE 'gone%' THEN 'skipped_gone' ELSE 'skipped_other' END"""
_STEP_STATUS = {"planned": "waiting", "postponed": "waiting", "queued": "sent", "task": "sent"}


def cohorts_to_refresh(conn: Connection, since: float, recent: Iterable[date]) -> list[date]:
    """The entry days where anything changed since `since` (an entry made or ended, a step
    planned, sent or skipped), and `recent` (yesterday and today)."""
    found = {date.fromisoformat(str(d)) for (d,) in conn.execute(sql("""
        SELECT DISTINCT entry_day FROM journey_entry
        WHERE entered_at >= :since OR ended_at >= :since
        UNION SELECT DISTINCT e.entry_day FROM journey_step s
        JOIN journey_entry e ON e.id = s.entry_id WHERE s.updated_at >= :since"""),
        {"since": since})}
    return sorted(found | set(recent))


def _expanding(statement: str) -> Any:
    return sql(statement).bindparams(bindparam("days", expanding=True))


def build_journey_days(conn: Connection, days: list[date]) -> int:
    """Rebuild `console_journey_day` for these entry days; the rows written."""
    if not days:
        return 0
    keys = [d.isoformat() for d in days]
    out: dict[tuple[str, str, str, str], dict[str, Any]] = {}

    def add(day: str, journey: str, step: str, store: str, column: str, n: int) -> None:
        for where in (store, "*"):
            row = out.setdefault((day, journey, step, where), dict.fromkeys(COLUMNS, 0) | {
                "day": day, "journey": journey, "step": step, "store_id": where})
            row[column] += n

    for day, journey, store, status, left, n in conn.execute(_expanding(f"""
            SELECT entry_day, journey, coalesce(store_id, ''), status,
                   {_LEFT}, count(*) FROM journey_entry WHERE entry_day IN :days
            GROUP BY entry_day, journey, coalesce(store_id, ''), status, {_LEFT}"""),  # noqa: S608 (constants)
            {"days": keys}):
        add(day, journey, "*", store, "entered", int(n))
        column = {"active": "active", "finished": "finished"}.get(status, left)
        add(day, journey, "*", store, column, int(n))
    for day, journey, store, step, status, skip, n in conn.execute(_expanding(f"""
            SELECT e.entry_day, s.journey, coalesce(e.store_id, ''), s.step, s.status,
                   {_SKIP}, count(*) FROM journey_step s
            JOIN journey_entry e ON e.id = s.entry_id WHERE e.entry_day IN :days
            GROUP BY e.entry_day, s.journey, coalesce(e.store_id, ''), s.step, s.status,
                     {_SKIP}"""), {"days": keys}):  # noqa: S608 (constants)
        add(day, journey, step, store, "reached", int(n))
        add(day, journey, step, store, _STEP_STATUS.get(status, skip), int(n))
    conn.execute(_expanding("DELETE FROM console_journey_day WHERE day IN :days"),
                 {"days": keys})
    if out:
        names = ", ".join(COLUMNS)
        values = ", ".join(f":{c}" for c in COLUMNS)
        conn.execute(sql(f"INSERT INTO console_journey_day ({names}) VALUES ({values})"),  # noqa: S608 (constant names; values bound)
                     list(out.values()))
    return len(out)
