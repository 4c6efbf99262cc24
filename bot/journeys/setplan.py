"""A journey's day planned in SQL, a statement per rule and step: the fast path.

The page-by-page planner (`bot.journeys.planner`) reads each customer into Python; for a
million members that is minutes. Here the stop rules are an UPDATE over the due entries of
the customers who may meet one (read from what changed, not per entry), and every step one
INSERT ... SELECT whose allowance check counts the customer's
群发 of the day in the outbox (reservations of earlier statements included), so the order
of statements is the precedence: postponed steps first, then the day's own in time order.
Same rows and reasons as the page planner (the tests run through both); used when no member
SOP ranked above the journey still has to fire today, and never for previews.
"""

# ruff: noqa: S608 - statements are built from this module's constants; values are bound
from __future__ import annotations

import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy.engine import Connection

from bot.db.engine import driver_execute
from bot.journeys import rows, setplan_pg
from bot.journeys.book import JourneyBook
from bot.journeys.model import Journey, Step
from bot.journeys.planner import POSTPONED_WHY, SKIPPED_WHY, JourneyDay, slot_name
from bot.outbox.status import QUOTA_COUNTED, sql_in

_ACTIVE = ("journey_entry.journey = :j AND journey_entry.status = 'active' AND "
           "(journey_entry.entry_day IN ({days}) OR journey_entry.id IN (SELECT entry_id FROM "
           "journey_step WHERE status = 'postponed' AND journey = :j AND due_day <= :day))")
_EXT = "journey_entry.external_userid"
_NOT_MEMBER = (f"NOT EXISTS (SELECT 1 FROM member m WHERE m.external_userid = {_EXT} "
               "AND m.status = 'active')")
_NO_FRIEND = ("NOT EXISTS (SELECT 1 FROM member_follow f WHERE "
              f"f.external_userid = {_EXT} AND f.status = 'active')")
_GONE = f"{_NOT_MEMBER} OR {_NO_FRIEND}"
_DELETED = ("journey_entry.sender <> '' AND NOT EXISTS (SELECT 1 FROM member_follow f WHERE "
            f"f.external_userid = {_EXT} AND f.userid = journey_entry.sender "
            "AND f.status = 'active')")
# `v.event || ''`: the customer's own events by their index; without statistics SQLite
# chose (event, at) instead and walked every purchase since the entry, for each entry
_BOUGHT = (f"EXISTS (SELECT 1 FROM member_event v WHERE v.external_userid = {_EXT} AND "
           "v.event || '' IN ('purchase', 'first_purchase') AND v.at > journey_entry.entered_at)")
_LEFT = (f"NOT EXISTS (SELECT 1 FROM group_member g WHERE g.member_id = {_EXT}) AND EXISTS "
         f"(SELECT 1 FROM group_member_log l WHERE l.member_id = {_EXT} AND "
         "l.action = 'leave' AND l.at > journey_entry.entered_at - 1)")  # whole seconds
# Who may meet a rule, read from what changed (small indexes, 0016_journey_indexes), not by
# a lookup per due entry: every entry began with an active member and relation
# (`entries.matches`) and those rows are marked, never deleted, so a customer gone since has
# a row no longer active. The rules then run on these customers only (the hand-over checks
# each customer again, `bot.journeys.stops`).
_MAY_GONE = ("SELECT external_userid FROM member WHERE status <> 'active' UNION "
             "SELECT external_userid FROM member_follow WHERE status <> 'active'")
_MAY_DELETE = "SELECT external_userid FROM member_follow WHERE status <> 'active'"
_MAY_TAG = ("SELECT t.external_userid FROM member_tag t JOIN tag g ON g.id = t.tag_id "
            "WHERE {match}")
# the oldest due entry's day, from the index (its entered_at is a row lookup per entry)
_OLDEST = "SELECT MIN(entry_day) FROM journey_entry WHERE {active}"
_MAY_BUY = ("SELECT external_userid FROM member_event WHERE event IN ('purchase', "
            "'first_purchase') AND at > :since")
_MAY_LEAVE = ("SELECT member_id AS external_userid FROM group_member_log WHERE action = 'leave' "
              "AND at > :since")
_STOP = ("UPDATE journey_entry SET status = 'stopped', reason = {reason}, ended_at = :now "
         "WHERE {active} AND ({cond})")
_ROOM = ("(SELECT COUNT(*) FROM outbox_delivery d WHERE d.chat_id = {ext} AND "
         "d.via = 'group_send' AND d.slot_at >= :ds AND d.slot_at < :de AND "
         f"d.status IN ({sql_in(QUOTA_COUNTED)})) < :per_day")
_NEW = """INSERT INTO journey_step (entry_id, journey, step, external_userid, due_day, due_at,
              status, reason, slot_id, updated_at)
          SELECT e.id, :j, :step, e.external_userid, :due_day, :due_at, :status, :reason,
                 :slot_id, :now
          FROM journey_entry e
          WHERE e.journey = :j AND e.status = 'active' AND e.entry_day = :entry_day
            AND NOT EXISTS (SELECT 1 FROM journey_step s WHERE s.entry_id = e.id
                            AND s.step = :step) AND {room}"""
_MOVE = """UPDATE journey_step SET status = :status, reason = :reason, due_day = :due_day,
               due_at = :due_at, slot_id = :slot_id, updated_at = :now
           WHERE status = 'postponed' AND journey = :j AND step = :step AND due_day <= :day
             AND {room} AND {age} AND entry_id IN (SELECT id FROM journey_entry
                                                  WHERE status = 'active')"""
# The day's own step records its rows first (the allowance checked per customer), then
# reserves each planned customer's day from those rows: an index range, no lookups.
_RESERVE_PLANNED = """INSERT INTO outbox_delivery (slot_id, chat_id, send_id, via, slot_at,
                                                   status, updated_at)
    SELECT :slot_id, external_userid, NULL, 'group_send', :due_at, 'queued', :now
    FROM journey_step
    WHERE status = 'planned' AND due_at = :due_at AND journey = :j AND step = :step
      AND slot_id = :slot_id
    ON CONFLICT (slot_id, chat_id) DO NOTHING"""
# A postponed 群发 step reserves first (its customers' row in the outbox, if they have
# room), then moves exactly the customers reserved to planned.
_RESERVE_LATE = """INSERT INTO outbox_delivery (slot_id, chat_id, send_id, via, slot_at, status,
                                                updated_at)
    SELECT :slot_id, external_userid, NULL, 'group_send', :due_at, 'queued', :now
    FROM journey_step
    WHERE status = 'postponed' AND journey = :j AND step = :step AND due_day <= :day
      AND {room} AND entry_id IN (SELECT id FROM journey_entry WHERE status = 'active')
    ON CONFLICT (slot_id, chat_id) DO NOTHING"""
_RESERVED = ("EXISTS (SELECT 1 FROM outbox_delivery r WHERE r.slot_id = :slot_id AND "
             "r.chat_id = {ext} AND r.send_id IS NULL AND r.status = 'queued')")


Unit = Callable[[Connection], None]
# SQLite's page cache while planning (KiB): the lookups of a million entries' customers
# reuse the index pages (the default 2 MB rereads them from the OS; 32 MB: a third less
# CPU for the reservations, measured). Set back to the default after the plan.
PLAN_CACHE_KIB = 32768
DEFAULT_CACHE_KIB = 2000
# A plan transaction runs units until this much time has passed: each commit writes the
# pages it changed to the WAL and checkpoints them, and consecutive steps change the same
# index pages (a commit per step was half the plan's time at a million members, measured);
# the writer (on SQLite the event loop itself) is still never held much longer than this.
UNITS_BUDGET_S = 0.5


def page_cache(conn: Connection, kib: int) -> None:
    """SQLite's page cache of this connection (a no-op on PostgreSQL)."""
    if conn.dialect.name == "sqlite":
        driver_execute(conn, f"PRAGMA cache_size = -{int(kib)}", {})


def _with_settings(unit: Unit) -> Unit:
    def run(conn: Connection) -> None:
        if conn.dialect.name == "postgresql":
            setplan_pg.plan_settings(conn)
        page_cache(conn, PLAN_CACHE_KIB)
        unit(conn)
    return run


def sql_plan_units(book: JourneyBook, journey: Journey, day: date, now: float,
                   result: JourneyDay) -> list[Unit]:
    """The day's plan of `journey` as small units, to run in order (`run_units`, a few to
    a transaction): the stop rules, then each step (postponed copies first, then the day's
    own in time order). Each is whole by itself (a step's reservations and rows commit
    together) and idempotent. A transaction is bounded by time, not by a journey: the
    writer is not held for seconds (peak RSS at a million members stayed 114 MB, measured
    with SQLite's 32 MB plan cache)."""
    days = {(day - timedelta(days=s.day)).isoformat() for s in journey.steps}
    names = {f"d{i}": d for i, d in enumerate(sorted(days))}
    active = _ACTIVE.format(days=", ".join(f":{n}" for n in names))
    base = {"j": journey.name, "day": day.isoformat(), "now": now, **names}
    start = datetime.combine(day, datetime.min.time(), journey.timezone).timestamp()
    room = {"ds": start, "de": start + 86400, "per_day": book.allowance.per_day}

    def stops(conn: Connection) -> None:
        if conn.dialect.name == "postgresql":  # the rows the day's earlier plans wrote
            setplan_pg.analyze_stale(conn)
        result.stopped += _stops(conn, journey, active, base, now)

    units: list[Unit] = [stops]
    units += [partial(_postponed, journey=journey, step=step, day=day, now=now, room=room,
                      result=result) for step in journey.steps]
    units += [partial(_own, journey=journey, step=step, day=day, now=now, room=room,
                      result=result) for step in sorted(journey.steps, key=lambda s: s.at)]
    return [_with_settings(unit) for unit in units]


def run_units(conn: Connection, units: list[Unit], budget: float = UNITS_BUDGET_S
              ) -> list[Unit]:
    """Run `units` in order in this transaction until `budget` seconds have passed (each
    is whole by itself, so any run of them may share a transaction); the rest to run."""
    start = time.perf_counter()
    for i, unit in enumerate(units):
        unit(conn)
        if time.perf_counter() - start >= budget:
            return units[i + 1:]
    return []


def _run(conn: Connection, statement: str, params: dict[str, Any]) -> int:
    return int(driver_execute(conn, " ".join(statement.split()), params,
                              client_side=True).rowcount or 0)


def _stops(conn: Connection, journey: Journey, active: str, base: dict[str, Any],
           now: float) -> int:
    """The stop rules over the due entries (in the page planner's order: the first that
    holds is the reason), then the stopped entries' steps. Each rule runs only on the
    customers who may meet it (``_MAY_*``): a few index ranges, not lookups per entry."""
    oldest = driver_execute(conn, " ".join(_OLDEST.format(active=active).split()),
                            base).fetchone()[0]
    if oldest is None:  # nobody due today
        return 0
    # a day before the oldest entry's day began: whatever zone it was entered in
    since = datetime.combine(date.fromisoformat(oldest), datetime.min.time(),
                             journey.timezone).timestamp() - 86400
    rules: list[tuple[str, str, str]] = [
        ("'gone: no longer a friend of any staff member'", _GONE, _MAY_GONE)]
    extra: dict[str, Any] = {}
    if journey.stop.staff_deleted:
        rules.append(("'deleted the staff member ' || journey_entry.sender", _DELETED,
                      _MAY_DELETE))
    for i, tag in enumerate(journey.stop.tags):
        group, slash, name = tag.partition("/")
        match = ("g.group_name = :tg{i} AND g.name = :tn{i}" if slash
                 else "g.name = :tn{i}").format(i=i)
        rules.append((f":reason{i}", "EXISTS (SELECT 1 FROM member_tag t JOIN tag g ON g.id = "
                      f"t.tag_id WHERE t.external_userid = {_EXT} AND {match})",
                      _MAY_TAG.format(match=match)))
        extra |= {f"tg{i}": group, f"tn{i}": name if slash else tag,
                  f"reason{i}": f"got the tag {tag}"}
    if journey.stop.purchase:
        rules.append(("'bought'", _BOUGHT, _MAY_BUY))
    if journey.stop.left_groups:
        rules.append(("'left the store groups'", _LEFT, _MAY_LEAVE))
    extra["since"] = since
    if conn.dialect.name == "postgresql":
        stopped = _stops_pg(conn, rules, active, {**base, **extra})
    else:
        stopped = _run(conn, _one_pass(journey, rules, active), {**base, **extra})
    if stopped:
        _skip_stopped(conn, journey, now)
    return stopped


def _stops_pg(conn: Connection, rules: list[tuple[str, str, str]], active: str,
              params: dict[str, Any]) -> int:
    """PostgreSQL: the due entries of customers who may meet a rule, read first (the
    customers, then their entries: `setplan_pg.due_of_customers`); then one UPDATE per
    rule on those ids. Given the rule and the ids in one statement, PostgreSQL
    checked the rule on every due entry while scanning them (a table's conditions are
    checked in its scan, before any join)."""
    may = " UNION ".join(m for _, _, m in rules)
    ids = setplan_pg.due_of_customers(conn, may, active, params)
    if not ids:
        return 0
    some = "journey_entry.status = 'active' AND journey_entry.id = ANY(:ids)"
    return sum(_run(conn, _STOP.format(reason=why, active=some, cond=cond),
                    {**params, "ids": ids}) for why, cond, _ in rules)


def _one_pass(journey: Journey, rules: list[tuple[str, str, str]], active: str) -> str:
    """SQLite: every rule in one UPDATE over the customers who may meet one (one set,
    built once, matched to the due entries by id: the walk stays in the index); the CASE
    names the first rule that holds."""
    reason = ("CASE " + " ".join(f"WHEN {cond} THEN {why}" for why, cond, _ in rules)
              + " END")
    conds = [c for _, c, _ in rules]
    if journey.stop.staff_deleted:  # the sender's friendship settles "any friend" for most
        conds[:2] = [_NOT_MEMBER, _DELETED, f"journey_entry.sender = '' AND {_NO_FRIEND}"]
    may = " UNION ".join(m for _, _, m in rules)
    due = (f"journey_entry.id IN (SELECT journey_entry.id FROM journey_entry WHERE {active} "
           "AND journey_entry.id IN (SELECT e.id FROM journey_entry e WHERE e.external_userid "
           f"IN ({may})))")
    return _STOP.format(reason=reason, active=due, cond=" OR ".join(f"({c})" for c in conds))


def _skip_stopped(conn: Connection, journey: Journey, now: float) -> None:
    """Entries stopped by this plan: open steps skipped, every other step recorded."""
    params = {"j": journey.name, "now": now}
    ended = ("SELECT id FROM journey_entry WHERE journey = :j AND status = 'stopped' "
             "AND ended_at = :now")
    _run(conn, "UPDATE outbox_delivery SET status = 'cancelled', updated_at = :now WHERE "
         "send_id IS NULL AND status = 'queued' AND (slot_id, chat_id) IN (SELECT slot_id, "
         f"external_userid FROM journey_step WHERE status = 'planned' AND entry_id IN ({ended}))",
         params)
    _run(conn, "UPDATE journey_step SET status = 'skipped', reason = 'stopped: ' || (SELECT "
         "reason FROM journey_entry WHERE id = journey_step.entry_id), updated_at = :now "
         f"WHERE status IN ('planned', 'postponed') AND entry_id IN ({ended})", params)
    entry_days = [d for (d,) in driver_execute(conn, "SELECT DISTINCT entry_day FROM "
                                               "journey_entry WHERE journey = :j AND status = "
                                               "'stopped' AND ended_at = :now", params)]
    for entry_day in entry_days:
        for step in journey.steps:
            when = journey.step_time(date.fromisoformat(entry_day), step)
            _run(conn, _NEW.replace("e.status = 'active'", "e.status = 'stopped' AND "
                                    "e.ended_at = :now").replace(":reason", "'stopped: ' || "
                                                                 "e.reason").format(room="1 = 1"),
                 {**params, "step": step.id, "due_day": when.date().isoformat(),
                  "due_at": when.timestamp(), "status": "skipped", "slot_id": None,
                  "entry_day": entry_day})


def _slot(conn: Connection, journey: Journey, step: Step, when: datetime, now: float) -> int:
    return rows.slot_for(conn, slot_name(journey.name, step.id), when.timestamp(),
                         when.strftime("%Y-%m-%d %H:%M"), now)


def _postponed(conn: Connection, journey: Journey, step: Step, day: date, now: float,
               room: dict[str, Any], result: JourneyDay) -> None:
    when = datetime.combine(day, step.at, tzinfo=journey.timezone)
    params = {"j": journey.name, "step": step.id, "day": day.isoformat(), "now": now,
              "due_day": day.isoformat(), "due_at": when.timestamp(), **room}
    waiting = driver_execute(conn, "SELECT COUNT(*) FROM journey_step WHERE status = "
                             "'postponed' AND journey = :j AND step = :step AND due_day <= :day",
                             params).fetchone()[0]
    if not waiting:
        return
    slot_id = _slot(conn, journey, step, when, now)
    params["slot_id"] = slot_id
    if journey.via == "group_send":
        _run(conn, _RESERVE_LATE.format(room=_ROOM.format(ext="journey_step.external_userid")),
             params)
        planned_if = _RESERVED.format(ext="journey_step.external_userid")
    else:
        planned_if = "1 = 1"
    planned = _run(conn, _MOVE.format(room=planned_if, age="1 = 1"),
                   {**params, "status": "planned", "reason": ""})
    result.planned[step.id] += planned
    # the rest: postponed once more while young enough, else dropped
    oldest = (day - timedelta(days=step.day + journey.postpone_days - 1)).isoformat()
    young = ("(SELECT entry_day FROM journey_entry WHERE id = journey_step.entry_id) "
             ">= :oldest")
    tomorrow = when + timedelta(days=1)
    if step.if_full == "postpone":
        result.postponed += _run(conn, _MOVE.format(room="1 = 1", age=young), {
            **params, "status": "postponed", "reason": POSTPONED_WHY,
            "due_day": tomorrow.date().isoformat(), "due_at": tomorrow.timestamp(),
            "slot_id": None, "oldest": oldest})
    result.skipped["allowance"] += _run(conn, _MOVE.format(room="1 = 1", age="1 = 1"), {
        **params, "status": "skipped", "reason": SKIPPED_WHY, "slot_id": None})


def _own(conn: Connection, journey: Journey, step: Step, day: date, now: float,
         room: dict[str, Any], result: JourneyDay) -> None:
    """The day's own step: the customers with room recorded as planned (one pass over the
    entries), their day reserved from those rows (an index range), the rest only if any."""
    entry_day = (day - timedelta(days=step.day)).isoformat()
    when = datetime.combine(day, step.at, tzinfo=journey.timezone)
    params = {"j": journey.name, "step": step.id, "entry_day": entry_day, "now": now,
              "due_day": day.isoformat(), "due_at": when.timestamp(), **room}
    if conn.dialect.name == "postgresql":
        _own_pg(conn, journey, step, when, params, result)
        return
    waiting = driver_execute(conn, "SELECT COUNT(*) FROM journey_entry WHERE journey = :j "
                             "AND status = 'active' AND entry_day = :entry_day",
                             params).fetchone()[0]
    if not waiting:
        return
    slot_id = _slot(conn, journey, step, when, now)
    group_send = journey.via == "group_send"
    planned = _run(conn, _NEW.format(room=_ROOM.format(ext="e.external_userid")
                                     if group_send else "1 = 1"),
                   {**params, "status": "planned", "reason": "", "slot_id": slot_id})
    if group_send and planned:
        _run(conn, _RESERVE_PLANNED, {**params, "slot_id": slot_id})
    result.planned[step.id] += planned
    if planned == waiting:  # every waiting entry has its row now
        return
    tomorrow = when + timedelta(days=1)
    if step.if_full == "postpone":
        result.postponed += _run(conn, _NEW.format(room="1 = 1"), {
            **params, "status": "postponed", "reason": POSTPONED_WHY,
            "due_day": tomorrow.date().isoformat(), "due_at": tomorrow.timestamp(),
            "slot_id": None})
    else:
        result.skipped["allowance"] += _run(conn, _NEW.format(room="1 = 1"), {
            **params, "status": "skipped", "reason": SKIPPED_WHY, "slot_id": None})


def _own_pg(conn: Connection, journey: Journey, step: Step, when: datetime,
            params: dict[str, Any], result: JourneyDay) -> None:
    """PostgreSQL: the same rows in one statement (`setplan_pg.plan_step`), once an entry
    is found waiting (no slot for a step nobody has today)."""
    if driver_execute(conn, "SELECT 1 FROM journey_entry WHERE journey = :j AND status = "
                      "'active' AND entry_day = :entry_day LIMIT 1", params).fetchone() is None:
        return
    group_send = journey.via == "group_send"
    postpone = step.if_full == "postpone"
    rest_when = when + timedelta(days=1) if postpone else when
    written = setplan_pg.plan_step(
        conn, _ROOM.format(ext="e.external_userid") if group_send else "TRUE", group_send,
        {**params, "slot_id": _slot(conn, journey, step, when, params["now"]),
         "rest": "postponed" if postpone else "skipped",
         "rest_reason": POSTPONED_WHY if postpone else SKIPPED_WHY,
         "rest_day": rest_when.date().isoformat(), "rest_at": rest_when.timestamp()})
    result.planned[step.id] += written.get("planned", 0)
    result.postponed += written.get("postponed", 0)
    if written.get("skipped"):
        result.skipped["allowance"] += written["skipped"]
