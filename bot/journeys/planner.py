"""A day of journeys, planned once on the elected replica: who enters, who leaves, who gets
which step today, and who gets the customer's one 群发 of the day.

Order of the day (the chain's time zone, docs/journeys.md): events since the last plan
become entries; then, journey by journey in the operator's precedence, the steps due today
are checked against the stop rules and the daily allowance, and written as ``journey_step``
rows (planned, postponed or skipped with the reason), with each planned 群发 reserved in
the outbox so the member-targeted SOPs see it. Every row is written in the journey's one
transaction; a second planning of the same day finds the rows and adds nothing.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Connection

from bot.journeys import rows
from bot.journeys.book import JourneyBook
from bot.journeys.facts import Customer, load_customers, needs
from bot.journeys.model import Allowance, Journey, Step
from bot.journeys.stops import EntryRow, sender_for, stop_reason
from bot.outbox.quota import quota_period

log = logging.getLogger(__name__)
PAGE = 5000  # entries planned at a time: memory stays flat with a million members

SopClaims = Mapping[str, frozenset[str]]  # "sop:<name>" -> customers it reaches later today
# the reasons a step that did not fit the customer's allowance is recorded with
POSTPONED_WHY = "allowance: postponed to the next day"
SKIPPED_WHY = "allowance: no 群发 left for the customer today"


@dataclass
class JourneyDay:
    """What planning one journey's day did, for logs, the CLI and tests."""

    journey: str
    planned: Counter[str] = field(default_factory=Counter)  # step -> customers
    staff: dict[str, Counter[str]] = field(default_factory=dict)  # step -> sender -> customers
    postponed: int = 0
    skipped: Counter[str] = field(default_factory=Counter)  # reason -> steps
    stopped: int = 0


@dataclass(frozen=True, slots=True)
class Due:
    entry: EntryRow
    step: Step
    postponed_id: int | None = None  # the journey_step row, when postponed earlier


def slot_name(journey: str, step: str) -> str:
    """The outbox slot's name (sop_slot.sop, 64 chars): ``j:<journey>:<step>``."""
    return f"j:{journey}:{step}"[:64]


def plan_journey(conn: Connection, book: JourneyBook, journey: Journey, day: date,
                 now: float, claims: SopClaims, *, dry: dict[str, int] | None = None
                 ) -> JourneyDay:
    """Plan `journey`'s steps due on local `day` (run in one write transaction).

    `dry`: write nothing (``journeys preview --date``); it carries the 群发 that journeys
    planned earlier in the same preview, which the outbox does not hold.
    """
    result = JourneyDay(journey.name)
    after = 0
    while True:
        page = rows.active_page(conn, journey.name, after, PAGE)
        if not page:
            return result
        after = page[-1].id
        due = _due_today(conn, journey, day, page, write=dry is None)
        if due:
            _plan_page(conn, book, journey, day, now, claims, dry, due, result)


def sql_planned(book: JourneyBook, journey: Journey, claims: SopClaims) -> bool:
    """Whether the SQL plan (`bot.journeys.setplan`) may plan `journey`: unless a member
    SOP ranked above it still fires today (its customers are known only here)."""
    rank = book.allowance.rank(journey.name)
    return not any(book.allowance.rank(name) < rank for name in claims)


def _plan_page(conn: Connection, book: JourneyBook, journey: Journey, day: date, now: float,
               claims: SopClaims, dry: dict[str, int] | None, due: list[Due],
               result: JourneyDay) -> None:
    """One page of entries: stops, then the allowance, then the rows (a few statements)."""
    customers = load_customers(conn, (d.entry.external_userid for d in due), **needs(journey))
    due = _drop_stopped(conn, journey, due, customers, now, result, write=dry is None)
    used: dict[str, int] = {}
    if journey.via == "group_send":
        used = _used_today(conn, journey, day, list(customers))
        for ext, n in (dry or {}).items():
            if ext in customers:
                used[ext] = used.get(ext, 0) + n
    rank = book.allowance.rank(journey.name)
    ahead = [c for name, c in claims.items() if book.allowance.rank(name) < rank]
    writer = _Writer(conn, journey, day, now, write=dry is None)
    # a step postponed from an earlier day goes before today's own
    for item in sorted(due, key=lambda d: (_first_due(d), d.step.at, d.entry.external_userid)):
        ext = item.entry.external_userid
        if journey.via != "group_send" or _has_room(book.allowance, ext, used, ahead):
            used[ext] = used.get(ext, 0) + 1
            if dry is not None and journey.via == "group_send":
                dry[ext] = dry.get(ext, 0) + 1
            writer.planned(item)
            result.planned[item.step.id] += 1
            sender = sender_for(item.entry, customers[ext])
            result.staff.setdefault(item.step.id, Counter())[sender] += 1
        elif _may_postpone(journey, item, day):
            writer.postponed(item)
            result.postponed += 1
        else:
            writer.skipped(item, SKIPPED_WHY)
            result.skipped["allowance"] += 1
    writer.flush()


def _due_today(conn: Connection, journey: Journey, day: date, page: list[EntryRow], *,
               write: bool = True) -> list[Due]:
    """The steps of these entries due on `day`: today's own, and those postponed to it."""
    by_day: dict[str, list[Step]] = {}
    for step in journey.steps:
        by_day.setdefault((day - timedelta(days=step.day)).isoformat(), []).append(step)
    todays = [e for e in page if e.entry_day in by_day]
    recorded = rows.steps_recorded(conn, [e.id for e in todays])
    due = [Due(e, s) for e in todays for s in by_day[e.entry_day]
           if (e.id, s.id) not in recorded]
    by_id = {e.id: e for e in page}
    removed: list[tuple[int, str, str]] = []
    for step_row, step_id, entry_id in rows.postponed_of(conn, list(by_id), day.isoformat()):
        later = journey.step(step_id)
        if later is None:  # a step the operator removed is not sent late
            removed.append((entry_id, step_id, "the step was removed from the journey"))
        else:
            due.append(Due(by_id[entry_id], later, step_row))
    if removed and write:
        rows.skip_open_steps(conn, removed, time.time())
    return due


def _drop_stopped(conn: Connection, journey: Journey, due: list[Due],
                  customers: dict[str, Customer], now: float, result: JourneyDay, *,
                  write: bool) -> list[Due]:
    keep: list[Due] = []
    stopped: dict[int, tuple[EntryRow, str]] = {}
    for item in due:
        reason = stop_reason(journey, item.entry, customers[item.entry.external_userid])
        if reason is None:
            keep.append(item)
        else:
            stopped[item.entry.id] = (item.entry, reason)
    if stopped and write:
        stop_entries(conn, journey, list(stopped.values()), now)
    if stopped:
        result.stopped += len(stopped)
        result.skipped["stopped"] += len(due) - len(keep)
    return keep


def stop_entries(conn: Connection, journey: Journey, ended: list[tuple[EntryRow, str]],
                 now: float) -> None:
    """End these entries as stopped, and record every step they had not had as skipped."""
    recorded = rows.steps_recorded(conn, [e.id for e, _ in ended])
    new: list[dict[str, Any]] = []
    moved: list[dict[str, Any]] = []
    for entry, reason in ended:
        for step in journey.steps:
            note = f"stopped: {reason}"
            if (entry.id, step.id) not in recorded:
                new.append(_step_row(journey, entry, step, "skipped", note, None,
                                     _when(journey, entry, step), now))
            else:
                moved.append({"id": None, "entry": entry.id, "step": step.id, "note": note})
    rows.new_steps(conn, new)
    rows.skip_open_steps(conn, [(m["entry"], m["step"], m["note"]) for m in moved], now)
    rows.end_entries(conn, [{"id": e.id, "status": "stopped", "reason": r, "at": now}
                            for e, r in ended])


def _used_today(conn: Connection, journey: Journey, day: date,
                customers: list[str]) -> dict[str, int]:
    """群发 these customers have (or will have) today, from the outbox's own record."""
    noon = datetime.combine(day, datetime.min.time(), journey.timezone) + timedelta(hours=12)
    period = quota_period("day1", noon, journey.timezone)
    return rows.used_today(conn, customers, period.start, period.end)


def _has_room(allowance: Allowance, ext: str, used: dict[str, int],
              ahead: list[frozenset[str]]) -> bool:
    claimed = sum(1 for customers in ahead if ext in customers)
    return used.get(ext, 0) + claimed < allowance.per_day


def _first_due(item: Due) -> date:
    return date.fromisoformat(item.entry.entry_day) + timedelta(days=item.step.day)


def _may_postpone(journey: Journey, item: Due, day: date) -> bool:
    if item.step.if_full != "postpone":
        return False
    return (day - _first_due(item)).days < journey.postpone_days


def _when(journey: Journey, entry: EntryRow, step: Step) -> datetime:
    return journey.step_time(date.fromisoformat(entry.entry_day), step)


def _step_row(journey: Journey, entry: EntryRow, step: Step, status: str, reason: str,
              slot_id: int | None, when: datetime, now: float) -> dict[str, Any]:
    return {"entry_id": entry.id, "journey": journey.name, "step": step.id,
            "ext": entry.external_userid, "due_day": when.date().isoformat(),
            "due_at": when.timestamp(), "status": status, "reason": reason,
            "slot_id": slot_id, "at": now}


class _Writer:
    """Collects one journey's rows for the day and writes them in a few statements."""

    def __init__(self, conn: Connection, journey: Journey, day: date, now: float, *,
                 write: bool) -> None:
        self.conn, self.journey, self.day, self.now = conn, journey, day, now
        self.write = write
        self.new: list[dict[str, Any]] = []
        self.moved: list[dict[str, Any]] = []
        self.reserve: dict[tuple[int, float], list[str]] = {}
        self.slots: dict[tuple[str, float], int] = {}  # the day's outbox slot per step

    def _at(self, step: Step) -> datetime:
        return datetime.combine(self.day, step.at, tzinfo=self.journey.timezone)

    def _put(self, item: Due, status: str, reason: str, when: datetime,
             slot_id: int | None) -> None:
        row = _step_row(self.journey, item.entry, item.step, status, reason, slot_id, when,
                        self.now)
        if item.postponed_id is None:
            self.new.append(row)
        else:
            self.moved.append({"id": item.postponed_id, "status": status, "reason": reason,
                               "due_day": row["due_day"], "due_at": row["due_at"],
                               "slot_id": slot_id, "at": self.now})

    def planned(self, item: Due) -> None:
        when = self._at(item.step)
        if not self.write:
            return
        key = (item.step.id, when.timestamp())
        slot_id = self.slots.get(key)
        if slot_id is None:
            slot_id = self.slots[key] = rows.slot_for(
                self.conn, slot_name(self.journey.name, item.step.id), when.timestamp(),
                when.strftime("%Y-%m-%d %H:%M"), self.now)
        if self.journey.via == "group_send":
            self.reserve.setdefault((slot_id, when.timestamp()), []).append(
                item.entry.external_userid)
        self._put(item, "planned", "", when, slot_id)

    def postponed(self, item: Due) -> None:
        when = self._at(item.step) + timedelta(days=1)
        self._put(item, "postponed", POSTPONED_WHY, when, None)

    def skipped(self, item: Due, reason: str) -> None:
        self._put(item, "skipped", reason, self._at(item.step), None)

    def flush(self) -> None:
        if not self.write:
            return
        rows.new_steps(self.conn, self.new)
        rows.move_postponed(self.conn, self.moved)
        for (slot_id, slot_at), customers in self.reserve.items():
            rows.reserve(self.conn, slot_id, slot_at, customers, self.now)
