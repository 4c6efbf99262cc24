"""PostgreSQL's shapes of the SQL day's plan (`bot.journeys.setplan`): same rows, fewer passes.

Measured at a million members in 10 journeys (scripts/bench_journeys.py, the CI server's
defaults: 128 MB shared buffers, 4 MB work_mem), the plan took 34 s, over the 30 s target:
- finding the customers who may meet a stop rule took 0.4 s a journey: the member tables,
  just loaded, had no statistics, and their "no longer active" rows were not read from their
  partial indexes. The plan's tables are now analysed when stale (below), including the
  member tables; the customers are read first (1 ms, usually nobody) and the due entries
  looked up by them only when there are some;
- each step counted its waiting entries (an index range and a row lookup per entry, 2.3 s
  in all), wrote its rows, then read them back to reserve the outbox, then wrote the rest
  in a third statement. Here one statement writes every row of the step (planned where the
  customer has room, else postponed or skipped), reserves the planned ones' outbox rows
  from what it wrote, and returns the counts;
- the statistics of the three plan tables were refreshed before each journey (3.7 s: a
  sample reads most of a table's pages), journey_entry each time though it hardly changes.
  Here only a table changed by a tenth since its last ANALYZE is analysed, as autovacuum
  would, but before the journey that needs it (the rows the earlier journeys wrote).
After: 22.7 to 29.9 s, main 31.8 to 44.3 s beside it (docs/journeys.md, "Not yet").
"""

# ruff: noqa: S608 - statements are built from this module's constants; values are bound
from __future__ import annotations

from typing import Any

from sqlalchemy.engine import Connection

from bot.db.engine import driver_execute

# the tables the plan reads: its own, and those the stop rules find customers in
PLAN_TABLES = ("journey_entry", "journey_step", "outbox_delivery", "member", "member_follow",
               "member_event", "member_tag", "group_member", "group_member_log")
# ANALYZE a plan table when rows changed since its last ANALYZE exceed this share of it
# (autovacuum's default scale factor; its threshold of 50 rows too)
ANALYZE_SHARE = 0.1
ANALYZE_ROWS = 50
_STALE = """SELECT relname FROM pg_stat_user_tables
            WHERE schemaname = current_schema() AND relname IN ({names})
              AND n_mod_since_analyze > :rows + :share * GREATEST(n_live_tup, 0)"""
# One statement per step: the waiting entries (no row for the step yet) with whether the
# customer has room, materialized once (the room is a count per customer, not to be run
# once per column); every row written; the planned ones reserved in the outbox. `OFFSET 0`
# keeps "no row yet" a lookup per entry in the unique index: as a join, PostgreSQL hashed
# every row of the step's earlier days instead (a scan of journey_step per step, measured).
_STEP = """WITH waiting AS MATERIALIZED (
        SELECT e.id, e.external_userid, {room} AS fits FROM journey_entry e
        WHERE e.journey = :j AND e.status = 'active' AND e.entry_day = :entry_day
          AND NOT EXISTS (SELECT 1 FROM journey_step s WHERE s.entry_id = e.id
                          AND s.step = :step OFFSET 0)),
    written AS (
        INSERT INTO journey_step (entry_id, journey, step, external_userid, due_day, due_at,
                                  status, reason, slot_id, updated_at)
        SELECT id, :j, :step, external_userid,
               CASE WHEN fits THEN :due_day ELSE :rest_day END,
               CASE WHEN fits THEN :due_at ELSE :rest_at END,
               CASE WHEN fits THEN 'planned' ELSE :rest END,
               CASE WHEN fits THEN '' ELSE :rest_reason END,
               CASE WHEN fits THEN :slot_id END, :now
        FROM waiting
        RETURNING external_userid, status){reserve}
    SELECT status, COUNT(*) FROM written GROUP BY status"""
_RESERVE = """,
    reserved AS (
        INSERT INTO outbox_delivery (slot_id, chat_id, send_id, via, slot_at, status,
                                     updated_at)
        SELECT :slot_id, external_userid, NULL, 'group_send', :due_at, 'queued', :now
        FROM written WHERE status = 'planned'
        ON CONFLICT (slot_id, chat_id) DO NOTHING)"""


def plan_settings(conn: Connection) -> None:
    """This transaction's settings for the plan: no JIT compilation. The plan's statements
    are lookups per entry whose estimated cost grows with the tables (70,000 to 83,000 at
    a million members, measured; ``jit_above_cost`` is 100,000): compiling one would cost
    more than running it, each time."""
    driver_execute(conn, "SET LOCAL jit = off", {})


def analyze_stale(conn: Connection) -> list[str]:
    """ANALYZE the plan tables that changed by a tenth since their last ANALYZE (the rows
    the day's earlier journeys wrote; members just loaded); the tables analysed."""
    names = ", ".join(f"'{name}'" for name in PLAN_TABLES)
    stale = [name for (name,) in driver_execute(
        conn, " ".join(_STALE.format(names=names).split()),
        {"rows": ANALYZE_ROWS, "share": ANALYZE_SHARE})]
    if stale:
        driver_execute(conn, "ANALYZE " + ", ".join(sorted(stale)), {})
    return stale


def due_of_customers(conn: Connection, may: str, active: str, params: dict[str, Any]
                     ) -> list[int]:
    """The due entries (`active`) of the customers `may` selects: those customers read
    first (their ids in hand, the entries are looked up by customer whatever the
    statistics say); none read, no entry looked at."""
    customers = [ext for (ext,) in driver_execute(conn, may, params, client_side=True)]
    if not customers:
        return []
    return [i for (i,) in driver_execute(
        conn, f"SELECT journey_entry.id FROM journey_entry WHERE {active} AND "
        "journey_entry.external_userid = ANY(:customers)",
        {**params, "customers": customers}, client_side=True)]


def plan_step(conn: Connection, room: str, reserve: bool, params: dict[str, Any]
              ) -> dict[str, int]:
    """One day's step for the entries of `params["entry_day"]` without a row for it yet:
    ``planned`` where `room` holds (reserved in the outbox when `reserve`), else
    ``params["rest"]`` (postponed or skipped, with its day, time and reason). Rows
    written per status."""
    statement = _STEP.format(room=room, reserve=_RESERVE if reserve else "")
    return {status: int(n) for status, n in driver_execute(
        conn, " ".join(statement.split()), params, client_side=True)}
