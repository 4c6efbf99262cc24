"""The port opens before the start is done: callbacks that come meanwhile are not lost.

A restart used to keep the port closed until the operator books were read, the token and
tag list fetched, the election and the replay done; WeCom's callbacks in that time were
refused and WelcomeCodes died. Now the bot records callbacks (durable, deduped, 200) as
soon as its database is open, and handles them once the start is done. Here the start is
held inside WeCom's tag-list call (the simulator answers it late) while customers scan:
their callbacks must be answered 200 during the start, and each customer welcomed exactly
once after it, with the channel's welcome (the channel book was not there when they came).
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from bot.app import RUNTIME, build_app
from bot.loop import app_runner
from bot.simulator import Simulator
from tests.conftest import add_demo_staff, make_secrets, make_settings

HOLD_S = 1.5  # how long the simulator keeps the start waiting in get_corp_tag_list


SECRETS = make_secrets()


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    secrets_ = SECRETS
    simulator = Simulator(secrets_.corp_id, secrets_.secret, secrets_.token, secrets_.aes_key,
                          agent_id=1000002)
    await simulator.start()
    add_demo_staff(simulator)
    try:
        yield simulator
    finally:
        await simulator.stop()


async def test_callbacks_during_the_start_are_answered_and_welcomed_once(
        sim: Simulator, tmp_path: Path) -> None:
    sim.delay_next("externalcontact/get_corp_tag_list", HOLD_S)
    app = build_app(make_settings(tmp_path, sim.base_url), SECRETS)
    runtime = app[RUNTIME]
    runner = app_runner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        host, port = runner.addresses[0][:2]
        sim.callback_url = f"http://{host}:{port}/wecom/callback"
        customers = [sim.scan_contact_qr("linxiaoyu", "store-0012-counter", f"早到顾客{i}")[0]
                     for i in range(3)]
        await sim.wait_callbacks_delivered(5.0)

        # answered while the start is still waiting for WeCom: recorded, not handled yet
        assert runtime.running is None, "the start should still be held by the simulator"
        assert [d.status for d in sim.deliveries] == ["delivered"] * 3
        with sqlite3.connect(tmp_path / "bot.db") as conn:
            statuses = [r[0] for r in conn.execute("SELECT status FROM inbox_event")]
        assert statuses == ["pending"] * 3
        assert not sim.welcomes

        await asyncio.wait_for(runtime.started(), 10.0)
        assert runtime.dispatcher is not None
        assert await runtime.dispatcher.drain(10.0)
        for ext in customers:
            welcomes = sim.welcomes_for(ext)
            assert len(welcomes) == 1, ext
            assert "早到顾客" in welcomes[0].text and "店长" in welcomes[0].text  # the channel's
        with sqlite3.connect(tmp_path / "bot.db") as conn:
            rows = conn.execute("SELECT status, channel FROM welcome").fetchall()
            done = conn.execute("SELECT count(*) FROM inbox_event WHERE status = 'done'"
                                ).fetchone()[0]
        assert rows == [("sent", "store-counter")] * 3
        assert done == 3
    finally:
        await runner.cleanup()


async def test_a_stop_during_the_start_leaves_accepted_callbacks_for_the_next_start(
        sim: Simulator, tmp_path: Path) -> None:
    sim.delay_next("externalcontact/get_corp_tag_list", HOLD_S)
    settings, secrets_ = make_settings(tmp_path, sim.base_url), SECRETS
    app = build_app(settings, secrets_)
    runner = app_runner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    sim.callback_url = f"http://{host}:{port}/wecom/callback"
    ext, _ = sim.scan_contact_qr("linxiaoyu", "takeout-card", "早到顾客")
    await sim.wait_callbacks_delivered(5.0)
    await runner.cleanup()  # stopped before the start was done: nothing handled yet
    assert not sim.welcomes_for(ext)

    app = build_app(settings, secrets_)
    runner = app_runner(app)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        await asyncio.wait_for(app[RUNTIME].started(), 10.0)
        dispatcher = app[RUNTIME].dispatcher
        assert dispatcher is not None
        assert await dispatcher.drain(10.0)
        assert len(sim.welcomes_for(ext)) == 1
    finally:
        await runner.cleanup()


def test_the_restart_check_of_the_schema_finds_alembics_head() -> None:
    """A restart skips Alembic when the database is at `known_head` (bot.db.engine): that
    must be the head Alembic itself computes from the migration scripts."""
    from bot.db.engine import head_revision, known_head

    assert known_head() == head_revision()


async def test_bot_run_with_a_broken_channel_book_still_exits_with_the_error(
        tmp_path: Path) -> None:
    """The books are read after the port opens now; a broken one must still stop the
    process (exit 2, the problem as file:line), not leave a bot that answers and never
    welcomes anyone."""
    import os
    import re
    import shutil
    import sys

    from bot.simulator.local import free_port, secrets_env
    from tests.conftest import REPO

    sop_dir = tmp_path / "sop"
    shutil.copytree(REPO / "sop", sop_dir)
    book = sop_dir / "channels.yaml"
    with book.open("a", encoding="utf-8") as f:
        f.write("channels: [broken\n")
    config = tmp_path / "bot.toml"
    config.write_text(
        f'[server]\nhost = "127.0.0.1"\nport = {free_port()}\n'
        f'[database]\nurl = "sqlite:///{tmp_path / "bot.db"}"\n'
        '[wecom]\napi_base_url = "http://127.0.0.1:9/cgi-bin/"\n'
        f'[paths]\nsop_dir = "{sop_dir}"\ntemplates_dir = "{REPO / "templates"}"\n', "utf-8")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", "--config", str(config), cwd=REPO,
        env={**os.environ, **secrets_env(SECRETS)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output, _ = await asyncio.wait_for(proc.communicate(), 60.0)
    assert proc.returncode == 2
    assert re.search(r"channels\.yaml:\d+:\d+: YAML syntax error", output.decode())
