"""Keep the bot's long-lived objects out of the garbage collector's way.

Once started, the bot holds hundreds of thousands of objects that live as long as it does:
the books (stores, channels, 话术, SOPs, journeys), their compiled templates, the modules.
CPython's full collection walks every one of them, on the event loop, and nothing else
runs meanwhile: at demo size one took up to 126 ms (measured under
`scripts/bench_callbacks.py` at 300 callbacks/s), three times in five seconds, which is
the welcome's whole p99; at 10,000 stores it is several times longer.

`settle` collects once and then freezes what is left (`gc.freeze`): frozen objects are
never walked again, so a later collection only looks at what was made since. It runs at the
end of the start and shortly after a book is swapped, when the new book is the long-lived
set and the old one has become garbage (unfrozen first, so its cycles are collected once
and nothing frozen is kept alive for ever).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

log = logging.getLogger(__name__)

SETTLE_DELAY_S = 2.0
"""After a swap, wait this long: several books swapped together (an edit touching channels
and SOPs) settle once, and the old book's last readers have let go of it."""

_enabled = False  # by `bot run` (bot/cli.py): a test process runs many bots, and what it
# freezes would outlive the test that made it (finalizers, ResourceWarnings, much later)
_pending: tuple[asyncio.AbstractEventLoop, asyncio.TimerHandle] | None = None


def enable() -> None:
    """For the serving process only (`bot run`, the demo): see `_enabled`."""
    global _enabled
    _enabled = True


def settle() -> None:
    """Collect everything once, then freeze the survivors (one pause, instead of many)."""
    if not _enabled:
        return
    started = time.perf_counter()
    gc.unfreeze()
    gc.collect()
    gc.freeze()
    log.debug("heap settled in %.0f ms: %d objects frozen",
              (time.perf_counter() - started) * 1000, gc.get_freeze_count())


def settle_soon() -> None:
    """`settle` once, `SETTLE_DELAY_S` from now, on the running loop (calls meanwhile join
    it); without a running loop (a command-line check), nothing: the process ends soon."""
    global _pending
    if not _enabled:
        return
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return
    if _pending is not None and _pending[0] is loop and not _pending[1].cancelled():
        return  # (a handle of a loop that has ended never runs: scheduled anew)

    def _run() -> None:
        global _pending
        _pending = None
        settle()

    _pending = (loop, loop.call_later(SETTLE_DELAY_S, _run))
