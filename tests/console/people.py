"""The members' and journeys' day the console's Members and Journeys pages are read on.

Real flows only: three customers add store staff (WeCom callbacks), the till posts signed
purchases (a 银卡, a 普通 member who later buys into 银卡, a 金卡 member of the other store),
王丽 answers the questionnaire through her signed link, and a two-step journey (entered on
adding staff, left on buying) runs on the test's clock: day 1 reaches all three, 赵敏 buys,
day 2 reaches the two others. The console's job rolls it up between the purchases, so the
second 银卡 is a move.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

from bot.journeys import record_member_event
from bot.members.links import make_link
from tests.conftest import REPO, World
from tests.console.support import (
    MANAGER_0012,
    MANAGER_0015,
    OPERATOR,
    STRANGER,
    console_overrides,
    roll_up,
)
from tests.journeys.support import Journeys, journeys_world
from tests.members.support import POS_SECRET, post_purchases, purchase
from tests.members.test_questionnaire import submit

JOURNEY = """  new-friends:
    title: 新朋友两天关怀
    entry: {event: staff_added}
    stop: {purchase: true}
    steps:
      - {id: hello, day: 1, at: "10:00", text: "{{ store.name }}欢迎您，今天到店有试吃"}
      - {id: tips, day: 2, at: "10:00", text: 水果怎么挑、怎么存，店长整理了一份小贴士}
"""


def people_overrides(tmp_path: Path) -> dict[str, dict[str, Any]]:
    """The console's settings, reading a copy of sop/ whose journeys are `JOURNEY` only
    (the pages name its title and steps in order, as in production)."""
    sop = tmp_path / "console-sop"
    shutil.copytree(REPO / "sop", sop)
    for path in (sop / "journeys").glob("*.yaml"):
        if path.name != "settings.yaml":
            path.unlink()
    settings = (sop / "journeys" / "settings.yaml").read_text(encoding="utf-8")
    (sop / "journeys" / "settings.yaml").write_text(  # as Journeys.only writes it
        "timezone: Asia/Shanghai\nallowance:\n  per_day: 1\n  precedence: []\n"
        + settings[settings.index("\ntags:"):], encoding="utf-8")
    (sop / "journeys" / "test.yaml").write_text("journeys:\n" + JOURNEY, encoding="utf-8")
    overrides = console_overrides()
    return {**overrides, "paths": {"sop_dir": sop, "templates_dir": REPO / "templates"}}


def secrets_for_people(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_POS_SECRET", POS_SECRET)
    monkeypatch.setenv("BOT_LINK_KEY", "test-link-key")


def console_staff(world: World) -> None:
    world.sim.add_staff(OPERATOR, "韩梅梅")
    world.sim.add_staff(STRANGER, "小鲜")


async def people_day(world: World, tmp_path: Path) -> Journeys:
    console_staff(world)
    jw = journeys_world(world, tmp_path)
    jw.only(JOURNEY)
    sim = world.sim
    wang, _ = sim.scan_contact_qr(MANAGER_0012, "store-0012-counter", "王丽")
    zhao, _ = sim.scan_contact_qr(MANAGER_0012, "store-0012-counter", "赵敏")
    sim.scan_contact_qr(MANAGER_0015, "store-0015-counter", "李雷")
    await world.settle()
    await jw.now()
    assert len(world.rows("SELECT id FROM journey_entry")) == 3

    status, _ = await post_purchases(world, [
        purchase("T-0012-1", "M00120001", "350.00"),
        purchase("T-0012-2", "M00120002", "20.00"),
        purchase("T-0015-1", "M00150001", "700.00", store_id="0015")])
    assert status == 200
    await roll_up(world)
    status, _ = await post_purchases(world, [purchase("T-0012-3", "M00120002", "400.00")])
    assert status == 200

    url = make_link(world.bot_url, "welcome", wang, MANAGER_0012)
    status, _ = await submit(world, url, [("situation", "2"), ("wish", "B"), ("taste", "酸甜")])
    assert status == 200

    await jw.at(1, "00:05", plan=True)
    await jw.at(1, "10:00")
    db = world.runtime.services.db  # type: ignore[union-attr]
    bought = jw.clock.day(1, "18:00")
    await db.write(lambda c: record_member_event(c, zhao, "purchase", bought,
                                                 order_id="T-0012-9", amount="36.80"))
    await jw.at(2, "00:05", plan=True)
    await jw.at(2, "10:00")
    jw.clock.live()
    await roll_up(world)
    return jw
