"""The event loop every entry point runs on: uvloop where available, asyncio's otherwise.

uvloop makes aiohttp's server and client roughly a third cheaper per request (measured in
scripts/bench_callbacks.py), which is the bot's main CPU cost; it is a pure speed-up with
the same semantics, so the fallback is safe on platforms without it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows, or an install without it
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(main: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main)
