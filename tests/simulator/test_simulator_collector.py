"""The simulator process's full collections wait for a quiet moment (bot/simulator/collector):
none while it is busy, one once it is idle, one after `FULL_EVERY_S` of unbroken load, and
the collector's own thresholds back when it stops."""

from __future__ import annotations

import asyncio
import gc

import pytest

from bot.simulator import collector


def full_collections() -> int:
    return int(gc.get_stats()[2]["collections"])


async def busy(seconds: float) -> None:
    """Allocate as a serving simulator does: young collections keep happening."""
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        garbage = [[i] for i in range(2000)]
        del garbage
        await asyncio.sleep(0.001)


@pytest.fixture
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collector, "CHECK_EVERY_S", 0.02)
    monkeypatch.setattr(collector, "IDLE_S", 0.2)
    monkeypatch.setattr(collector, "FULL_EVERY_S", 60.0)


async def test_no_full_collection_while_busy_and_one_when_idle(quick: None) -> None:
    before_thresholds = gc.get_threshold()
    task = asyncio.get_running_loop().create_task(collector.collect_when_idle())
    try:
        await asyncio.sleep(0.05)
        start = full_collections()
        await busy(0.6)
        assert full_collections() == start  # three idle periods' worth of time, all busy
        await asyncio.sleep(0.4)
        assert full_collections() == start + 1
        await asyncio.sleep(0.4)
        assert full_collections() == start + 1  # idle, nothing new: not again
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    assert gc.get_threshold() == before_thresholds


async def test_under_unbroken_load_a_full_collection_still_comes(
        quick: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(collector, "FULL_EVERY_S", 0.3)
    task = asyncio.get_running_loop().create_task(collector.collect_when_idle())
    try:
        await asyncio.sleep(0.05)
        start = full_collections()
        await busy(0.8)
        assert full_collections() >= start + 1
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
