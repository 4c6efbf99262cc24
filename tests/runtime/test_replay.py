"""A crash between "acknowledged" and "acted": the inbox replays it, once, at the next start.

The first life of the bot is a real process (`python -m bot run`) that receives real
encrypted callbacks from the simulator and is killed with SIGKILL while its handlers are
stalled inside WeCom calls: no drain, no cleanup, exactly what a crash or an OOM kill leaves
behind. The second life is the bot started again on the same database. What must hold:

* every event the first life acknowledged but did not finish is handled after the restart,
  exactly once (inbox row `done`, one welcome row, one member row);
* a customer whose WelcomeCode died while the bot was down is recorded as `expired` and no
  send is attempted for them;
* nobody is welcomed twice, also when the first life had already sent the welcome and died
  before recording it (WeCom's 41051 "already sent" is then the answer, not a second send).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.app import RUNTIME, BotRuntime
from bot.config import Secrets
from bot.simulator import SimOptions, Simulator
from bot.simulator.local import free_port
from bot.wecom.crypto import CallbackCrypto
from tests.conftest import REPO, add_demo_staff, make_secrets, make_settings, start_bot
from tests.databases import ScratchDb

MANAGER = "linxiaoyu"  # 天钥桥路店, see sop/stores.yaml
DEADLINE_S = 5.0  # the WelcomeCode life for these tests (WeCom: 20 s), bot and simulator alike
MARGIN_S = 0.5  # bot.handlers.welcome.SAFETY_MARGIN_S
WELCOME = "externalcontact/send_welcome_msg"


@dataclass
class Crashable:
    """The simulator, a bot process that can be SIGKILLed, and the database they share."""

    sim: Simulator
    secrets: Secrets
    tmp_path: Path
    db: ScratchDb
    proc: asyncio.subprocess.Process | None = None

    def rows(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        return self.db.rows(sql, *params)

    async def start_process(self) -> None:
        """The bot as it runs in production: its own process, config file, env secrets."""
        port = free_port()
        config = self.tmp_path / "bot.toml"
        config.write_text(
            f'[server]\nhost = "127.0.0.1"\nport = {port}\n'
            f'[database]\nurl = "{self.db.url}"\n'
            f'[wecom]\napi_base_url = "{self.sim.base_url}"\nwelcome_deadline_s = {DEADLINE_S}\n'
            f'[paths]\nsop_dir = "{REPO / "sop"}"\ntemplates_dir = "{REPO / "templates"}"\n'
            '[logging]\nlevel = "WARNING"\n')
        env = {**os.environ, "WECOM_CORP_ID": self.secrets.corp_id,
               "WECOM_SECRET": self.secrets.secret, "WECOM_TOKEN": self.secrets.token,
               "WECOM_AES_KEY": self.secrets.aes_key, "WECOM_AGENT_ID": "1000002"}
        with (self.tmp_path / "bot.log").open("wb") as log_file:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", "--config", str(config), env=env,
                cwd=self.tmp_path, stdout=log_file, stderr=asyncio.subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as http:
            while True:
                try:
                    async with http.get(f"{url}/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                if self.proc.returncode is not None or time.monotonic() > deadline:
                    log = (self.tmp_path / "bot.log").read_text(errors="replace")
                    raise AssertionError(f"bot process did not come up:\n{log}")
                await asyncio.sleep(0.05)
        self.sim.callback_url = f"{url}/wecom/callback"

    async def crash(self) -> None:
        """SIGKILL: no drain, no cleanup, no last commit."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        await self.proc.wait()
        assert self.proc.returncode == -signal.SIGKILL

    async def until(self, check: Callable[[], bool], what: str, within_s: float = 15.0) -> None:
        deadline = time.monotonic() + within_s
        while not check():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.02)

    def inbox(self) -> dict[str, str]:
        """external_userid -> inbox status of its add_external_contact event."""
        rows = self.rows("SELECT payload, status FROM inbox_event WHERE kind = 'contact.added'")
        return {json.loads(payload)["ExternalUserID"]: status for payload, status in rows}

    def received_at(self, external_userid: str) -> float:
        for payload, received in self.rows("SELECT payload, received_at FROM inbox_event"):
            if json.loads(payload).get("ExternalUserID") == external_userid:
                return float(received)
        raise AssertionError(f"no inbox row for {external_userid}")

    async def redeliver(self, external_userid: str, bot_url: str) -> int:
        """WeCom's retry of a recorded callback: same plaintext, freshly encrypted."""
        for payload, in self.rows("SELECT payload FROM inbox_event"):
            fields = json.loads(payload)
            if fields.get("ExternalUserID") == external_userid:
                break
        else:
            raise AssertionError(f"no inbox row for {external_userid}")
        xml = "<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in fields.items()) + \
            "</xml>"
        crypto = CallbackCrypto(self.secrets.token, self.secrets.aes_key, self.secrets.corp_id)
        message = crypto.encrypt(xml, str(int(time.time())))
        async with aiohttp.ClientSession() as http, http.post(
                f"{bot_url}/wecom/callback", params=message.query(),
                data=message.post_body(self.secrets.corp_id)) as resp:
            return resp.status


@pytest.fixture
async def crashable(tmp_path: Path, scratch_db: ScratchDb) -> AsyncIterator[Crashable]:
    secrets_ = make_secrets()
    sim = Simulator(secrets_.corp_id, secrets_.secret, secrets_.token, secrets_.aes_key,
                    agent_id=1000002,
                    options=SimOptions(callback_retry_interval_s=0.05, callback_timeout_s=2.0,
                                       welcome_code_ttl_s=DEADLINE_S))
    await sim.start()
    add_demo_staff(sim)
    world = Crashable(sim, secrets_, tmp_path, scratch_db)
    try:
        yield world
    finally:
        if world.proc is not None and world.proc.returncode is None:
            world.proc.kill()
            await world.proc.wait()
        sim.clear_faults()
        await sim.stop()


async def _second_life(world: Crashable) -> tuple[web.AppRunner, BotRuntime, str]:
    """The bot started again on the same database (in this process, to wait on its drain)."""
    settings = make_settings(world.tmp_path, world.sim.base_url, world.db.url).with_overrides(
        wecom={"welcome_deadline_s": DEADLINE_S})
    runner, url = await start_bot(settings, world.secrets)
    world.sim.callback_url = f"{url}/wecom/callback"
    return runner, runner.app[RUNTIME], url


async def _drained(runtime: BotRuntime) -> bool:
    assert runtime.dispatcher is not None
    return await runtime.dispatcher.drain(10)


async def test_events_pending_at_a_crash_are_handled_once_after_restart(crashable: Crashable):
    world = crashable
    await world.start_process()
    # Every customer lookup hangs (longer than this life lasts): the handlers are stuck
    # before any welcome goes out.
    world.sim.delay_next("externalcontact/get", 5.0, times=100)

    early, _ = world.sim.scan_contact_qr(MANAGER, "takeout-card", "早到的")
    await world.until(lambda: early in world.inbox(), "the early customer to be recorded")
    await asyncio.sleep(2.5)  # the early code is now half dead; the next ones are fresh
    names = [f"后来的{i}" for i in range(3)]
    late = [world.sim.scan_contact_qr(MANAGER, "store-0012-counter", name)[0] for name in names]
    await world.sim.wait_callbacks_delivered(timeout=10)
    everyone = [early, *late]
    assert world.inbox() == dict.fromkeys(everyone, "pending")  # acknowledged, not handled
    assert world.sim.welcomes == []

    await world.crash()
    world.sim.clear_faults()
    assert world.inbox() == dict.fromkeys(everyone, "pending")  # nothing was lost by the kill

    # Stay down until the early customer's code has died (by the bot's own reckoning too).
    await asyncio.sleep(max(0.0, world.received_at(early) + DEADLINE_S - time.time()) + 0.1)
    late_deadline = min(world.received_at(ext) for ext in late) + DEADLINE_S - MARGIN_S
    assert late_deadline - time.time() > 1.0, "the machine is too slow for this test's timing"

    mark = world.sim.mark()
    runner, runtime, url = await _second_life(world)
    try:
        assert await _drained(runtime)
        assert world.inbox() == dict.fromkeys(everyone, "done")

        sends = [c for c in world.sim.api_calls_since(mark) if c.path == WELCOME]
        assert len(sends) == len(late), "a send was attempted for the expired code"
        assert world.sim.welcomes_for(early) == []
        for ext, name in zip(late, names, strict=True):
            [welcome] = world.sim.welcomes_for(ext)
            assert name in welcome.text

        statuses = dict(world.rows("SELECT external_userid, status FROM welcome"))
        assert statuses == {early: "expired", **dict.fromkeys(late, "sent")}
        assert world.rows("SELECT count(*) FROM welcome") == [(len(everyone),)]
        assert sorted(r[0] for r in world.rows("SELECT external_userid FROM member")) == \
            sorted(everyone)  # the expired one is still a member, just not welcomed

        # WeCom redelivering them now changes nothing: recorded once, acted on once.
        assert [await world.redeliver(ext, url) for ext in everyone] == [200] * len(everyone)
        assert await _drained(runtime)
        assert runtime.duplicates == len(everyone)
        assert world.rows("SELECT count(*) FROM inbox_event") == [(len(everyone),)]
        assert len(world.sim.welcomes) == len(late)
    finally:
        await runner.cleanup()


async def test_welcome_sent_just_before_a_crash_is_not_sent_again(crashable: Crashable):
    world = crashable
    await world.start_process()
    # The welcome goes out; the tagging after it hangs, so "done" is never written.
    world.sim.delay_next("externalcontact/mark_tag", 2.0, times=10)
    ext, _ = world.sim.scan_contact_qr(MANAGER, "takeout-card", "刚欢迎过的")
    await world.until(lambda: len(world.sim.welcomes_for(ext)) == 1, "the first welcome")
    await world.crash()
    world.sim.clear_faults()
    assert world.inbox() == {ext: "pending"}
    assert world.rows("SELECT count(*) FROM welcome") == [(0,)]  # the bot never recorded it

    mark = world.sim.mark()
    runner, runtime, _ = await _second_life(world)
    try:
        assert await _drained(runtime)
        assert world.inbox() == {ext: "done"}
        assert len(world.sim.welcomes_for(ext)) == 1  # still exactly one welcome
        assert [c.errcode for c in world.sim.api_calls_since(mark) if c.path == WELCOME] == \
            [41051]  # asked once more, WeCom said "already sent": final, never retried
        assert world.rows("SELECT status, attempts FROM welcome") == [("already_sent", 1)]
        tags = world.rows("SELECT count(*) FROM member_tag WHERE external_userid = ?", ext)
        assert tags[0][0] > 0  # the tagging the crash interrupted was done after all
    finally:
        await runner.cleanup()
