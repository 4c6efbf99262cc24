"""When SOP slots fire: APScheduler for the exact minute, a sweep for what it cannot know.

APScheduler (AsyncIOScheduler, in-memory job store, the SOP file's timezone) fires each slot
on time, one job per SOP and time of day, named after it. It cannot know about minutes the
bot was not running, so a sweep runs at start and every half minute: each slot since the
last sweep that has no row yet is planned late if it is within the SOP's grace period, and
recorded as `missed` otherwise. Both paths go through `plan_slot`, whose unique slot key
makes a double firing harmless.

Reload: the book is a `bot.books.live.LiveBook` (the running bot's watches the SOP files
and templates every few seconds; SIGHUP asks for a reload at once). An edit that does not
load is logged with file:line and the last good SOPs keep running; one that loads replaces
the jobs whose schedule changed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from collections.abc import Callable
from datetime import UTC, date, datetime
from functools import partial

from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.books.live import LiveBook
from bot.config import Settings
from bot.db import repo
from bot.db.engine import Database
from bot.media.cache import MediaCache
from bot.outbox import rows as outbox
from bot.outbox.planner import SlotPlan, plan_slot, slot_label
from bot.outbox.status import SlotStatus
from bot.outbox.worker import DeliveryWorker
from bot.sop.book import SopBook

log = logging.getLogger(__name__)

WATERMARK = "sop_swept_until"  # bot_state key: up to when slots have been looked at
LOOKBACK_S = 24 * 3600  # after a longer stop, older slots are not even recorded as missed
SWEEP_EVERY_S = 30.0
_SCHEDULERS: dict[int, SopScheduler] = {}


async def run_sop_job(scheduler_id: int, sop: str) -> None:
    """The APScheduler job: importable, and given ids only (design note 6)."""
    scheduler = _SCHEDULERS.get(scheduler_id)
    if scheduler is not None:
        await scheduler.fire(sop)


class SopScheduler:
    def __init__(self, db: Database, settings: Settings, load_book: Callable[[], SopBook],
                 worker: DeliveryWorker, *, book: SopBook | None = None,
                 live: LiveBook[SopBook] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.settings = settings
        self.load_book = load_book
        self.worker = worker
        self.clock = clock
        # the SOPs' local pictures, uploaded once (bot.media)
        self.media = MediaCache(db, worker.sending.wecom, settings.paths.sop_dir)
        if live is None:  # no files watched: reloads on request (tests, the demo)
            # an invalid SOP here raises: there is no last good one to keep running
            live = LiveBook("SOPs", lambda: (), load_book, settings.sop.reload_poll_s,
                            describe=sop_names,
                            current=book if book is not None else load_book())
        self.live = live
        live.listen(self._swapped)
        self._aps: AsyncIOScheduler | None = None
        self._jobs: dict[str, str] = {}  # job id -> trigger description, to diff on reload
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one sweep or firing at a time: plans see each other

    # -- life --------------------------------------------------------------------------

    async def start(self) -> None:
        _SCHEDULERS[id(self)] = self
        self._aps = AsyncIOScheduler(timezone="UTC")  # each trigger carries its SOP's zone
        self._apply_jobs()
        self._aps.start()
        await self.sweep()
        self._task = asyncio.get_running_loop().create_task(self._housekeeping(),
                                                            name="sop-housekeeping")
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().add_signal_handler(signal.SIGHUP,
                                                          self.live.request_reload)

    async def stop(self) -> None:
        _SCHEDULERS.pop(id(self), None)
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self._aps is not None and self._aps.running:
            self._aps.shutdown(wait=False)

    @property
    def book(self) -> SopBook:
        return self.live.value  # read once per firing: a reload swaps it whole

    @property
    def last_error(self) -> str | None:
        return self.live.last_error

    async def reload(self) -> bool:
        """Load the files again; keep the running SOPs if the new ones do not load."""
        return await self.live.reload()

    def _swapped(self, _book: SopBook) -> None:
        if self._aps is not None and self._aps.running:
            self._apply_jobs()

    # -- jobs --------------------------------------------------------------------------

    def _apply_jobs(self) -> None:
        """Add, replace or remove jobs so they match the current book (ids are stable)."""
        assert self._aps is not None
        wanted: dict[str, tuple[str, object, float]] = {}
        for sop in self.book.enabled():
            for i, trigger in enumerate(sop.schedule.triggers()):
                wanted[f"sop:{sop.name}:{i}"] = (sop.name, trigger, sop.grace.total_seconds())
        for job_id in set(self._jobs) - set(wanted):
            self._aps.remove_job(job_id)
            del self._jobs[job_id]
        for job_id, (name, trigger, grace) in wanted.items():
            described = f"{trigger}|{grace}"
            if self._jobs.get(job_id) == described:
                continue
            self._aps.add_job(run_sop_job, trigger, args=(id(self), name), id=job_id,
                              name=job_id, replace_existing=True, coalesce=True,
                              misfire_grace_time=max(int(grace), 1))
            self._jobs[job_id] = described

    async def fire(self, name: str) -> SlotPlan | None:
        """A job fired: plan the SOP's latest slot that is due, if any."""
        if name not in self.book or not self.book.get(name).enabled:
            return None
        grace = self.book.get(name).grace.total_seconds()
        now = self.clock()
        due = [s for s in self._slots(name, now - grace - 60, now)
               if now - s.timestamp() <= grace]
        if not due:
            return None
        return await self.plan(name, due[-1], now=now)

    async def plan(self, name: str, slot: datetime, *, now: float | None = None) -> SlotPlan:
        async with self._lock:
            plan = await plan_slot(self.db, self.book, self.book.get(name), slot,
                                   quota_rule=self.settings.sop.group_send_quota, now=now,
                                   sidebar_url=self.settings.sidebar.public_url,
                                   media=self.media)
        if plan.slot_id is not None and plan.owners:
            log.info("SOP %s %s: %d groups due for their owners to post; %d owners reminded",
                     name, plan.slot_local, plan.groups, plan.owners)
            self.worker.wake()
        elif plan.slot_id is not None:
            log.info("SOP %s %s: %d groups in %d sends%s", name, plan.slot_local, plan.groups,
                     plan.sends, f", {len(plan.held)} held back by quota" if plan.held else "")
            self.worker.wake()
        return plan

    async def sweep(self, now: float | None = None) -> list[SlotPlan]:
        """Plan slots that are due and not yet planned; record the ones too late as missed."""
        now = self.clock() if now is None else now
        mark = await self.db.read(lambda c: repo.get_state(c, WATERMARK))
        since = max(float(mark), now - LOOKBACK_S) if mark else now
        plans: list[SlotPlan] = []
        for sop in self.book.enabled():
            name, grace = sop.name, sop.grace.total_seconds()
            slots = self._slots(name, since - grace, now)
            if not slots:
                continue
            start, end = slots[0].timestamp(), slots[-1].timestamp()
            seen = await self.db.read(partial(outbox.recorded_slots, sop=name, start=start,
                                              end=end))
            for slot in slots:
                if slot.timestamp() in seen:
                    continue
                if now - slot.timestamp() <= grace:
                    log.warning("SOP %s %s: sending %.0f s late (within its grace period)",
                                name, slot_label(slot), now - slot.timestamp())
                    plans.append(await self.plan(name, slot, now=now))
                elif slot.timestamp() > since - 1:
                    await self._record_missed(name, slot, now)
        await self.db.write(lambda c: repo.set_state(c, WATERMARK, repr(now)))
        return plans

    async def _record_missed(self, name: str, slot: datetime, now: float) -> None:
        late = now - slot.timestamp()
        log.error("SOP %s %s missed: the bot was not running (%.0f min late, past its grace "
                  "period); not sent", name, slot_label(slot), late / 60)
        await self.db.write(lambda c: outbox.record_slot(
            c, sop=name, slot_at=slot.timestamp(), slot_local=slot_label(slot),
            status=SlotStatus.MISSED, fired_at=now, late_s=late,
            note="bot not running at the time"))

    def _slots(self, name: str, start: float, end: float) -> list[datetime]:
        """Slots in [start, end] (epoch seconds), in time order."""
        begin = datetime.fromtimestamp(start, UTC)
        finish = datetime.fromtimestamp(end + 1, UTC)
        return sorted(s for s in self.book.get(name).schedule.slots_between(begin, finish)
                      if start <= s.timestamp() <= end)

    # -- housekeeping -------------------------------------------------------------------

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(SWEEP_EVERY_S)
            try:
                await self.sweep()
            except Exception:
                log.exception("SOP sweep failed; next one in %.0f s", SWEEP_EVERY_S)


def sop_names(book: SopBook) -> str:
    """How a reloaded book is logged."""
    return ", ".join(book.names()) or "(none)"


def day_slots(book: SopBook, day: date) -> list[tuple[datetime, str]]:
    """Every (slot, sop name) of the enabled SOPs on one local day, in time order."""
    return sorted((slot, sop.name) for sop in book.enabled()
                  for slot in sop.schedule.slots_on(day))
