"""Journeys end to end: a customer enters on an event the bot recorded from WeCom's
callbacks, gets each step on its day as a one-to-one 群发 from the simulator, and leaves by
each stop rule. Real bot, real simulator, real SQLite file; the test owns the clock."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bot.journeys import record_member_event
from tests.conftest import World
from tests.journeys.support import ADD, Journeys, journeys_world, texts


@pytest.fixture
def bot_overrides() -> dict[str, dict[str, Any]]:
    return {"sop": {"check_after_minutes": 0.001}, "wecom": {"request_timeout_s": 1.0}}


@pytest.fixture
async def jw(world: World, tmp_path: Path) -> Journeys:
    world.sim.add_staff("xiaoxian", "小鲜")
    return journeys_world(world, tmp_path)


async def new_friend(jw: Journeys, name: str = "王丽", state: str = "persona-xiaoxian",
                     staff: str = "xiaoxian") -> str:
    ext, _ = jw.world.sim.scan_contact_qr(staff, state, name)
    await jw.world.settle()
    return ext


async def test_a_new_friend_gets_the_first_week_on_their_own_days(jw: Journeys) -> None:
    """Added the persona today (day 0): tips on days 1, 2 and 4 at 12:00, each once, as a
    one-to-one 群发 from 小鲜; nothing on day 3."""
    world = jw.world
    ext = await new_friend(jw)
    other = await new_friend(jw, "赵女士", "store-0012-counter", "linxiaoyu")  # not persona
    await jw.now()
    assert jw.entries(ext) == [("first-week", "active", "")]
    assert jw.entries(other) == []

    await jw.at(1, "00:05", plan=True)
    assert jw.steps(ext) == {"tip-ripeness": ("planned", "")}
    assert world.sim.call_count(ADD) == 0  # planned for 12:00, not sent at midnight
    await jw.at(1, "12:00")
    await jw.at(1, "12:00")  # a second firing of the same minute sends nothing more
    assert world.sim.call_count(ADD) == 1
    task = world.sim.groupsend_tasks()[0]
    assert (task.chat_type, task.sender) == ("single", "xiaoxian")
    assert ["芒果" in t for t in texts(world, ext)] == [True]

    await jw.at(2, "00:05", plan=True)
    await jw.at(2, "12:00")
    await jw.at(3, "00:05", plan=True)
    await jw.at(3, "12:00")
    assert len(texts(world, ext)) == 2
    assert jw.steps(ext)["tip-storage"] == ("queued", "")
    await jw.followed()
    assert world.rows("SELECT status FROM outbox_delivery WHERE chat_id = ?", ext) == [
        ("sent",), ("sent",)]


async def test_buying_stops_the_journey_before_the_next_step(jw: Journeys) -> None:
    """She buys on day 2 at 09:00 (the member data reports it): the 12:00 step is skipped
    with the reason, its reservation freed, and no later step is planned."""
    world = jw.world
    ext = await new_friend(jw)
    await jw.now()
    await jw.at(1, "00:05", plan=True)
    await jw.at(1, "12:00")
    await jw.at(2, "00:05", plan=True)
    assert jw.steps(ext)["tip-storage"] == ("planned", "")
    bought = jw.clock.day(2, "09:00")
    db = world.runtime.services.db  # type: ignore[union-attr]
    assert await db.write(lambda c: record_member_event(
        c, ext, "purchase", bought, order_id="A-1001", amount=36.8)) is True
    assert await db.write(lambda c: record_member_event(
        c, ext, "purchase", bought, order_id="A-1001", amount=36.8)) is False  # a repeat
    await jw.at(2, "12:00")
    assert jw.entries(ext) == [("first-week", "stopped", "bought")]
    steps = jw.steps(ext)
    assert steps["tip-storage"] == ("skipped", "stopped: bought")
    assert steps["first-order-coupon"] == ("skipped", "stopped: bought")
    assert world.sim.call_count(ADD) == 1
    assert len(texts(world, ext)) == 1
    assert ("cancelled",) in world.rows(
        "SELECT status FROM outbox_delivery WHERE chat_id = ?", ext)


async def test_an_edit_mid_journey_keeps_her_place_and_the_preview_says_what_changes(
        jw: Journeys) -> None:
    """On day 2 the operator adds a day-1 step, rewords day 4 and moves the coupon to day 5:
    she keeps her place (progress is keyed by step id), does not get the step now behind
    her, gets the new words, and the preview says all of it before it happens."""
    from datetime import timedelta

    from bot.journeys.preview import customer_preview

    world = jw.world
    ext = await new_friend(jw)
    await jw.now()
    for day in (1, 2):
        await jw.at(day, "00:05", plan=True)
        await jw.at(day, "12:00")
    path = jw.folder / "first_week.yaml"
    text = path.read_text(encoding="utf-8")
    text = text.replace("      - id: tip-storage\n", "      - id: tip-wash\n        day: 1\n"
                        "        at: \"12:00\"\n        text: 草莓吃之前再洗，洗完别泡水。\n"
                        "      - id: tip-storage\n")
    text = text.replace("这周当季的是砂糖橘和冬枣", "本周当季：赣南脐橙")
    text = text.replace("        day: 6\n", "        day: 5\n")
    path.write_text(text, encoding="utf-8")
    assert await jw.live.reload() is True

    db = world.runtime.services.db  # type: ignore[union-attr]
    lines = await db.read(lambda c: customer_preview(c, jw.live.value, ext,
                                                     jw.today + timedelta(days=1), 14))
    shown = "\n".join(lines)
    assert "today is day 3" in shown
    assert "tip-wash (day 1) is behind them" in shown
    assert "day 4 tip-season" in shown and "赣南脐橙" in shown
    assert "day 5 first-order-coupon" in shown
    assert "leaves if: buys; gets the tag 旅程/不再打扰; deletes xiaoxian" in shown

    for day in (3, 4, 5):
        await jw.at(day, "00:05", plan=True)
        await jw.at(day, "12:00")
        await jw.at(day, "17:30")
    got = texts(world, ext)
    assert len(got) == 4 and "赣南脐橙" in got[2] and "首单券" in got[3]
    assert "tip-wash" not in jw.steps(ext)
    assert jw.entries(ext) == [("first-week", "finished", "last step")]


async def test_preview_of_a_date_counts_customers_per_step_and_staff(jw: Journeys) -> None:
    """The planner in dry mode: what tomorrow sends, per step and staff member; nothing is
    written, and the real plan then does exactly that."""
    from datetime import timedelta

    from bot.journeys.preview import date_preview

    world = jw.world
    for name in ("王丽", "李娜"):
        await new_friend(jw, name)
    await jw.now()
    db = world.runtime.services.db  # type: ignore[union-attr]
    tomorrow = jw.today + timedelta(days=1)
    lines = await db.read(lambda c: date_preview(c, jw.live.value, tomorrow, {}))
    assert "  12:00 first-week/tip-ripeness (day 1): 2 customers · 小鲜(xiaoxian) 2" in lines
    assert world.count("journey_step") == 0
    await jw.at(1, "00:05", plan=True)
    assert world.rows("SELECT COUNT(*) FROM journey_step WHERE status = 'planned'") == [(2,)]
