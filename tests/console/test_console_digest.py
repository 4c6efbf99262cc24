"""The weekly group-health digest: each store manager gets their stores' classes by app
message, the managers' robot the chain's, each exactly once however often it is planned."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from bot.books.stores import StoreDirectory
from bot.console.days import zone
from bot.console.digest import due, week_start
from bot.console.health import HealthBook
from bot.console.weekly import weekly_digest
from tests.conftest import REPO, World
from tests.console.support import MANAGER_0012, console_overrides, roll_up, store_day
from tests.outbox.test_sop_delivery import until


@pytest.fixture
def bot_overrides() -> dict[str, dict[str, Any]]:
    return console_overrides()


async def test_digest_reaches_each_manager_and_the_robot_once(world: World,
                                                              monkeypatch: pytest.MonkeyPatch):
    await store_day(world)
    await roll_up(world)
    chat = world.sim.create_group(MANAGER_0012, "果田鲜生·店长工作群")
    monkeypatch.setenv("WECOM_ROBOT_STORE_MANAGERS",
                       world.sim.add_robot(chat, name="store-managers"))
    tz = zone("Asia/Shanghai")
    plan = weekly_digest(world.runtime, tz, HealthBook(REPO / "sop" / "group_health.yaml"))
    monday = week_start(date.today())
    managers = {s.manager_userid for s in StoreDirectory.load(REPO / "sop" / "stores.yaml").all()}
    assert await plan(monday) == len(managers) + 1
    assert await plan(monday) == 0  # the week is planned once

    def digests(userid: str) -> list[str]:
        return [m.content for m in world.sim.app_messages_for(userid) if "群健康周报" in m.content]

    await until(lambda: all(len(digests(u)) == 1 for u in managers)
                and len(world.sim.group_messages(chat)) == 1)
    [text] = digests(MANAGER_0012)
    assert "天钥桥路店：广告群 0" in text and "价值群 2" in text and "长寿路店" not in text
    assert "运营控制台「群健康」" in text
    [posted] = world.sim.group_messages(chat)
    assert "全部门店" in posted.text and "价值群" in posted.text


def test_the_digest_is_due_on_monday_from_nine():
    tz = zone("Asia/Shanghai")
    from datetime import datetime

    monday_8 = datetime(2026, 11, 30, 8, 59, tzinfo=tz).timestamp()
    monday_9 = datetime(2026, 11, 30, 9, 0, tzinfo=tz).timestamp()
    tuesday = datetime(2026, 12, 1, 10, 0, tzinfo=tz).timestamp()
    assert due(monday_8, tz) is None and due(tuesday, tz) is None
    assert due(monday_9, tz) == date(2026, 11, 30)
