"""Each (journey, customer, step) goes out once: across a bot that dies mid-call and is
restarted on the same database, and across two replicas planning and dispatching at once."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.app import RUNTIME
from bot.db.engine import Database
from bot.journeys import record_member_event
from bot.journeys.runner import JourneyRunner
from tests.conftest import World, start_bot
from tests.journeys.support import ADD, SHANGHAI, Journeys, journeys_world, texts, until

JOURNEY = """  t:
    title: 复购券
    entry: {event: first_purchase}
    steps:
      - {id: coupon, day: 1, at: "00:01", text: "{{ store.name }}复购券，3 天有效"}
"""


@pytest.fixture
def bot_overrides() -> dict[str, dict[str, Any]]:
    return {"sop": {"check_after_minutes": 0.001}, "wecom": {"request_timeout_s": 1.0}}


@pytest.fixture
async def jw(world: World, tmp_path: Path) -> Journeys:
    jw = journeys_world(world, tmp_path)
    jw.only(JOURNEY, precedence="[t]")
    jw.clock.live()  # real time: the restarted bot's worker runs on it too
    return jw


async def bought_yesterday(jw: Journeys, names: list[str]) -> list[str]:
    """Customers of two stores whose first purchase was yesterday: day 1 is today, 00:01."""
    sim = jw.world.sim
    found = []
    for i, name in enumerate(names):
        staff, state = [("linxiaoyu", "store-0012-counter"),
                        ("zhoujianguo", "store-0015-counter")][i % 2]
        ext, _ = sim.scan_contact_qr(staff, state, name)
        found.append(ext)
    await jw.world.settle()
    today = datetime.now(SHANGHAI).date()
    noon = datetime.combine(today - timedelta(days=1), datetime.min.time(), SHANGHAI)
    at = (noon + timedelta(hours=12)).timestamp()
    db = jw.world.runtime.services.db  # type: ignore[union-attr]
    for n, ext in enumerate(found):
        await db.write(lambda c, e=ext, k=n: record_member_event(
            c, e, "first_purchase", at, order_id=f"F{k}"))
    return found


async def test_killed_mid_call_the_restarted_bot_sends_nothing_twice(jw: Journeys) -> None:
    world = jw.world
    customers = await bought_yesterday(jw, ["王丽", "赵女士"])
    runtime = world.runtime
    assert runtime.outbox is not None and runtime.replica is not None
    world.sim.delay_next(ADD, 0.5, times=2)  # both 群发 in flight when the bot dies
    await jw.runner.tick(plan=True)
    await until(lambda: [s for (s,) in world.rows("SELECT status FROM outbox_send")]
                == ["sending", "sending"])
    await until(lambda: world.sim.faults_pending(ADD) == 0)  # both reached WeCom
    await runtime.outbox.stop(grace_s=0)  # the process dies: no answer recorded
    await runtime.replica.stop()
    await asyncio.sleep(0.7)

    runner, _ = await start_bot(world.settings, world.secrets)  # same database
    try:
        restarted = runner.app[RUNTIME]
        assert restarted.services is not None and restarted.outbox is not None
        again = JourneyRunner(restarted.services.db, jw.live, wake=restarted.outbox.wake)
        await again.tick(plan=True)  # the restarted leader plans and dispatches again
        await until(lambda: {s for (s,) in world.rows("SELECT status FROM outbox_send")}
                    == {"created"})
        assert restarted.outbox.stats.reconciled_found == 2
        world.sim.confirm_pending_groupsends(everyone=True)
    finally:
        await runner.cleanup()
    assert world.sim.call_count(ADD) == 2
    for ext in customers:
        assert len(texts(world, ext)) == 1
    assert {s for (s,) in world.rows("SELECT status FROM journey_step")} == {"queued"}


async def test_two_replicas_planning_and_dispatching_at_once_send_each_step_once(
        jw: Journeys) -> None:
    world = jw.world
    customers = await bought_yesterday(jw, [f"顾客{i}" for i in range(40)])
    other_db = Database(world.settings.database.url)  # a second replica's connections
    try:
        other = JourneyRunner(other_db, jw.live)
        results = await asyncio.gather(jw.runner.tick(plan=True), other.tick(plan=True),
                                       return_exceptions=True)
        for result in results:  # a replica that lost a race rolled back: nothing written
            assert not isinstance(result, BaseException) or "taken" in str(result) \
                or "UNIQUE" in str(result), result
        await jw.runner.tick()
        await other.tick()
    finally:
        await other_db.close()
    await jw.sent()
    world.sim.confirm_pending_groupsends(everyone=True)
    assert world.sim.call_count(ADD) == 2  # one 群发 per staff member
    assert world.rows("SELECT COUNT(*), COUNT(DISTINCT entry_id) FROM journey_step") == [
        (40, 40)]
    assert sum(len(texts(world, ext)) for ext in customers) == 40
    assert world.sim.groupsend_doubles() == {}


async def test_a_big_sweep_enters_everyone_a_few_rows_a_write(
        jw: Journeys, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sweep writes its entries a few hundred a group commit (here: two), so a campaign's
    burst does not hold the event loop; stopped half-way, the next sweep finishes it."""
    monkeypatch.setattr("bot.journeys.runner.ENTER_ROWS_PER_WRITE", 2)
    found = await bought_yesterday(jw, [f"顾客{i}" for i in range(5)])
    db = jw.world.runtime.services.db  # type: ignore[union-attr]
    before = db.commits
    assert await jw.runner.enter(jw.clock()) == 5
    assert db.commits - before >= 4  # three parts of at most two rows, then the marks
    assert all(jw.entries(ext) for ext in found)
    assert await jw.runner.enter(jw.clock()) == 0  # nothing twice
