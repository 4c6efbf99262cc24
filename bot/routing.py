"""What handlers are written against: the `Context` each gets and the `Router` that maps
event classes to handlers (and to the part a handler starts with, `Router.prefetch`).

Apart from bot.dispatch, which runs them (lanes, workers, retries, replay), so that a
handler module imports only this.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.engine import Connection

from bot import inbox
from bot.db.statements import Statements
from bot.inbox import Recorded
from bot.wecom.events import Event

if TYPE_CHECKING:
    from bot.services import Services

E = TypeVar("E", bound=Event)
T = TypeVar("T")
Handler = Callable[["Context", Any], Awaitable[None]]
Prefetch = Callable[["Services", Any, float], Coroutine[Any, Any, Any]]
NOT_PREFETCHED: Any = object()  # a prefetch that found nothing to do early: the handler does it


@dataclass
class Context:
    """What a handler gets: the shared services and the event's own record."""

    services: Services
    recorded: Recorded
    finished: bool = field(default=False)
    prefetched: asyncio.Task[Any] | None = None  # see `Router.prefetch`
    step_aside: Callable[[], Awaitable[None]] | None = None  # see `after_urgent`

    async def read(self, fetch: Callable[[], Awaitable[T]]) -> T:
        """What the prefetch got (first attempt only: `Router.prefetch`), else `fetch()` now."""
        task, self.prefetched = self.prefetched, None
        if task is not None:
            result: T = await task
            if result is not NOT_PREFETCHED:
                return result
        return await fetch()

    async def after_urgent(self) -> None:
        """The urgent part is done (a welcome is out): what follows (tags, rows) waits while
        other new customers wait for a worker (bot.dispatch `Dispatcher._step_aside`)."""
        if self.step_aside is not None:
            await self.step_aside()

    @property
    def event_id(self) -> int:
        return self.recorded.event_id

    @property
    def received_at(self) -> float:
        return self.recorded.received_at

    async def finish(self, effects: Callable[[Connection], None] | Statements | None = None
                     ) -> None:
        """Write the handler's effects and mark the event done, in one transaction.
        Effects given as `Statements` (plain SQL) may commit in the writer process."""
        write: Callable[[Connection], Any]
        if effects is None:
            write = Statements((inbox.done_step(self.event_id),))
        elif isinstance(effects, Statements):
            write = effects.then([inbox.done_step(self.event_id)])
        else:
            write = functools.partial(_then_done, effects, self.event_id)
        # Nothing but this handler waits for it (the callback was answered when it was
        # recorded): plain SQL may wait for other handlers' rows and commit with them. A
        # Python write would take the batch it joins out of the writer process: no waiting.
        await self.services.db.write(write, linger=isinstance(write, Statements))
        self.finished = True


def _then_done(effects: Callable[[Connection], None], event_id: int, conn: Connection) -> None:
    effects(conn)
    inbox.mark_done(conn, event_id)


class Router:
    """Event class -> handler. Subclasses inherit their parent's handler unless they have one."""

    def __init__(self) -> None:
        self._handlers: dict[type[Event], Handler] = {}
        self._prefetch: dict[type[Event], Prefetch] = {}

    def prefetch(self, cls: type[E]) -> Callable[[Prefetch], Prefetch]:
        """The part the handler of `cls` starts with, `fn(services, event, received_at)`:
        started when the event arrives, while it is being recorded, so the two overlap (the
        handler takes its result with `Context.read`), and not at all for a copy of an
        event recorded or being recorded. It runs before the event is durable and may be
        cancelled: it never writes to the database, and its only side effects are ones WeCom
        itself takes once (a WelcomeCode's welcome: a second send gets 41051)."""
        def register(fn: Prefetch) -> Prefetch:
            self._prefetch[cls] = fn
            return fn
        return register

    def prefetcher(self, event: Event) -> Prefetch | None:
        return self._prefetch.get(type(event))

    def on(self, *classes: type[E]) -> Callable[[Handler], Handler]:
        def register(fn: Handler) -> Handler:
            for cls in classes:
                self._handlers[cls] = fn
            return fn
        return register

    def merge(self, other: Router) -> None:
        self._handlers.update(other._handlers)
        self._prefetch.update(other._prefetch)

    def handler_for(self, event: Event) -> Handler | None:
        for cls in type(event).__mro__:
            handler = self._handlers.get(cls)
            if handler is not None:
                return handler
        return None
