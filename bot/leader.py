"""The elected replica's work: the SOP scheduler and the periodic group sync.

Replicas (docs/deployment.md): every process accepts callbacks and runs the outbox; the one
`bot/replicas.py` elects runs the SOP scheduler and reads every group back now and then
(one replica doing it is enough). Here too: the take-over of events a dead replica left
(every replica on PostgreSQL), and the robot keys the outbox posts with.
"""

from __future__ import annotations

import asyncio
import logging
import time

from bot import group_sync
from bot.books.live import LiveBook
from bot.config import Settings
from bot.dispatch import Dispatcher
from bot.journeys.runner import JourneyRunner, start_journeys
from bot.operator_books import live_sop_book, load_sop_book
from bot.outbox.scheduler import SopScheduler
from bot.outbox.worker import DeliveryWorker
from bot.services import Services
from bot.sop.book import SopBook
from bot.sop.robots import RobotKeyMissing

log = logging.getLogger(__name__)
TAKE_OVER_EVERY_S = 2.0  # PostgreSQL: how often events of a dead replica are looked for


class RobotKeys:
    """A robot's webhook key, from the environment variable robots.yaml names; the book is
    the scheduler's (`use`), or read from the files on a replica that does not schedule."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.book: SopBook | None = None

    def use(self, book: SopBook) -> None:
        self.book = book

    def __call__(self, name: str) -> str | None:
        book = self.book
        if book is None or name not in book.robots:
            try:  # a replica that does not schedule still posts what the leader planned
                book = self.book = load_sop_book(self.settings)
            except Exception:
                log.exception("cannot read the robots of the SOP files")
                return None
        robot = book.robots.get(name)
        if robot is None:
            return None
        try:
            return robot.key()
        except RobotKeyMissing as exc:
            log.error("%s", exc)
            return None


class Leader:
    """What this replica runs while it leads; `lead` and `follow` are the replica's hooks."""

    def __init__(self, settings: Settings, outbox: DeliveryWorker, robots: RobotKeys) -> None:
        self.settings = settings
        self._services: Services | None = None  # given by `serve`: the books are read then
        self.outbox = outbox
        self.robots = robots
        self.sop: SopScheduler | None = None
        self.group_sync: asyncio.Task[None] | None = None
        self._sop_start: asyncio.Task[None] | None = None
        self._book: LiveBook[SopBook] | None = None
        self._serving = False  # the outbox runs: the scheduler has someone to plan for
        self.journeys: JourneyRunner | None = None  # issue 15: bot/journeys/

    async def serve(self, services: Services, leads: bool) -> None:
        """The start is done (the books are read, the outbox runs): lead now if elected
        meanwhile. The replica is elected before the books are read, so that its outbox
        can run while they are."""
        self._services = services
        self._serving = True
        if leads:
            await self.lead()

    @property
    def services(self) -> Services:
        assert self._services is not None, "the leader leads only once it serves"
        return self._services

    def adopt(self, scheduler: SopScheduler) -> None:
        """A scheduler made elsewhere (the demo) is this replica's: robot keys come from it."""
        self.sop = scheduler
        self.robots.use(scheduler.book)

    async def lead(self) -> None:
        """This replica was elected (or is alone): run the SOP scheduler, if enabled, and
        the periodic group sync (one replica reading every group back is enough)."""
        if not self._serving:
            return  # still starting: `serve` calls this again once the outbox runs
        settings = self.settings
        loop = asyncio.get_running_loop()
        if settings.wecom.group_sync_hours > 0 and self.group_sync is None:
            self.group_sync = loop.create_task(
                self._sync_groups_when_due(settings.wecom.group_sync_hours * 3600),
                name="group-sync")
        if settings.sop.scheduler and self.sop is None and self._sop_start is None:
            self._sop_start = loop.create_task(self._start_scheduler(), name="sop-start")
        if settings.sop.scheduler and self.journeys is None:
            self.journeys = start_journeys(settings, self.services.db, self.outbox.wake,
                                           lambda: self.sop.book if self.sop else None)

    async def follow(self) -> None:
        """Leadership lost (or stopping): stop firing slots and syncing groups; sends and
        callbacks keep going."""
        sync, self.group_sync = self.group_sync, None
        if sync is not None:
            sync.cancel()
            await asyncio.gather(sync, return_exceptions=True)
        starting, self._sop_start = self._sop_start, None
        if starting is not None:
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
        sop, self.sop = self.sop, None
        if sop is not None:
            await sop.stop()
        book, self._book = self._book, None
        if book is not None:
            await book.stop()
        journeys, self.journeys = self.journeys, None
        if journeys is not None:
            await journeys.stop()

    def sop_state(self) -> str:
        """running | loading (the book is being checked) | failed: <problem> | off."""
        if self.sop is not None:
            return "running"
        if self._sop_start is not None:
            error = self._book.last_error if self._book is not None else None
            return f"failed: {error.splitlines()[-1].strip()}" if error else "loading"
        return "off"  # a follower, or [sop] scheduler = false

    async def _start_scheduler(self) -> None:
        """Load the SOP book and start the scheduler, off the start's critical path.

        Checking the book test-renders every store (8 s for 10,000 stores, measured by
        scripts/bench_sop_book.py), and WeCom's callbacks must not wait for it: a customer
        who scans while the bot starts has a WelcomeCode that dies in 20 s. So the bot
        serves callbacks first and loads the book on a thread meanwhile. A book with
        errors is logged with file:line and tried again whenever the files change; welcomes
        and the outbox keep going, and /readyz says `sop: failed`.
        """
        settings, services = self.settings, self.services
        try:
            book = self._book = live_sop_book(settings, services.stores)
            book.listen(self.robots.use)
            book.start()  # a broken book is tried again after each edit
            if not await book.reload():
                await book.loaded()
            sop = SopScheduler(services.db, settings, book.load, self.outbox, live=book)
            try:
                await sop.start()  # its first sweep done: then it counts as running
            except BaseException:  # cancelled (stopping, or leadership lost) or failed
                await sop.stop()
                raise
            self.sop = sop
        finally:
            self._sop_start = None

    async def _sync_groups_when_due(self, every_s: float) -> None:
        """Read every customer group back from WeCom at start (unless a sync is recent),
        then every `every_s`: what callbacks missed while the bot was away."""
        services = self.services
        owners = [str(row["userid"]) for row in services.stores.staff_rows()]
        while True:
            last = await group_sync.last_sync(services.db)
            wait = 0.0 if last is None else last + every_s - time.time()
            if wait > 0:
                await asyncio.sleep(min(wait, 3600.0))
                continue
            try:
                await group_sync.sync_groups(services.db, services.wecom, owners)
            except Exception:  # never let the sync take the bot down; try again later
                log.exception("group sync failed")
                await asyncio.sleep(min(every_s, 600.0))


async def take_over_loop(dispatcher: Dispatcher, replica_id: str) -> None:
    """Events recorded by a replica that died before handling them: taken over here."""
    while True:
        await asyncio.sleep(TAKE_OVER_EVERY_S)
        try:
            await dispatcher.replay_pending(replica_id)
        except Exception:
            log.exception("looking for events left by a stopped replica failed")
