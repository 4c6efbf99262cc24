"""The outbox worker: makes each planned WeCom call once, then follows it to its outcome.

A send row moves queued → sending → created → done (group send) or queued → sending → done
(robot). `sending` is committed *before* the call goes out, so after a crash the worker
knows which calls may have reached WeCom. For a 群发 it then asks WeCom
(get_groupmsg_list_v2) whether the task exists before calling again; a robot post cannot be
looked up, so it is recorded as `uncertain` and never repeated: a group that may have got a
message twice is worse, for a store manager, than one the operator is told may have missed.

Replicas (PostgreSQL): every replica runs a worker on the one queue. Due rows are leased in
batches with `FOR UPDATE SKIP LOCKED`, so workers asking together get different rows; the
per-row claims below still decide who makes a call. Calls left `sending` by a replica that
died are taken over by a live one within `TAKE_OVER_EVERY_S` (then checked as above).

Each kind of call has its own module: 群发 (`group_sends`), robot posts (`robot_posts`)
and owner-post reminders (`reminders`, app messages that WeCom's duplicate check lets us
resend); the statuses and their allowed moves are in `status`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from sqlalchemy.engine import Connection

from bot.config import SopSettings
from bot.db.engine import Database
from bot.moments.plan import VIA as MOMENT_VIA
from bot.moments.tasks import MomentTasks
from bot.outbox import rows as outbox
from bot.outbox.group_sends import GroupSends
from bot.outbox.owner_posts import REMIND_VIA
from bot.outbox.reminders import OwnerReminders, RoomForAppMessages, may_resend
from bot.outbox.robot_posts import RobotPosts, take_over_uncertain
from bot.outbox.rows import SendRow
from bot.outbox.sending import DeliveryStats, Pacer, Sending
from bot.outbox.status import SendStatus
from bot.wecom.client import WeComClient

__all__ = ["DeliveryStats", "DeliveryWorker", "Pacer", "RoomForAppMessages"]

log = logging.getLogger(__name__)

LEASE_S = 120.0  # a claimed row is not looked at again for this long (unless updated)
TAKE_OVER_EVERY_S = 2.0  # PostgreSQL: how often calls orphaned by a dead replica are looked for
S = SendStatus


class DeliveryWorker:
    """Runs in the bot's event loop; `wake()` after planning a slot."""

    def __init__(self, db: Database, wecom: WeComClient, settings: SopSettings,
                 robot_key: Callable[[str], str | None], *, request_timeout_s: float = 10.0,
                 robot_window_s: float = 60.0, clock: Callable[[], float] = time.time,
                 replica_id: str = "", agent_id: int | None = None,
                 app_limits: RoomForAppMessages | None = None) -> None:
        self.db = db
        self.replica_id = replica_id
        self.settings = settings
        self.clock = clock
        # an unanswered call has ended by settle_s
        self.sending = Sending(db, wecom, settings, clock, replica_id,
                               settle_s=max(2 * request_timeout_s, 1.0))
        self.stats: DeliveryStats = self.sending.stats
        self._pacer = Pacer(settings.send_per_minute)
        self._group_sends = GroupSends(self.sending, self._pacer)
        self._robot_posts = RobotPosts(self.sending, robot_key, robot_window_s)
        self._reminders = OwnerReminders(self.sending, agent_id, app_limits)
        self._moments = MomentTasks(self.sending, agent_id, app_limits)  # 客户朋友圈
        self._slots = asyncio.Semaphore(settings.send_concurrency)
        self._wake = asyncio.Event()
        self._in_flight: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None

    # -- life --------------------------------------------------------------------------

    def start(self) -> None:
        self._runner = asyncio.get_running_loop().create_task(self._run(), name="sop-outbox")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop taking work; let calls in flight finish for `grace_s`, then cancel them.

        A cancelled call stays `sending` in the database and is checked at the next start.
        """
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
            self._runner = None
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _run(self) -> None:
        await self.recover()
        last_take_over = time.monotonic()
        while True:
            if self.db.is_postgres and time.monotonic() - last_take_over >= TAKE_OVER_EVERY_S:
                last_take_over = time.monotonic()
                await self.recover()
            if self.db.is_postgres:
                rows = await self.db.write(self._lease_due)
            else:
                rows = await self.db.read(self._due)
            due_by = self.clock()  # every row read was due by now
            fresh = [r for r in rows if r.id not in self._in_flight]
            for row in fresh:
                await self._slots.acquire()
                self._in_flight.add(row.id)
                task = asyncio.get_running_loop().create_task(self._handle(row, due_by))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if not fresh:
                await self._idle()

    def _due(self, conn: Connection) -> list[SendRow]:
        return outbox.due_sends(conn, self.clock(), 4 * self.settings.send_concurrency)

    def _lease_due(self, conn: Connection) -> list[SendRow]:
        limit = 4 * self.settings.send_concurrency
        # long enough for the batch to get through the pacer; a dead replica's lease only
        # delays its rows by this much
        lease = max(30.0, 2 * limit * self._pacer.interval)
        now = self.clock()
        return outbox.lease_due(conn, now, limit, now + lease, self.replica_id)

    async def _idle(self) -> None:
        """Sleep until woken, or until the next row falls due (at most 5 s: a safety net)."""
        next_at = await self.db.read(outbox.next_due)
        cap = TAKE_OVER_EVERY_S if self.db.is_postgres else 5.0
        delay = cap if next_at is None else min(max(next_at - self.clock(), 0.05), cap)
        self._wake.clear()
        # Not asyncio.wait_for: on Python 3.11 it swallows a cancel that arrives as the
        # wake-up does (the event set by the last send, `stop()` cancelling us), and the
        # worker then idles on forever while `stop()` waits for it (seen as a test that hung
        # 1 run in 15 under load). asyncio.timeout passes the cancel on.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._wake.wait()

    async def recover(self) -> None:
        """Calls that were going out when their process died (an earlier run of this bot,
        or another replica): never the calls a live replica has in flight."""
        me = self.replica_id
        now = self.clock()
        if self.db.is_postgres:
            released = await self.db.write(
                lambda c: outbox.release_orphaned_leases(c, me, now))
            if released:
                log.info("outbox: %d queued calls leased by a stopped replica are due again",
                         released)
        rows = await self.db.read(lambda c: outbox.orphaned_sends(c, me))
        taken = 0
        for row in rows:
            taken += await self._take_over(row, now)
        if taken:
            log.info("outbox: %d calls interrupted by a stopped process are being checked",
                     taken)

    async def _take_over(self, row: SendRow, now: float) -> int:
        """Move one orphaned call on (1), unless another survivor took it first (0)."""
        me = self.replica_id
        if row.via in ("group_send", MOMENT_VIA):  # look it up once anything in flight ended
            next_at = now + self.sending.settle_s
            return int(await self.db.write(lambda c: outbox.take_over(
                c, row, me, S.UNKNOWN, next_at, "no answer: checking")))
        if row.via == REMIND_VIA and may_resend(row, now):
            # WeCom's duplicate check drops a repeat
            return int(await self.db.write(lambda c: outbox.take_over(
                c, row, me, S.QUEUED, now, "process stopped during the call: resend")))
        if not await self.db.write(lambda c: take_over_uncertain(self.sending, c, row, now)):
            return 0
        self.stats.uncertain += 1
        if row.via != REMIND_VIA:
            log.warning("robot post %s may or may not have gone out before its process "
                        "stopped: recorded as uncertain, not repeated", row.key)
        return 1

    async def _handle(self, row: SendRow, due_by: float) -> None:
        try:
            # A queued row is claimed by mark_sending itself (status must still be queued);
            # others take a lease, so a stale read cannot work on them twice.
            lease = self.clock() + LEASE_S
            if row.status != S.QUEUED and not await self.db.write(
                    lambda c: outbox.claim(c, row, lease)):
                return  # read before another round changed it: that round has it
            if row.via == MOMENT_VIA:
                await self._moments.handle(row)
            elif row.status == S.CREATED:
                await self._group_sends.follow(row)
            elif row.status == S.UNKNOWN:
                await self._group_sends.reconcile(row, due_by)
            elif row.via == "group_send":
                await self._group_sends.create(row)
            elif row.via == REMIND_VIA:
                await self._reminders.remind(row)
            else:
                await self._robot_posts.post(row)
        except asyncio.CancelledError:
            raise
        except Exception:  # one bad row must not stop the worker; it is retried later
            log.exception("outbox: send %s failed unexpectedly", row.key)
            await self.db.write(lambda c: outbox.mark_follow(
                c, row.id, self.clock() + 60, row.reminders, "internal error, retrying"))
        finally:
            self._in_flight.discard(row.id)
            self._slots.release()
            self._wake.set()
