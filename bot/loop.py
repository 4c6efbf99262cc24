"""The event loop every entry point runs on (uvloop where available, asyncio's otherwise),
and how every entry point serves on it.

uvloop makes aiohttp's server and client roughly a third cheaper per request (measured in
scripts/bench_callbacks.py), which is the bot's main CPU cost; it is a pure speed-up with
the same semantics, so the fallback is safe on platforms without it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from aiohttp import web

T = TypeVar("T")

STOP_GRACE_S = 10.0
"""How long a stop waits for requests in flight, and then for connections still open.

aiohttp closes idle keep-alive connections at a stop, but one accepted in the instant the
listener closes is missed and waits out this grace in full (reproduced: a connection
accepted three loop turns before the stop holds it for the whole timeout). aiohttp's default
of 60 s per stage made such a stop take one to two minutes; WeCom gives up on a callback
after 5 s anyway, so nothing is gained by waiting longer than this.
"""


def new_event_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - Windows, or an install without it
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


def run(main: Coroutine[Any, Any, T]) -> T:
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        return runner.run(main)


def app_runner(app: web.Application) -> web.AppRunner:
    """The runner the bot, the simulator, the demo and the tests serve with."""
    return web.AppRunner(app, access_log=None, shutdown_timeout=STOP_GRACE_S)
