"""The elected replica runs the journeys: the book loads after the start, the day is planned,
APScheduler holds the day's plan and each step time, and a replica that stops leading stops
them."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from bot.journeys.runner import PLANNED_MARK
from tests.conftest import World


@pytest.fixture
def bot_overrides() -> dict[str, dict[str, Any]]:
    return {"sop": {"scheduler": True, "reload_poll_s": 0.05}}


async def test_the_leader_runs_the_journeys_and_stops_them_when_deposed(world: World) -> None:
    running = world.runtime.running
    assert running is not None
    deadline = time.monotonic() + 20
    while not world.rows("SELECT value FROM bot_state WHERE key = ?", PLANNED_MARK):
        assert time.monotonic() < deadline, "the day was never planned"
        await asyncio.sleep(0.05)
    runner = running.leader.journeys
    assert runner is not None and runner.live.current is not None
    assert "sugar-control" in runner.live.current.names()
    jobs = runner.job_ids()
    assert "journeys:0005" in jobs and "journeys:1000" in jobs  # the plan, a step time
    await running.leader.follow()
    assert running.leader.journeys is None
    await asyncio.sleep(0.1)  # APScheduler's asyncio flavour stops on the loop's next turn
    assert runner.job_ids() == []
