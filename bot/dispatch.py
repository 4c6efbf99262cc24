"""From a callback to its handler: accept (record, then submit), routing, per-lane order,
retries, replay.

`Dispatcher.accept` is what the callback endpoint (bot.wecom.callback) calls for every event
that passed its checks: the event is recorded in the inbox with its dedupe key (durable
before WeCom gets its 200), a redelivery is counted and dropped, and a new one is queued.

Handlers are registered per event class and receive one typed `Context`. Events of one lane
(one customer, one group, the tag list) run one after another in arrival order; different
lanes run concurrently on a bounded pool of workers, urgent lanes (a WelcomeCode waiting)
first. Shutdown waits for what is in progress; whatever did not finish stays `pending` in
the inbox and is replayed at the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy.engine import Connection

from bot import inbox
from bot.db import pace
from bot.inbox import Recorded
from bot.logs import event_fields
from bot.routing import NOT_PREFETCHED, Context, Handler, Prefetch, Router
from bot.wecom.events import Event

if TYPE_CHECKING:
    from bot.db.engine import Database
    from bot.services import Services

__all__ = ["MAX_ATTEMPTS", "Context", "Dispatcher", "Handler", "Router"]
log = logging.getLogger(__name__)
Observe = Callable[[str, str, float], None]  # (event kind, outcome, received at): metrics
MAX_ATTEMPTS = 3
ACK_WAIT_S = 2.0  # longest a 200 waits for room among the welcomes (WeCom gives up at 5 s)


class _Job:
    """One recorded event waiting in its lane, with its place in line and its attempts."""

    __slots__ = ("attempt", "prefetched", "recorded", "seq", "taken", "urgent")

    def __init__(self, recorded: Recorded, seq: int,
                 prefetched: asyncio.Task[Any] | None = None) -> None:
        self.recorded = recorded
        self.prefetched = prefetched
        self.seq = seq
        self.attempt = 0
        self.urgent = recorded.event.urgent
        self.taken: asyncio.Future[None] | None = None  # an answer held until a worker takes it

    def release(self) -> None:
        """A worker took it (or it stopped being urgent): its held answer may go."""
        if self.taken is not None and not self.taken.done():
            self.taken.set_result(None)


class Dispatcher:
    """Runs handlers on a bounded pool of workers, urgent lanes first.

    Why a pool and not a task per event: the handlers share the event loop with the HTTP
    endpoint, and every handler in flight adds work to each loop iteration that an
    acknowledgement has to wait behind. A burst of a thousand callbacks used to start a
    thousand handlers at once (ack p99 in the hundreds of ms); with at most
    `max_concurrency` in flight the backlog waits as inbox rows, not as tasks.

    Why 32 by default: on the benchmark's burst 8 gave the fastest acks but the slowest
    welcomes, 256 the reverse. With the real WeCom a welcome is three calls of some tens of
    ms, so 32 in flight is a few hundred welcomes a second, more than WeCom's quota of
    10,000 calls a minute per API allows (and keeps clear of its concurrency limit, 45033).

    Why priorities: a WelcomeCode dies 20 s after the scan, so lanes whose next event is
    `urgent` (a new customer with a code) are served before everything else (group changes,
    edits, tag list), oldest first within each class; one whose code has died meanwhile
    loses its place (nothing to hurry for), so a backlog does not make every code expire.

    Order within a lane is kept: a lane's next event is only offered once the previous one
    has finished. A failed attempt is retried after a delay without holding a worker, and
    the lane stays blocked meanwhile.

    Why `services` may come later (`open`): a restart serves callbacks before the operator
    books, WeCom's token and the rest are ready (bot.app), so that WeCom's callbacks are not
    refused meanwhile. Until then accepted events are recorded as always (durable, deduped,
    before the 200) and held; `open` hands them to the workers in the order recorded.
    """

    def __init__(self, services: Services | None, router: Router | None, max_concurrency: int = 32,
                 retry_delay_s: float = 1.0, *, replica_id: str | None = None,
                 observe: Observe | None = None, db: Database | None = None) -> None:
        if services is None and db is None:
            raise ValueError("a Dispatcher without services yet needs the database")
        self._services: Services = services  # type: ignore[assignment]  # set by `open`
        self._db: Database = db if db is not None else services.db  # type: ignore[union-attr]
        self._held: list[Recorded] | None = [] if services is None else None
        self._arriving: dict[str, int] = {}  # dedupe keys being recorded: copies in flight
        self._early = 0  # prefetches running: with the handlers, at most `max_concurrency`
        self._replica_id = replica_id  # what recorded events are claimed by
        self._observe = observe
        self._router = router if router is not None else Router()  # given by `open`
        self._max = max_concurrency
        self._retry_delay_s = retry_delay_s
        self._lanes: dict[str, deque[_Job]] = {}  # the head of each lane is running or ready
        self._ready: list[tuple[bool, int, str]] = []  # heap: (not urgent, seq, lane)
        self._workers: set[asyncio.Task[None]] = set()
        self._running = 0  # workers inside a handler
        self._aside = 0  # workers inside a handler that stepped aside (`_step_aside`)
        self._aside_waiters: list[asyncio.Future[None]] = []
        self._urgent_ready = 0  # entries of `_ready` that are urgent
        self._retries: dict[int, asyncio.TimerHandle] = {}  # by job seq
        self._seq = 0
        self._outstanding = 0  # submitted and not finished (handled or finally failed)
        self._all_done = asyncio.Event()
        self._all_done.set()
        self.handled = 0
        self.failed = 0
        self.recorded = 0  # callbacks accepted as new
        self.duplicates = 0  # redeliveries of an event already recorded

    async def accept(self, event: Event, received_at: float) -> None:
        """Record (durably, once), then queue without waiting for the handler."""
        pace.serving()  # long reads on the readers make way for callbacks (bot.db.pace)
        key = event.dedupe_key
        # A copy of an event still being recorded starts nothing early: one welcome each.
        prefetched = None if key in self._arriving else self._start_prefetch(event,
                                                                             received_at)
        self._arriving[key] = self._arriving.get(key, 0) + 1
        try:
            recorded = await inbox.record(self._db, event, received_at, self._replica_id)
        finally:
            if self._arriving[key] == 1:
                del self._arriving[key]
            else:
                self._arriving[key] -= 1
        if recorded is None:
            if prefetched is not None:
                prefetched.cancel()
            self.duplicates += 1
            if self._observe is not None:
                self._observe(event.kind, "duplicate", received_at)
            log.info("redelivery of %s ignored (already recorded)", event.dedupe_key,
                     extra={"dedupe_key": event.dedupe_key})
            return
        self.recorded += 1
        if self._observe is not None:
            self._observe(event.kind, "recorded", received_at)
        log.debug("recorded %s as event %d", event.kind, recorded.event_id,
                  extra={"dedupe_key": event.dedupe_key})
        job = self.submit(recorded, prefetched)
        if job is not None and job.urgent and self._urgent_ready > self._max * 2:
            await self._wait_taken(job)

    async def _wait_taken(self, job: _Job) -> None:
        """Hold the answer (the event is recorded already) until a worker takes this new
        customer, while more wait for a worker than the workers take in a moment: answering
        faster than welcoming only piles up WelcomeCodes that die in the queue, whereas a
        slower answer makes WeCom send more slowly (it waits for each answer, up to 5 s).

        Each answer waits for its own customer, not for the whole queue to shrink: answers
        then go out at the rate welcomes start. (A shared "room again" signal made every
        held answer wait for the same moment and all go at once, and a queue that never
        shrank that far held each one the full `ACK_WAIT_S`: measured at 600/s on one core,
        138 callbacks/s.) At most `ACK_WAIT_S`."""
        job.taken = asyncio.get_running_loop().create_future()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(ACK_WAIT_S):  # not wait_for: see bot/outbox/worker.py
                await job.taken

    def _start_prefetch(self, event: Event, received_at: float) -> asyncio.Task[Any] | None:
        """Start the handler's urgent part now (`Router.prefetch`) if a worker will take the
        event at once (not while starting or with a backlog: then it would only add to the
        load, and the urgent-first order would not be kept)."""
        fetch = self._router.prefetcher(event)
        if (fetch is None or self._held is not None or self._ready
                or self._running + self._early >= self._max):
            return None
        task = asyncio.get_running_loop().create_task(self._prefetch(fetch, event, received_at))
        self._early += 1
        task.add_done_callback(self._prefetch_done)
        return task

    def _prefetch_done(self, task: asyncio.Task[Any]) -> None:
        self._early -= 1
        _consume(task)

    async def _prefetch(self, fetch: Prefetch, event: Event, received_at: float) -> Any:
        """`fetch`, unless the event was recorded before (a redelivery: its record will say
        so, and it must not welcome anyone again meanwhile). On SQLite the look runs here on
        the loop, before this event's own record can commit."""
        if await self._db.lookup(inbox.SEEN, {"dedupe_key": event.dedupe_key}) is not None:
            return NOT_PREFETCHED
        return await fetch(self._services, event, received_at)

    def submit(self, recorded: Recorded, prefetched: asyncio.Task[Any] | None = None
               ) -> _Job | None:
        """Queue the event; returns at once (the HTTP answer must not wait for it): its job,
        or None while starting (held until `open`)."""
        self._outstanding += 1
        self._all_done.clear()
        if self._held is not None:  # still starting: handled once `open` is called
            self._held.append(recorded)
            return None
        self._seq += 1
        job = _Job(recorded, self._seq, prefetched)
        lane = recorded.event.lane
        queue = self._lanes.get(lane)
        if queue is not None:
            queue.append(job)  # behind the event of this lane that is running or ready
            return job
        self._lanes[lane] = deque((job,))
        self._offer(lane, job)
        return job

    def _offer(self, lane: str, head: _Job) -> None:
        heapq.heappush(self._ready, (not head.urgent, head.seq, lane))
        self._urgent_ready += head.urgent
        self._grow()

    def _take(self) -> str:
        """The most urgent ready lane, out of the heap."""
        not_urgent, _, lane = heapq.heappop(self._ready)
        if not not_urgent:
            self._urgent_ready -= 1
        if self._aside_waiters and not self._urgent_ready:
            waiters, self._aside_waiters = self._aside_waiters, []
            for waiter in waiters:
                if not waiter.done():
                    waiter.set_result(None)
        return lane

    async def _step_aside(self) -> None:
        """Called by a handler between its urgent part and its bookkeeping (a welcome sent,
        its tags and rows still to do): while new customers wait for a worker, this one
        lets one of them have its place and carries on once none waits. The event's lane
        stays blocked meanwhile, and nothing is marked done before the handler finishes."""
        if not self._urgent_ready or self._aside >= self._max * 4:  # bounded, like the pool
            return
        self._running -= 1
        self._aside += 1
        try:
            self._grow()
            while self._urgent_ready:
                waiter = asyncio.get_running_loop().create_future()
                self._aside_waiters.append(waiter)
                await waiter
        finally:
            self._aside -= 1
            self._running += 1

    def _grow(self) -> None:
        """Start workers while below the maximum and ready lanes outnumber the idle workers
        (every live worker not inside a handler is about to take a lane)."""
        loop = asyncio.get_running_loop()
        while (len(self._workers) - self._aside < self._max
               and len(self._ready) > len(self._workers) - self._running - self._aside):
            worker = loop.create_task(self._work())
            self._workers.add(worker)
            worker.add_done_callback(self._workers.discard)

    async def _work(self) -> None:
        """Take the most urgent ready lane, run its head event, repeat; exit when none is left."""
        try:
            await self._work_loop()
        finally:
            # At once, not in a done-callback: a lane offered between this worker's last look
            # and the callback would count it as idle, start no one, and be stranded.
            task = asyncio.current_task()
            if task is not None:
                self._workers.discard(task)

    async def _work_loop(self) -> None:
        while self._ready:
            lane = self._take()
            queue = self._lanes[lane]
            job = queue[0]
            job.release()
            if job.urgent and self._too_late(job):
                # Its WelcomeCode is dead: the handler only records and tags now, which can
                # wait behind the customers whose welcome can still make it.
                job.urgent = False
                heapq.heappush(self._ready, (True, job.seq, lane))
                continue
            self._running += 1
            try:
                retry_in = await self._attempt(job)
            finally:
                self._running -= 1
            if retry_in is not None:
                self._retries[job.seq] = asyncio.get_running_loop().call_later(
                    retry_in, self._retry, lane, job)
                continue
            queue.popleft()
            self._done()
            if queue:
                self._offer(lane, queue[0])
            else:
                del self._lanes[lane]

    def _too_late(self, job: _Job) -> bool:
        deadline_s = self._services.settings.wecom.welcome_deadline_s
        return time.time() >= job.recorded.received_at + deadline_s

    def _retry(self, lane: str, job: _Job) -> None:
        del self._retries[job.seq]
        self._offer(lane, job)

    def _done(self) -> None:
        self._outstanding -= 1
        if self._outstanding == 0:
            self._all_done.set()

    async def _attempt(self, job: _Job) -> float | None:
        """Run the handler once; the delay before the next attempt, or None when finished."""
        recorded = job.recorded
        event = recorded.event
        handler = self._router.handler_for(event)
        job.attempt += 1
        ctx = Context(self._services, recorded, prefetched=job.prefetched,
                      step_aside=self._step_aside)
        job.prefetched = None  # a retry reads again
        try:
            with event_fields(**_fields(recorded)):  # on every line the handler logs
                if handler is None:
                    log.warning("no handler for %s (%s); recorded only", event.kind,
                                event.dedupe_key)
                else:
                    await handler(ctx, event)
                if not ctx.finished:
                    await ctx.finish()
            self.handled += 1
            return None
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            final = job.attempt >= MAX_ATTEMPTS
            log.warning("handler for %s (event %d) failed, attempt %d/%d: %s", event.kind,
                        recorded.event_id, job.attempt, MAX_ATTEMPTS, exc, exc_info=final,
                        extra=_fields(recorded))
            message = f"{type(exc).__name__}: {exc}"

            def failed(conn: Connection) -> None:
                inbox.mark_failed(conn, recorded.event_id, message, final)

            try:
                await self._services.db.write(failed)
            except Exception:
                log.exception("could not record the failure of event %d", recorded.event_id)
            if final:
                self.failed += 1
                return None
            return self._retry_delay_s * job.attempt

    async def open(self, services: Services, router: Router | None = None) -> int:
        """The start is done: run what was accepted meanwhile, oldest first. Only what this
        replica still holds (on PostgreSQL another replica may have taken over an event
        recorded before this one announced itself alive). Returns how many."""
        held = list(self._held or ())
        mine: set[int] = set()
        if held and self._replica_id is not None:
            me, ids = self._replica_id, [r.event_id for r in held]
            mine = await self._db.write(lambda c: inbox.still_claimed(c, me, ids))
        checked = {r.event_id for r in held}
        waiting, self._held = sorted(self._held or (), key=lambda r: r.event_id), None
        self._services = services
        if router is not None:
            self._router = router
        self._outstanding -= len(waiting)
        if self._outstanding == 0:
            self._all_done.set()
        opened = 0
        for recorded in waiting:
            if recorded.event_id in mine or recorded.event_id not in checked \
                    or self._replica_id is None:
                self.submit(recorded)
                opened += 1
        return opened

    async def replay_pending(self, me: str) -> int:
        """Take over and submit what was recorded but not finished by a process that is
        gone: an earlier run of this bot, or a replica that died. Returns how many."""
        pending = await self._db.write(lambda c: inbox.take_over(c, me))
        for recorded in pending:
            self.submit(recorded)
        if pending:
            log.info("replaying %d events recorded but not handled by a stopped process",
                     len(pending))
        return len(pending)

    @property
    def db(self) -> Database:
        return self._db

    @property
    def busy(self) -> int:
        """Events submitted and not finished yet (running, ready, or waiting for a retry)."""
        return self._outstanding

    async def drain(self, within_s: float | None = None) -> bool:
        """Wait until every submitted event is handled; False if `within_s` ran out first."""
        try:
            async with asyncio.timeout(within_s):
                while self._outstanding:  # one submitted as we woke is waited for too
                    await self._all_done.wait()
        except TimeoutError:
            return False
        return True

    async def cancel_all(self) -> None:
        """Stop now: what did not finish stays `pending` in the inbox and replays at start."""
        for handle in self._retries.values():
            handle.cancel()
        self._retries.clear()
        self._ready.clear()
        self._urgent_ready = 0
        self._lanes.clear()
        if self._held is not None:
            self._held.clear()
        workers = list(self._workers)
        for task in workers:
            task.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        self._outstanding = 0  # nothing is in progress any more; the inbox still has it all
        self._all_done.set()


def _consume(task: asyncio.Task[Any]) -> None:
    """A prefetch nobody awaited (cancelled work, a handler that failed first): its error
    was not a problem of anyone's, so it is not reported as "never retrieved"."""
    if not task.cancelled():
        task.exception()


def _fields(recorded: Recorded) -> dict[str, Any]:
    """The event's keys for structured log lines (bot.logs.EVENT_FIELDS)."""
    return {"dedupe_key": recorded.event.dedupe_key, "event_id": recorded.event_id}
