"""`bot run` records callbacks before the bot is imported (bot.frontdoor), and the bot's
start handles them: each customer who scanned while the process was starting is welcomed
exactly once, a redelivery to the door is not recorded twice, a forged callback is refused
with nothing written, and there is no door on a database the bot still has to migrate."""

from __future__ import annotations

import asyncio
import socket
import sqlite3
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from bot.app import build_app
from bot.db.engine import make_engine, migrate
from bot.frontdoor import open_front_door
from bot.loop import app_runner
from bot.simulator import Simulator
from bot.wecom.crypto import CallbackCrypto
from tests.conftest import add_demo_staff, make_secrets, make_settings

SECRETS = make_secrets()


def _migrated(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'bot.db'}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    return url


async def _post(url: str, plaintext: str, signature: str | None = None) -> int:
    crypto = CallbackCrypto(SECRETS.token, SECRETS.aes_key, SECRETS.corp_id)
    message = crypto.encrypt(plaintext, str(int(time.time())))
    params = message.query()
    if signature is not None:
        params = {**params, "msg_signature": signature}
    async with aiohttp.ClientSession() as http, \
            http.post(url, params=params, data=message.post_body(SECRETS.corp_id)) as resp:
        return resp.status


async def test_callbacks_the_front_door_recorded_are_welcomed_once_by_the_bot(
        tmp_path: Path) -> None:
    sim = Simulator(SECRETS.corp_id, SECRETS.secret, SECRETS.token, SECRETS.aes_key,
                    agent_id=1000002)
    await sim.start()
    add_demo_staff(sim)
    settings = make_settings(tmp_path, sim.base_url, _migrated(tmp_path))
    sock = socket.create_server(("127.0.0.1", 0), backlog=128)
    base = f"http://127.0.0.1:{sock.getsockname()[1]}"
    door = open_front_door(sock, settings, SECRETS)
    assert door is not None
    runner: web.AppRunner | None = None
    try:
        sim.callback_url = f"{base}/wecom/callback"
        customers = [sim.scan_contact_qr("linxiaoyu", "store-0012-counter", f"早到顾客{i}")[0]
                     for i in range(3)]
        await sim.wait_callbacks_delivered(10.0)
        assert all(d.status == "delivered" for d in sim.deliveries)
        again = await _post(f"{base}/wecom/callback", sim.deliveries[0].plaintext)
        forged = await _post(f"{base}/wecom/callback", sim.deliveries[1].plaintext, "0" * 40)
        assert (again, forged) == (200, 403)
        async with aiohttp.ClientSession() as http:
            for path in ("/healthz", "/readyz"):  # 200 only once the bot itself serves
                async with http.get(f"{base}{path}") as resp:
                    assert resp.status == 503 and (await resp.json())["database"] == "starting"
        assert not any(sim.welcomes_for(c) for c in customers)  # recorded, not handled
        with sqlite3.connect(tmp_path / "bot.db") as conn:
            rows = conn.execute("SELECT status, claimed_by FROM inbox_event").fetchall()
        assert rows == [("pending", None)] * 3  # the redelivery and the forgery: no row

        door.close()  # what `bot run` does before the bot's start
        app = build_app(settings, SECRETS)
        runner = app_runner(app)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        for _ in range(300):  # welcomed, then tagged and recorded
            with sqlite3.connect(tmp_path / "bot.db") as conn:
                done = conn.execute("SELECT COUNT(*) FROM inbox_event WHERE status = 'done'"
                                    ).fetchone()
            if done == (3,):
                break
            await asyncio.sleep(0.05)
        for customer in customers:
            [welcome] = sim.welcomes_for(customer)
            assert "早到顾客" in welcome.text
        with sqlite3.connect(tmp_path / "bot.db") as conn:
            assert conn.execute("SELECT COUNT(*) FROM inbox_event WHERE status = 'done'"
                                ).fetchone() == (3,)
    finally:
        door.close()
        if runner is not None:
            await runner.cleanup()
        sock.close()
        await sim.stop()


async def test_no_front_door_without_a_database_at_this_codes_migration(
        tmp_path: Path) -> None:
    settings = make_settings(tmp_path, "http://127.0.0.1:9/cgi-bin/")
    with socket.create_server(("127.0.0.1", 0)) as sock:
        assert open_front_door(sock, settings, SECRETS) is None  # no database yet
        _migrated(tmp_path)
        with sqlite3.connect(tmp_path / "bot.db") as conn:
            conn.execute("UPDATE alembic_version SET version_num = 'older'")
        assert open_front_door(sock, settings, SECRETS) is None  # a migration to run first
        pg = make_settings(tmp_path, "http://127.0.0.1:9/cgi-bin/",
                           "postgresql+psycopg://u:p@127.0.0.1:1/x")
        assert open_front_door(sock, pg, SECRETS) is None
