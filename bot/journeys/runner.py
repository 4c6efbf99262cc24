"""The journeys on the elected replica: the daily plan, each step on time, live reload.

APScheduler (as for SOPs, `bot.outbox.scheduler`) fires the day's plan at ``PLAN_AT`` and
each distinct step time; a sweep every half minute catches up what a stop or a restart
missed (a day not planned yet is planned on the sweep; steps due are dispatched). Both go
through the same idempotent functions, so a double firing or a second replica writes
nothing twice. New entries are read from the records at every sweep, so `journeys preview`
shows a customer who joined a minute ago.

The journey files are a `LiveBook`: an edit goes live at the next poll; a bad one is logged
with file:line and the last good journeys keep running.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from datetime import date, datetime
from zoneinfo import ZoneInfo

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from sqlalchemy.engine import Connection

from bot import inbox
from bot.books.live import LiveBook
from bot.db import pace, repo
from bot.db.engine import Database
from bot.journeys import entries, tasks
from bot.journeys.book import JourneyBook
from bot.journeys.dispatch import Dispatched, dispatch_due
from bot.journeys.planner import JourneyDay, plan_journey, sql_planned
from bot.journeys.setplan import DEFAULT_CACHE_KIB, page_cache, run_units, sql_plan_units
from bot.journeys.sop_claims import member_sop_claims
from bot.sop.book import SopBook

log = logging.getLogger(__name__)

EVENTS_MARK = "journeys_events_until"  # bot_state: events read up to here (time)
MEMBER_MARK = "journeys_member_event_id"  # bot_state: member events read up to this id
# Events are re-read this far back: a callback replayed after a crash is recorded with its
# first receipt time; entering is idempotent, so reading an event twice changes nothing.
OVERLAP_S = 6 * 3600
# ... and at every sweep a minute before the mark: WeCom's times are whole seconds, behind
# our clock, and WeCom redelivers an unanswered callback for about 15 s. The mark itself
# never passes an event still being handled (`inbox.oldest_pending`), whose rows are written
# with its receipt time when it finishes, however late.
SWEEP_OVERLAP_S = 60.0
PLANNED_MARK = "journeys_planned_day"  # bot_state: the last local day planned
PLAN_AT = (0, 5)  # local time of the daily plan
SWEEP_EVERY_S = 30.0
ENTER_ROWS_PER_WRITE = 64  # journey entries a sweep writes per group commit (`enter`)
ENTER_PAUSE_S = 0.01  # between two of them
LOOKBACK_S = 3 * 86400  # events older than this at the first start are not entries
DEFAULT_ZONE = ZoneInfo("Asia/Shanghai")
_RUNNERS: dict[int, JourneyRunner] = {}


async def run_job(runner_id: int, what: str) -> None:
    """The APScheduler job: importable, given ids only."""
    runner = _RUNNERS.get(runner_id)
    if runner is not None:
        await runner.tick(plan=what == "plan")


class JourneyRunner:
    def __init__(self, db: Database, live: LiveBook[JourneyBook], *,
                 wake: Callable[[], None] = lambda: None,
                 sop_book: Callable[[], SopBook | None] = lambda: None,
                 clock: Callable[[], float] = time.time) -> None:
        self.db, self.live, self.wake, self.sop_book, self.clock = (
            db, live, wake, sop_book, clock)
        self._aps: AsyncIOScheduler | None = None
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        self.starting: asyncio.Task[None] | None = None  # start_journeys: loading the book
        # events the sweep has decided (`entries.Entered`) under this book, by key, with
        # when: each sweep re-reads the last minutes and works out only what is undecided;
        # another book (an edit went live) opens every event again
        self._decided: tuple[JourneyBook | None, dict[int, float]] = (None, {})
        live.listen(lambda _book: self._apply_jobs())

    @property
    def book(self) -> JourneyBook:
        return self.live.value

    async def start(self) -> None:
        _RUNNERS[id(self)] = self
        self._aps = AsyncIOScheduler(timezone="UTC")
        self._apply_jobs()
        self._aps.start()
        await self.tick(plan=True)
        self._task = asyncio.get_running_loop().create_task(self._sweep(), name="journeys")

    async def stop(self) -> None:
        _RUNNERS.pop(id(self), None)
        starting, self.starting = self.starting, None
        if starting is not None:
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
        await self.live.stop()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._aps is not None and self._aps.running:
            self._aps.shutdown(wait=False)

    def job_ids(self) -> list[str]:
        """The APScheduler jobs: the day's plan and each step time (empty once stopped)."""
        if self._aps is None or not self._aps.running:
            return []
        return sorted(job.id for job in self._aps.get_jobs())

    def _apply_jobs(self) -> None:
        if self._aps is None or self.live.current is None:
            return
        zone = self.zone()
        times = {PLAN_AT} | {(s.at.hour, s.at.minute) for j in self.book.enabled()
                             for s in j.steps}
        self._aps.remove_all_jobs()
        for hour, minute in sorted(times):
            what = "plan" if (hour, minute) == PLAN_AT else "steps"
            self._aps.add_job(run_job, CronTrigger(hour=hour, minute=minute, timezone=zone),
                              args=(id(self), what), id=f"journeys:{hour:02d}{minute:02d}",
                              coalesce=True, misfire_grace_time=300, replace_existing=True)

    def zone(self) -> ZoneInfo:
        """The chain's zone: the journeys' (docs/journeys.md: one zone for all files)."""
        journeys = self.book.enabled()
        return journeys[0].timezone if journeys else DEFAULT_ZONE

    async def _sweep(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY_S)
            try:
                await self.tick()
            except Exception:
                log.exception("journeys: sweep failed; next one in %.0f s", SWEEP_EVERY_S)

    async def tick(self, *, plan: bool = False) -> Dispatched:
        """Read new entries, plan today if not yet planned, hand due steps to the outbox."""
        async with self._lock:
            now = self.clock()
            today = datetime.fromtimestamp(now, self.zone()).date()
            planned = await self.db.read(lambda c: repo.get_state(c, PLANNED_MARK))
            plan = plan or planned is None or planned < today.isoformat()
            await self.enter(now, overlap=plan)
            if plan:
                await self.plan_day(today, now)
            done = await self.dispatch(now, today)
        if done.sends or done.tasks:
            self.wake()
        return done

    async def enter(self, now: float, *, overlap: bool = False) -> int:
        """New entries from events since the last read (`overlap`: re-read the last hours
        too, at the daily plan: a replayed callback carries its first receipt time)."""
        book = self.book
        decided = self._decided[1] if self._decided[0] is book else {}

        def find(conn: Connection) -> tuple[entries.Entered, str | None, int, float,
                                            dict[int, float]]:
            # Reads only, on a reader: a sweep re-reads the last minutes of events (at a
            # campaign's pace, tens of thousands), which on SQLite's writer held the event
            # loop, and every callback with it; of those, only the events no earlier sweep
            # decided are worked out. The reader's Python holds the GIL, and so the loop:
            # it rests now and then (bot.db.pace), and what is left of the decided keys is
            # worked out here too (tens of thousands: milliseconds the loop would wait).
            # Only this runner writes entries and the marks, one tick at a time (`_lock`),
            # so what it read still holds when it writes.
            mark = repo.get_state(conn, EVENTS_MARK)
            back = OVERLAP_S if overlap else SWEEP_OVERLAP_S
            since = float(mark) - back if mark else now - LOOKBACK_S
            after = int(repo.get_state(conn, MEMBER_MARK) or 0)
            complete = min(now, inbox.oldest_pending(conn) or now)  # read before the events
            events, last = entries.read_events(conn, since, now, book.enabled(), after,
                                               skip=decided)
            found = entries.entries_for(conn, book.enabled(), events)
            # remembered once written, forgotten once out of the window every later sweep
            kept = {key: at for key, at in pace.each(decided.items()) if at >= since}
            kept.update(dict.fromkeys(found.decided, now))
            return found, mark, last, max(complete, now - OVERLAP_S), kept

        found, mark, last, complete, kept = await self.db.read(find)
        rows = found.rows
        count = 0
        # A few dozen rows a write, a pause between: on SQLite a group commit holds the
        # database (in the writer process, or on the event loop), and every callback's
        # record waits for the one in flight. A sweep after a campaign's burst has tens of
        # thousands of entries: 18,000 in one write took 200 ms, 500 took 5 ms, 64 take
        # under 1 ms, and back to back they still made the callbacks meanwhile 5 to 20 ms
        # late. Rows already there are left as they are, so a sweep stopped half-way is
        # finished by the next.
        for start in range(0, len(rows), ENTER_ROWS_PER_WRITE):
            if start:
                await asyncio.sleep(ENTER_PAUSE_S)
            part = rows[start:start + ENTER_ROWS_PER_WRITE]
            await self.db.write(entries.entries_written(part))  # may go to the writer process
            count += len(part)

        def marks(conn: Connection) -> None:
            # events before the mark are all read: up to now, or up to the oldest event
            # still being handled (a stuck one holds it back at most OVERLAP_S)
            repo.set_state(conn, EVENTS_MARK, repr(max(complete, float(mark or 0))))
            repo.set_state(conn, MEMBER_MARK, str(last))

        await self.db.write(marks)
        self._decided = (book, kept)
        if count:
            log.info("journeys: %d customers entered a journey", count)
        return count

    async def plan_day(self, day: date, now: float) -> list[JourneyDay]:
        """Plan every journey's steps due on `day`, in precedence order."""
        book, sops = self.book, self.sop_book()
        quiet = [j for j in book.enabled() if j.entry.event == "no_purchase"]
        if quiet:
            await self.db.write(lambda c: entries.enter(c, quiet, [
                ev for j in quiet for ev in entries.quiet_customers(c, j, day)]))
        missed = await self.db.write(lambda c: tasks.mark_missed(c, day, now))
        if missed:
            log.info("journeys: %d staff tasks of earlier days not sent: missed", missed)
        claims = await self.db.read(lambda c: member_sop_claims(c, sops, day))
        results = []
        for journey in book.enabled():
            if sql_planned(book, journey, claims):
                result = JourneyDay(journey.name)
                units = sql_plan_units(book, journey, day, now, result)
                while units:  # a few units per transaction (setplan.UNITS_BUDGET_S)
                    units = await self.db.write(lambda c, us=units: run_units(c, us))  # type: ignore[misc]
            else:
                result = await self.db.write(
                    lambda c, j=journey: plan_journey(c, book, j, day, now, claims))  # type: ignore[misc]
            results.append(result)
            if result.planned or result.postponed or result.skipped:
                log.info("journey %s %s: %s planned, %d postponed, skipped %s",
                         journey.name, day, dict(result.planned), result.postponed,
                         dict(result.skipped))
        await self.db.write(lambda c: page_cache(c, DEFAULT_CACHE_KIB))
        await self.db.write(lambda c: repo.set_state(c, PLANNED_MARK, day.isoformat()))
        return results

    async def dispatch(self, now: float, today: date) -> Dispatched:
        total = Dispatched()
        while True:
            done = await self.db.write(lambda c: dispatch_due(c, self.book, now, today))
            total.sends += done.sends
            total.tasks += done.tasks
            total.customers += done.customers
            for k, v in done.skipped.items():
                total.skipped[k] += v
            if not done.more:
                return total


def start_journeys(settings: object, db: Database, wake: Callable[[], None],
                   sop_book: Callable[[], SopBook | None]) -> JourneyRunner:
    """The elected replica's journeys: the book loads and the runner starts in the
    background; a broken book is logged with file:line and tried again on each edit."""
    from bot.config import Settings
    from bot.journeys.files import live_journeys

    assert isinstance(settings, Settings)
    live = live_journeys(settings)
    runner = JourneyRunner(db, live, wake=wake, sop_book=sop_book)

    async def begin() -> None:
        live.start()
        if not await live.reload():
            await live.loaded()
        await runner.start()

    runner.starting = asyncio.get_running_loop().create_task(begin(), name="journeys-start")
    return runner
