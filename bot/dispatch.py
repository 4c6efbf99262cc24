"""From a recorded event to its handler: routing, per-lane order, retries, replay.

Handlers are registered per event class and receive one typed `Context`. Events of one lane
(one customer, one group, the tag list) run one after another in arrival order; different
lanes run concurrently, up to `max_concurrency`. Every task is held in a set until it ends,
so shutdown can wait for them; whatever did not finish stays `pending` in the inbox and is
replayed at the next start.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.engine import Connection

from bot import inbox
from bot.events import Event
from bot.inbox import Recorded

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger("bot.dispatch")
E = TypeVar("E", bound=Event)
Handler = Callable[["Context", Any], Awaitable[None]]
MAX_ATTEMPTS = 3


@dataclass
class Context:
    """What a handler gets: the shared services and the event's own record."""

    services: Services
    recorded: Recorded
    finished: bool = field(default=False)

    @property
    def event_id(self) -> int:
        return self.recorded.event_id

    @property
    def received_at(self) -> float:
        return self.recorded.received_at

    async def finish(self, effects: Callable[[Connection], None] | None = None) -> None:
        """Write the handler's effects and mark the event done, in one transaction."""
        event_id = self.event_id

        def _write(conn: Connection) -> None:
            if effects is not None:
                effects(conn)
            inbox.mark_done(conn, event_id)

        await self.services.db.write(_write)
        self.finished = True


class Router:
    """Event class -> handler. Subclasses inherit their parent's handler unless they have one."""

    def __init__(self) -> None:
        self._handlers: dict[type[Event], Handler] = {}

    def on(self, *classes: type[E]) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            for cls in classes:
                self._handlers[cls] = fn
            return fn
        return register

    def merge(self, other: Router) -> None:
        self._handlers.update(other._handlers)

    def handler_for(self, event: Event) -> Handler | None:
        for cls in type(event).__mro__:
            handler = self._handlers.get(cls)  # type: ignore[arg-type]
            if handler is not None:
                return handler
        return None


class Dispatcher:
    def __init__(self, services: Services, router: Router, max_concurrency: int = 256,
                 retry_delay_s: float = 1.0) -> None:
        self._services = services
        self._router = router
        self._slots = asyncio.Semaphore(max_concurrency)
        self._retry_delay_s = retry_delay_s
        self._tasks: set[asyncio.Task[None]] = set()
        self._lane_tails: dict[str, asyncio.Task[None]] = {}
        self.handled = 0
        self.failed = 0

    def submit(self, recorded: Recorded) -> None:
        """Schedule the handler; returns at once (the HTTP answer must not wait for it)."""
        lane = recorded.event.lane
        previous = self._lane_tails.get(lane)
        task = asyncio.get_running_loop().create_task(self._run(recorded, previous))
        self._lane_tails[lane] = task
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._forget(lane, t))

    def _forget(self, lane: str, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if self._lane_tails.get(lane) is task:
            del self._lane_tails[lane]

    async def _run(self, recorded: Recorded, previous: asyncio.Task[None] | None) -> None:
        if previous is not None:
            await asyncio.wait([previous])  # order within the lane; its outcome is its own
        async with self._slots:
            await self._handle(recorded)

    async def _handle(self, recorded: Recorded) -> None:
        event = recorded.event
        handler = self._router.handler_for(event)
        for attempt in range(1, MAX_ATTEMPTS + 1):
            ctx = Context(self._services, recorded)
            try:
                if handler is None:
                    log.warning("no handler for %s (%s); recorded only", event.kind,
                                event.dedupe_key)
                else:
                    await handler(ctx, event)
                if not ctx.finished:
                    await ctx.finish()
                self.handled += 1
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                final = attempt == MAX_ATTEMPTS
                log.warning("handler for %s (event %d) failed, attempt %d/%d: %s", event.kind,
                            recorded.event_id, attempt, MAX_ATTEMPTS, exc, exc_info=final)
                message = f"{type(exc).__name__}: {exc}"
                try:
                    await self._services.db.write(
                        lambda s, m=message, f=final: inbox.mark_failed(s, recorded.event_id, m, f))
                except Exception:
                    log.exception("could not record the failure of event %d", recorded.event_id)
                if final:
                    self.failed += 1
                    return
                await asyncio.sleep(self._retry_delay_s * attempt)

    async def replay_pending(self) -> int:
        """Submit what an earlier run recorded but did not finish. Returns how many."""
        pending = await self._services.db.read(inbox.pending)
        for recorded in pending:
            self.submit(recorded)
        if pending:
            log.info("replaying %d events recorded before the last stop", len(pending))
        return len(pending)

    @property
    def busy(self) -> int:
        return len(self._tasks)

    async def drain(self, within_s: float | None = None) -> bool:
        """Wait until every submitted event is handled; False if `within_s` ran out first."""
        deadline = None if within_s is None else time.monotonic() + within_s
        while self._tasks:
            remaining = None if deadline is None else deadline - time.monotonic()
            if remaining is not None and remaining <= 0:
                return False
            await asyncio.wait(set(self._tasks), timeout=remaining)
        return True

    async def cancel_all(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
