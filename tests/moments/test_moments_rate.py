"""WeCom's 10 moment tasks a minute per corp: past it the simulator answers 45009 and the
bot waits the limit out; every store's moment is still made exactly once."""

from __future__ import annotations

from typing import Any

import pytest

from bot.simulator import SimOptions
from tests.conftest import World
from tests.moments.test_moments_outbox import ADD, SOP, STORES, TUESDAY, moments_made
from tests.outbox.test_sop_delivery import scheduler_for, until


@pytest.fixture
def sim_options() -> SimOptions:
    # the corp limit of 10 a minute, scaled down: 2 tasks per 2-second window
    return SimOptions(callback_retry_interval_s=0.05, callback_timeout_s=2.0,
                      moment_tasks_per_minute=2, rate_window_s=2.0)


@pytest.fixture
def bot_overrides() -> dict[str, dict[str, Any]]:
    # the bot paced faster than the corp allows, as when two replicas share the corp
    return {"sop": {"check_after_minutes": 0.001, "moment_per_minute": 6000}}


async def test_past_the_corp_limit_the_bot_waits_and_makes_each_moment_once(
        world: World) -> None:
    await scheduler_for(world).plan(SOP, TUESDAY, now=TUESDAY.timestamp())
    await until(lambda: moments_made(world), within_s=60)
    sim = world.sim
    assert sim.moments.refused_for_rate > 0  # WeCom did refuse some: 45009
    assert len(sim.moments.moments) == len(STORES)
    assert sim.call_count(ADD) == len(STORES) + sim.moments.refused_for_rate
    assert world.rows("SELECT count(*) FROM outbox_send WHERE via = 'moment' "
                      "AND status = 'failed'")[0][0] == 0
