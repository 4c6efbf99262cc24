"""Each customer's one 群发 a day, shared by journeys and member-targeted SOPs in the
operator's precedence: what does not fit is postponed or dropped as the step says, and
recorded; the SOP planner's own quota check sees what journeys reserved."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from bot.app import load_sop_book
from bot.outbox.scheduler import SopScheduler
from tests.conftest import World
from tests.journeys.support import SHANGHAI, Journeys, journeys_world, texts
from tests.journeys.test_journey_rules import customer, one_step

GOLD_SOP = """timezone: Asia/Shanghai
sops:
  gold-evening:
    at: "18:10"
    to: {members: {tags: [会员等级/金卡会员]}}
    template: sop/member_day_gold.j2
    data: data/member_day.yaml
"""


@pytest.fixture
def bot_overrides() -> dict[str, dict[str, Any]]:
    return {"sop": {"check_after_minutes": 0.001, "group_send_quota": "day1"},
            "wecom": {"request_timeout_s": 1.0}}


@pytest.fixture
async def jw(world: World, tmp_path: Path) -> Journeys:
    jw = journeys_world(world, tmp_path)
    (tmp_path / "sop" / "gold.yaml").write_text(GOLD_SOP, encoding="utf-8")
    return jw


async def gold_customer(jw: Journeys) -> tuple[str, SopScheduler]:
    ext = await customer(jw)
    gold = jw.world.sim.admin_add_tag("会员等级", "金卡会员")
    await jw.world.settle()
    jw.world.sim.edit_contact_tags("linxiaoyu", ext, add_tag_ids=[gold])
    await jw.world.settle()
    runtime = jw.world.runtime
    assert runtime.services is not None and runtime.outbox is not None
    sops = SopScheduler(runtime.services.db, jw.settings, lambda: load_sop_book(jw.settings),
                        runtime.outbox)
    jw.runner.sop_book = lambda: sops.book
    return ext, sops


async def evening(jw: Journeys, sops: SopScheduler, day: int) -> Any:
    slot = datetime.fromtimestamp(jw.clock.day(day, "18:10"), SHANGHAI)
    plan = await sops.plan("gold-evening", slot, now=jw.clock())
    await jw.sent()
    return plan


async def test_a_journey_above_the_sop_keeps_the_day_and_the_sop_holds_back(
        jw: Journeys) -> None:
    jw.only(one_step("{event: staff_added}"), precedence="[t, sop:gold-evening]")
    ext, sops = await gold_customer(jw)
    await jw.now()
    await jw.at(1, "00:05", plan=True)
    await jw.at(1, "10:00")
    plan = await evening(jw, sops, 1)
    assert plan.held == [ext]  # the SOP planner saw the journey's 群发 of the day
    assert texts(jw.world, ext) == ["天钥桥路店的问候"]
    assert jw.world.rows("SELECT d.status FROM outbox_delivery d JOIN sop_slot s "
                         "ON s.id = d.slot_id WHERE s.sop = 'gold-evening'") == [("held_quota",)]


async def test_an_sop_above_the_journey_takes_the_day_and_the_step_waits(
        jw: Journeys) -> None:
    """The step is postponed to the next day, then the next step to the day after."""
    jw.only(one_step("{event: staff_added}"), precedence="[sop:gold-evening, t]")
    ext, sops = await gold_customer(jw)
    await jw.now()
    await jw.at(1, "00:05", plan=True)
    assert jw.steps(ext) == {"hello": ("postponed", "allowance: postponed to the next day")}
    await jw.at(1, "10:00")
    plan = await evening(jw, sops, 1)
    assert plan.held == [] and plan.groups == 1
    jw.runner.sop_book = lambda: None  # the operator switches the SOP off after one evening
    await jw.at(2, "00:05", plan=True)
    await jw.at(2, "10:00")
    assert jw.steps(ext)["again"][0] == "postponed"
    await jw.at(3, "00:05", plan=True)
    await jw.at(3, "10:00")
    got = texts(jw.world, ext)
    assert len(got) == 3 and "金卡会员券" in got[0]
    assert got[1:] == ["天钥桥路店的问候", "第二天的问候"]


async def test_a_step_that_drops_is_recorded_as_skipped_for_the_allowance(
        jw: Journeys) -> None:
    steps = one_step("{event: staff_added}").replace(
        'id: hello, day: 1,', 'id: hello, day: 1, if_full: drop,')
    jw.only(steps, precedence="[sop:gold-evening, t]")
    ext, _ = await gold_customer(jw)
    await jw.now()
    await jw.at(1, "00:05", plan=True)
    assert jw.steps(ext) == {"hello": ("skipped", "allowance: no 群发 left for the customer "
                                                  "today")}
