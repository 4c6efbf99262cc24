"""The rollups the pages read: built by the console's job from what the bot recorded, on a
real store day; WeCom's owner figures fetched from the simulator; group classes from the
operators' rules, and a broken rules file reported at its line while the last good rules
keep classifying."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.console.days import zone
from bot.console.health import HealthBook
from bot.console.rollup import RollupJob
from bot.console.wecom_figures import CHINA, fetch_missing
from tests.conftest import REPO, World
from tests.console.support import (
    MANAGER_0012,
    OPERATOR,
    console_overrides,
    roll_up,
    signed_in,
    store_day,
)
from tests.replies_support import MANAGER_0015


@pytest.fixture
def bot_overrides() -> dict[str, dict[str, Any]]:
    return console_overrides()


def today() -> str:
    return datetime.now(zone("Asia/Shanghai")).date().isoformat()


def group_day(world: World, chat: str) -> dict[str, int]:
    columns = ("members", "joins", "leaves", "removals", "rejoins", "sent", "failed")
    [row] = world.rows(f"SELECT {', '.join(columns)} FROM console_group_day "
                       "WHERE chat_id = ? AND day = ?", chat, today())
    return dict(zip(columns, row, strict=True))


async def test_group_days_count_joins_leaves_removals_and_rejoins(world: World):
    chats = await store_day(world)
    [(li,)] = world.rows("SELECT external_userid FROM member WHERE name = '李雷'")
    world.sim.join_group(chats["0015"], li, "qr")  # back again: a re-join
    ext, _ = world.sim.scan_contact_qr(MANAGER_0015, "store-0015-counter", "韩寒")
    world.sim.join_group(chats["0015"], ext, "invite", invitor=MANAGER_0015)
    await world.settle()
    world.sim.leave_group(chats["0015"], ext, removed=True)
    await world.settle()
    await roll_up(world)
    day = group_day(world, chats["0015"])
    # joins: the owner (the group was made today), 李雷 twice, 韩寒; within one second each
    assert (day["joins"], day["leaves"], day["removals"], day["rejoins"]) == (4, 1, 1, 1)
    [(now,)] = world.rows("SELECT count(*) FROM group_member WHERE chat_id = ?", chats["0015"])
    assert day["members"] == now
    assert group_day(world, chats["0012-a"])["joins"] == 2  # the owner and 王丽
    assert sum(group_day(world, c)["failed"] for c in chats.values()) >= 1  # the refused 群发
    # the store and chain totals the charts read
    [(members, joins)] = world.rows("SELECT members, joins FROM console_group_day "
                                    "WHERE chat_id = '*' AND day = ?", today())
    assert joins == 4 + 2 + 1  # 0015's, 0012-a's owner and 王丽, 0012-b's owner
    assert members == sum(group_day(world, c)["members"] for c in chats.values())
    # rebuilt again, nothing doubles
    await roll_up(world)
    assert group_day(world, chats["0015"])["joins"] == 4


async def test_channel_funnel_page_and_csv(world: World):
    await store_day(world)
    await roll_up(world)
    manager = await signed_in(world, MANAGER_0012)
    async with manager, manager.get(f"{world.bot_url}/console/channels?format=csv"
                                    "&table=funnel") as resp:
        assert resp.status == 200
        rows = list(csv.reader(io.StringIO((await resp.text()).lstrip("\ufeff"))))
    assert rows[0][:7] == ["渠道", "扫码添加", "已欢迎", "已打标签", "已入群", "7天仍在",
                           "30天仍在"]
    [funnel] = rows[1:]
    assert funnel[1:5] == ["1", "1", "1", "1"]  # 王丽: scanned, welcomed, tagged, joined
    assert funnel[7] == "0"  # no cohort is 7 days old yet: nothing counted as stayed


async def test_wecom_owner_figures_are_fetched_and_shown_per_owner(world: World):
    chats = await store_day(world)
    yesterday = datetime.now(CHINA).replace(hour=0, minute=0, second=0) - timedelta(days=1)
    for chat in world.sim.world.chats.values():
        chat.create_time = int(yesterday.timestamp()) + 60
    world.sim.statistics.say(chats["0012-a"], MANAGER_0012, at=yesterday.timestamp() + 600)
    services = world.runtime.services
    assert services is not None
    fetched = await fetch_missing(services.db, services.wecom)
    assert fetched[0] == yesterday.date() and len(fetched) == 14
    assert world.rows("SELECT chat_total, msg_total FROM wecom_owner_day WHERE owner = ? "
                      "AND day = ?", MANAGER_0012, yesterday.date().isoformat()) == [(2, 1)]
    assert await fetch_missing(services.db, services.wecom) == []  # kept, not asked again
    op = await signed_in(world, OPERATOR)
    async with op, op.get(f"{world.bot_url}/console/group?chat={chats['0012-a']}") as resp:
        html = await resp.text()
    assert "按群主按天，不是本群" in html and "没有单个群的数字" in html


RULES = """\
window_days: 7
classes:
  - name: spam
    label: 广告群
    when:
      - leaves + removals >= 1
  - name: dead
    label: 死群
    when: ["members <= 1"]
default:
  name: value
  label: 价值群
"""


async def test_groups_are_classified_by_the_operators_rules(world: World, tmp_path: Path):
    chats = await store_day(world)
    rules = tmp_path / "group_health.yaml"
    rules.write_text(RULES, encoding="utf-8")
    book = HealthBook(rules)
    services = world.runtime.services
    assert services is not None
    job = RollupJob(services.db, zone("Asia/Shanghai"), 3600.0, book)
    await job.run_once()
    classes = dict(world.rows("SELECT chat_id, health FROM console_group_health"))
    assert classes == {chats["0015"]: "spam", chats["0012-b"]: "dead",
                       chats["0012-a"]: "value"}
    # a broken edit: refused at its line, the last good rules keep classifying
    rules.write_text(RULES.replace("members <= 1", "members <= lots"), encoding="utf-8")
    await job.run_once()
    assert book.problems and book.problems[0].startswith(f"{rules}:9:")
    assert "members <= lots" in book.problems[0]
    assert dict(world.rows("SELECT chat_id, health FROM console_group_health")) == classes


def test_the_shipped_rules_file_is_valid():
    book = HealthBook(REPO / "sop" / "group_health.yaml")
    rules = book.current()
    assert rules is not None and book.problems == []
    assert set(rules.labels()) == {"spam", "dead", "chicken_rib", "value"}
    assert rules.labels()["chicken_rib"] == "鸡肋群"
    _ = date.today()


class TestTheJobInTheRunningBot:
    """The bot keeps the rollups itself: nobody calls the job here."""

    @pytest.fixture
    def bot_overrides(self) -> dict[str, dict[str, Any]]:
        overrides = console_overrides()
        overrides["console"] = {**overrides["console"], "rollup_every_s": 0.3}
        return overrides

    async def test_rollups_and_wecom_figures_appear_on_their_own(self, world: World):
        from tests.outbox.test_sop_delivery import until

        chats = await store_day(world)
        await until(lambda: world.rows("SELECT count(*) FROM console_group_day WHERE "
                                       "chat_id = ? AND day = ?", chats["0015"], today())
                    == [(1,)] and world.count("console_group_health") == 3
                    and world.count("wecom_owner_day") > 0)
        assert world.sim.call_count("externalcontact/groupchat/statistic") >= 14
