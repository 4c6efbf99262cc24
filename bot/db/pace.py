"""Long reads on a reader thread hand the GIL back to the event loop every half millisecond.

A journeys sweep at 600 callbacks a second turns 20,000 to 50,000 rows into events and
entries on a reader thread (bot/journeys/runner.py), a day's plan many more. That is Python,
so it holds the GIL, and the event loop, wanting it back after each socket call, waited up to
the interpreter's switch interval (5 ms) every time: for the 0.2 to 0.4 s a sweep took, every
callback was 8 to 17 ms late, a third of a run's slowest 1 % (docs/capacity.md, tenth round).

So code that works through many rows calls `pace()` every `ROWS` rows. On a reader thread,
while callbacks are coming in (`serving`, called for each), after `WORK_S` of work since its
last rest it sleeps `REST_S`, and the loop, which was waiting for the GIL, takes it at once:
the read takes ten times as long and the loop hardly notices it. Measured at 600 callbacks a
second: of a run's slowest 180 welcomes, a sweep made about 130; resting 2 ms after each
half millisecond, about 50; 4.5 ms, fewer (docs/capacity.md, tenth round). With no callback
for `SERVING_S` (a night's plan) reads never rest. Anywhere but on a reader (the event loop,
where SQLite's Python writes run, or a test calling the code directly) `pace()` does nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

T = TypeVar("T")

ROWS = 64  # rows or items between two `pace()`s: a fraction of `WORK_S` of Python
WORK_S = 0.0005
REST_S = 0.0045  # a tenth of the GIL for a long read while callbacks come in
SERVING_S = 1.0

_local = threading.local()
rests = 0  # times a reader rested, for tests and the curious
_serving_until = 0.0


def serving() -> None:
    """A callback came in (bot.dispatch): for `SERVING_S`, long reads rest now and then."""
    global _serving_until
    _serving_until = time.perf_counter() + SERVING_S


def reading() -> None:
    """A read begins on this reader thread (bot.db.engine): `pace` may rest on it."""
    _local.since = time.perf_counter()


def serving_now() -> bool:
    """Whether a callback came in during the last `SERVING_S` (bot.db.checkpoint asks)."""
    return time.perf_counter() < _serving_until


def pace() -> None:
    """Rest if this reader thread has worked `WORK_S` since it last did, while serving."""
    since: float | None = getattr(_local, "since", None)
    if since is None:
        return
    now = time.perf_counter()
    if now - since < WORK_S:
        return
    if serving_now():
        global rests
        rests += 1
        time.sleep(REST_S)
        now = time.perf_counter()
    _local.since = now


def rows(cursor: Any) -> Iterator[Any]:
    """A driver's cursor or SQLAlchemy's result, `ROWS` at a time, `pace()` between."""
    while part := cursor.fetchmany(ROWS):
        yield from part
        pace()


def each(items: Iterable[T]) -> Iterator[T]:
    """`items`, with a `pace()` every `ROWS` of them (Python work over thousands)."""
    for n, item in enumerate(items):
        if n % ROWS == 0:
            pace()
        yield item
