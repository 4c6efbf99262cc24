"""Per-store times through the real scheduler, the simulator and a real database.

The shipped flash sale is announced 20 minutes before each store's own window
(``at: "data.window.start - 20m"``: 14:40 for the default 15:00 window, 16:40 for store
0112's 17:00 one) and goodnight half an hour before each store closes
(``at: "store.closes - 30m"``). The scheduler has one slot per distinct time; each slot
goes to the stores whose time it is, and each manager is reminded at their store's time.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.conftest import World
from tests.outbox.test_sop_delivery import MORNING, scheduler_for, until

DAY = MORNING  # a past Wednesday, 2026-11-18
MANAGERS = {"0012": "linxiaoyu", "0107": "wangtingting", "0112": "liuyang"}


@pytest.fixture
def bot_overrides() -> dict[str, dict[str, Any]]:
    return {"sop": {"check_after_minutes": 0.001}, "wecom": {"request_timeout_s": 1.0}}


def at(hour: int, minute: int) -> float:
    return DAY.replace(hour=hour, minute=minute).timestamp()


def posts(world: World) -> list[tuple[str, str, str]]:
    return world.rows("SELECT sop, slot_local, store_id FROM owner_post "  # type: ignore[return-value]
                      "ORDER BY slot_at, store_id")


async def test_each_store_hears_the_flash_sale_and_goodnight_at_its_own_time(
        world: World) -> None:
    for store, manager in MANAGERS.items():
        world.sim.create_group(manager, f"果田鲜生·{store}福利群")
    await world.settle()
    scheduler = scheduler_for(world)
    await scheduler.sweep(now=at(14, 30))
    for now in [at(14, 41), at(16, 41), at(21, 31), at(22, 1), at(22, 31)]:
        await scheduler.sweep(now=now)
    day = f"{DAY:%Y-%m-%d}"
    assert posts(world) == [
        ("flash-sale", f"{day} 14:40", "0012"),
        ("flash-sale", f"{day} 14:40", "0107"),
        ("flash-sale", f"{day} 16:40", "0112"),  # its window is 17:00-19:00
        ("goodnight", f"{day} 21:30", "0112"),  # closes 22:00
        ("goodnight", f"{day} 22:00", "0012"),  # closes 22:30
        ("goodnight", f"{day} 22:30", "0107"),  # open until 23:00
    ]
    slots = world.rows("SELECT sop, slot_local, status FROM sop_slot ORDER BY slot_at")
    assert [(s, t[-5:], st) for s, t, st in slots] == [
        ("flash-sale", "14:40", "planned"), ("flash-sale", "16:40", "planned"),
        ("goodnight", "21:30", "planned"), ("goodnight", "22:00", "planned"),
        ("goodnight", "22:30", "planned"),
    ]

    await until(lambda: all(len(world.sim.app_messages_for(m)) == 2
                            for m in MANAGERS.values()))
    said = {store: [m.content.split("\n", 1)[0] for m in world.sim.app_messages_for(manager)]
            for store, manager in MANAGERS.items()}
    assert said["0112"][0].startswith("16:40 今日秒杀该发了")
    assert said["0012"][0].startswith("14:40 今日秒杀该发了")
    assert said["0107"][1].startswith("22:30 晚安该发了")
    (payload,) = world.rows("SELECT payload FROM owner_post WHERE store_id = '0112' "
                            "AND sop = 'flash-sale'")[0]
    assert "17:00-19:00" in json.loads(payload)["text"]  # announces its own window


async def test_a_restart_past_one_stores_time_misses_only_that_slot(world: World) -> None:
    for store, manager in MANAGERS.items():
        world.sim.create_group(manager, f"果田鲜生·{store}福利群")
    await world.settle()
    scheduler = scheduler_for(world)
    await scheduler.sweep(now=at(14, 30))
    # down from 14:30 to 16:45: the 14:40 slot (grace 15 min) is missed, 16:40 goes late
    plans = await scheduler.sweep(now=at(16, 45))
    assert [(p.sop, f"{p.slot:%H:%M}", p.groups) for p in plans] == [("flash-sale", "16:40", 1)]
    slots = dict(world.rows("SELECT slot_local, status FROM sop_slot"))
    assert {k[-5:]: v for k, v in slots.items()} == {"14:40": "missed", "16:40": "planned"}
