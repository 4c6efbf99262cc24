"""Sends planned before a restart go out while the restarted bot is still reading its books.

The outbox needs only the database and WeCom. It used to start after the operator books,
the tag list and the dispatcher: at 10,000 stores a restart in the middle of a chain-wide
slot left it idle about 3 s more (bench_fanout's kill phase). Here the second start is held
inside WeCom's tag-list call (the simulator answers it late), which comes after the books
are read, and the slot's 群发 must reach WeCom before that start is done.
"""

from __future__ import annotations

import asyncio

from aiohttp import web

from bot.app import RUNTIME, build_app
from bot.loop import app_runner
from tests.conftest import World
from tests.outbox.test_sop_delivery import (  # noqa: F401 (bot_overrides: a fixture)
    ADD,
    MORNING,
    bot_overrides,
    deliver,
    make_groups,
    scheduler_for,
    send_statuses,
    until,
)

HOLD_S = 4.0  # the restarted bot's start waits this long in get_corp_tag_list


async def test_sends_resume_before_the_restarted_bot_has_read_its_books(world: World) -> None:
    await make_groups(world)
    runtime = world.runtime
    assert runtime.outbox is not None and runtime.replica is not None
    await runtime.outbox.stop()  # the process dies before its outbox sent anything
    await runtime.replica.stop()
    await scheduler_for(world).plan("morning-new-arrivals", MORNING, now=MORNING.timestamp())
    assert send_statuses(world) == ["queued", "queued"]

    world.sim.delay_next("externalcontact/get_corp_tag_list", HOLD_S)
    app = build_app(world.settings, world.secrets)
    restarted = app[RUNTIME]
    runner = app_runner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        await until(lambda: world.sim.call_count(ADD) == 2, within_s=HOLD_S - 1)
        assert restarted.running is None  # the start is still waiting for the tag list
        await asyncio.wait_for(restarted.started(), HOLD_S + 10)
        await deliver(world, 2)
    finally:
        await runner.cleanup()
    assert world.sim.call_count(ADD) == 2
    assert world.sim.groupsend_doubles() == {}
