"""Groups that predate the bot, and joins and leaves it missed, are read back from WeCom.

Callbacks are switched off in the simulator (the bot "was away"), the simulated WeCom
changes, then the sync runs against it over HTTP and the tests read the bot's database.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot import group_sync
from tests.conftest import World

OWNERS = ["linxiaoyu", "zhoujianguo", "xiaoxian"]


async def sync(world: World) -> group_sync.SyncStats:
    services = world.runtime.services
    assert services is not None
    return await group_sync.sync_groups(services.db, services.wecom, OWNERS)


def members_of(world: World, chat_id: str) -> dict[str, str]:
    return dict(world.rows("SELECT member_id, join_scene FROM group_member WHERE chat_id = ?",
                           chat_id))  # type: ignore[arg-type]


async def test_groups_from_before_the_bot_and_missed_changes_are_recorded(world: World) -> None:
    sim = world.sim
    sim.callback_url = None  # the bot hears nothing from here on
    customers = [sim.scan_contact_qr("linxiaoyu", "store-0012-counter", f"顾客{i}")[0]
                 for i in range(3)]
    chat = sim.create_group("linxiaoyu", "果田鲜生·天钥桥路店福利群")
    other = sim.create_group("zhoujianguo", "果田鲜生·长寿路店福利群")
    sim.join_group(chat, customers[0], "qr")
    sim.join_group(chat, customers[1], "link", invitor="linxiaoyu")
    sim.join_group(other, customers[2], "invite", invitor="zhoujianguo")

    first = await sync(world)
    assert (first.listed, first.new_groups, first.failed, first.dismissed) == (2, 2, 0, 0)
    stores = dict(world.rows("SELECT chat_id, store_id FROM customer_group"))
    assert stores == {chat: "0012", other: "0015"}  # the owner's store: SOPs now reach them
    assert members_of(world, chat) == {"linxiaoyu": "invite", customers[0]: "qr",
                                       customers[1]: "link"}
    logged = world.rows("SELECT event_id, member_id, action FROM group_member_log "
                        "WHERE chat_id = ? AND member_id = ?", chat, customers[1])
    assert len(logged) == 1 and logged[0][0] < 0 and logged[0][2] == "join"

    again = await sync(world)  # nothing changed: nothing written
    assert (again.unchanged, again.joins, again.leaves) == (2, 0, 0)

    sim.leave_group(chat, customers[0])
    sim.dismiss_group(other)
    third = await sync(world)
    assert (third.leaves, third.dismissed) == (1, 1)
    assert customers[0] not in members_of(world, chat)
    assert world.rows("SELECT how FROM group_member_log WHERE member_id = ? AND action = "
                      "'leave'", customers[0]) == [("sync",)]
    [(dismissed_at,)] = world.rows("SELECT dismissed_at FROM customer_group WHERE chat_id = ?",
                                   other)
    assert dismissed_at is not None and members_of(world, other) == {}


async def test_a_failed_list_never_marks_groups_dismissed(world: World) -> None:
    sim = world.sim
    chat = sim.create_group("linxiaoyu", "果田鲜生·天钥桥路店福利群")
    await world.settle()
    sim.fail_next("externalcontact/groupchat/list", 60011)  # no permission: final, not retried
    stats = await sync(world)
    assert stats.dismissed == 0
    assert world.rows("SELECT dismissed_at FROM customer_group WHERE chat_id = ?",
                      chat) == [(None,)]


class TestAtStart:
    @pytest.fixture
    def bot_overrides(self) -> dict[str, dict[str, Any]]:
        return {"wecom": {"group_sync_hours": 24}}

    async def test_the_bot_syncs_at_start_and_records_when(self, world: World) -> None:
        for _ in range(200):
            if world.rows("SELECT value FROM bot_state WHERE key = 'group_sync_at'"):
                break
            await asyncio.sleep(0.02)
        assert world.sim.call_count("externalcontact/groupchat/list") == 1
        assert world.rows("SELECT value FROM bot_state WHERE key = 'group_sync_at'")
