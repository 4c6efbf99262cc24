"""The new friend's first week carries the customer's own questionnaire link, the one the
persona's welcome uses (bot.members.links): it opens the form for that customer only, and
each customer's step is a 群发 of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.channels.test_welcome_questionnaire_link import LINK, PUBLIC
from tests.channels.test_welcome_questionnaire_link import link_key as link_key  # autouse
from tests.conftest import World
from tests.journeys.support import ADD, Journeys, journeys_world, texts


@pytest.fixture
def bot_overrides() -> dict[str, dict[str, Any]]:
    return {"sop": {"check_after_minutes": 0.001}, "wecom": {"request_timeout_s": 1.0},
            "sidebar": {"public_url": PUBLIC}}


@pytest.fixture
async def jw(world: World, tmp_path: Path) -> Journeys:
    world.sim.add_staff("xiaoxian", "小鲜")
    return journeys_world(world, tmp_path)


async def test_the_first_week_carries_each_customers_own_link(jw: Journeys) -> None:
    world = jw.world
    wang, _ = world.sim.scan_contact_qr("xiaoxian", "persona-xiaoxian", "王丽")
    li, _ = world.sim.scan_contact_qr("xiaoxian", "persona-xiaoxian", "李娜")
    await world.settle()
    await jw.now()
    for day in (1, 2, 3, 4):
        await jw.at(day, "00:05", plan=True)
        await jw.at(day, "12:00")
    sent = world.sim.call_count(ADD)
    assert sent == 4  # days 1 and 2 one 群发 for both; day 4 one each (their own links)
    for ext in (wang, li):
        day4 = texts(world, ext)[2]
        assert day4.startswith("这周当季的是砂糖橘和冬枣") and "填个小问卷" in day4
        [link] = LINK.findall(day4)
        assert f"c={ext}" in link and "u=xiaoxian" in link
        async with world.http.get(link.replace(PUBLIC, world.bot_url)) as resp:
            assert resp.status == 200
    assert "/q/" not in texts(world, wang)[0]
