"""The simulator process's full garbage collections, moved to when it is idle.

The simulator keeps every customer, code and message it has seen, so its heap grows during a
benchmark. CPython's automatic full collection walks all of it on the event loop, which then
answers nothing: measured under `scripts/bench_callbacks.py` at 600 callbacks/s for 30 s,
pauses of 100 to 380 ms, several a run. Every welcome that reached the simulator during one
was recorded late, whichever server sent it, so the servers' p99s measured the simulator's
collector and their ratio swung from run to run.

Here the young generations are collected as usual, but a full collection runs only when the
process has been idle for a moment (a benchmark's pause between runs) or, under unbroken
load, once every `FULL_EVERY_S`, so cyclic garbage is still freed. For the `python -m
bot.simulator` process only: in-process simulators (the tests) keep the default collector.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time

log = logging.getLogger(__name__)

CHECK_EVERY_S = 0.25
IDLE_S = 1.0  # no young collection for this long: nobody is being served
FULL_EVERY_S = 60.0  # under unbroken load, still a full collection this often
_NEVER = 1 << 30  # a third threshold no count reaches: no automatic full collection


async def collect_when_idle() -> None:
    """Run for the life of the process (a task on its loop)."""
    before = gc.get_threshold()
    gc.set_threshold(before[0], before[1], _NEVER)
    last_young = _young_collections()
    busy_at = last_full = time.monotonic()
    try:
        while True:
            await asyncio.sleep(CHECK_EVERY_S)
            now, count = time.monotonic(), _young_collections()
            if count != last_young:
                busy_at, last_young = now, count
            if last_full < busy_at and (now - busy_at >= IDLE_S
                                        or now - last_full >= FULL_EVERY_S):
                started = time.perf_counter()
                freed = gc.collect()
                last_full, last_young = time.monotonic(), _young_collections()
                log.debug("full collection: %d objects freed in %.0f ms", freed,
                          (time.perf_counter() - started) * 1000)
    finally:
        gc.set_threshold(*before)


def _young_collections() -> int:
    return int(gc.get_stats()[0]["collections"])
