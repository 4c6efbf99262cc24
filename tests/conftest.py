"""The test world: the real bot on a real port, the simulator on another, its database.

The database is a SQLite file, or a fresh PostgreSQL schema when BOT_TEST_DATABASE_URL is
set (tests/databases.py): the same tests run against both.

Callbacks travel as WeCom sends them: the simulator encrypts and POSTs them to the bot's
`/wecom/callback`; the bot calls the simulator's `/cgi-bin/` API over HTTP. Tests assert on
what the simulator received and on what the bot wrote to its database.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.app import RUNTIME, BotRuntime, build_app
from bot.config import Secrets, Settings
from bot.i18n import LANGUAGE_ENV, speaking
from bot.loop import app_runner
from bot.simulator import SimOptions, Simulator
from bot.simulator.local import throwaway_secrets
from bot.wecom.client import OFFLINE_ENV
from bot.wecom.crypto import CallbackCrypto
from tests.databases import ScratchDb, new_scratch_db

REPO = Path(__file__).resolve().parent.parent
os.environ[OFFLINE_ENV] = "1"  # the client refuses any API host but loopback
# operators read Chinese by default; the tests that assert message text read English
# (processes they start inherit it), and tests/i18n switch to Chinese where they check it
os.environ[LANGUAGE_ENV] = "en"


def make_secrets() -> Secrets:
    return throwaway_secrets("wwtestcorp")


@dataclass
class World:
    sim: Simulator
    bot_url: str
    runtime: BotRuntime
    db_path: Path
    secrets: Secrets
    http: aiohttp.ClientSession
    settings: Settings
    db: ScratchDb

    @property
    def callback_url(self) -> str:
        return f"{self.bot_url}/wecom/callback"

    async def settle(self, within_s: float = 15.0) -> None:
        """Until every callback is delivered and every handler has finished."""
        deadline = time.monotonic() + within_s
        while True:
            await self.sim.wait_callbacks_delivered(timeout=max(deadline - time.monotonic(), 0.1))
            assert self.runtime.dispatcher is not None
            await self.runtime.dispatcher.drain(max(deadline - time.monotonic(), 0.1))
            if self.sim.pending_callbacks == 0 and self.runtime.dispatcher.busy == 0:
                return
            if time.monotonic() > deadline:
                raise TimeoutError("world did not settle")

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        """Read the bot's database through a separate connection, as an operator would."""
        return self.db.rows(sql, *params)

    def count(self, table: str) -> int:
        return int(self.rows(f"SELECT count(*) FROM {table}")[0][0])

    async def api(self, path: str, json: dict[str, Any] | None = None,
                  params: dict[str, str] | None = None) -> dict[str, Any]:
        """Call the simulated WeCom API directly, as an admin tool would."""
        base = self.sim.base_url
        async with self.http.get(base + "gettoken", params={
                "corpid": self.secrets.corp_id, "corpsecret": self.secrets.secret}) as resp:
            token = (await resp.json())["access_token"]
        query = {"access_token": token, **(params or {})}
        method = "POST" if json is not None else "GET"
        async with self.http.request(method, base + path, params=query, json=json) as resp:
            data: dict[str, Any] = await resp.json()
        assert data["errcode"] == 0, data
        return data

    def crypto(self) -> CallbackCrypto:
        return CallbackCrypto(self.secrets.token, self.secrets.aes_key, self.secrets.corp_id)

    async def post_callback(self, plaintext: str, *, timestamp: int | None = None,
                            crypto: CallbackCrypto | None = None) -> aiohttp.ClientResponse:
        """Encrypt and POST a callback ourselves (the redelivery and forgery tests)."""
        stamp = str(timestamp if timestamp is not None else int(time.time()))
        message = (crypto or self.crypto()).encrypt(plaintext, stamp)
        async with self.http.post(self.callback_url, params=message.query(),
                                  data=message.post_body(self.secrets.corp_id)) as resp:
            await resp.read()
            return resp


def make_settings(tmp_path: Path, api_base_url: str, database_url: str | None = None
                  ) -> Settings:
    return Settings().with_overrides(
        database={"url": database_url or f"sqlite:///{tmp_path / 'bot.db'}"},
        # the start-up group sync adds API calls tests would have to count: tests opt in
        wecom={"api_base_url": api_base_url, "group_sync_hours": 0},
        paths={"sop_dir": REPO / "sop", "templates_dir": REPO / "templates"},
        sop={"scheduler": False},  # SOP tests start it themselves, on a clock they control
    )


async def start_bot(settings: Settings, secrets_: Secrets) -> tuple[web.AppRunner, str]:
    app = build_app(settings, secrets_)
    runner = app_runner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    await app[RUNTIME].started()  # it serves callbacks before: tests want the whole start
    host, port = runner.addresses[0][:2]
    return runner, f"http://{host}:{port}"


@pytest.fixture
def chinese() -> Iterator[None]:
    """Messages in Chinese, the operators' and staff's default, for the tests that assert it
    (``pytestmark = pytest.mark.usefixtures("chinese")``)."""
    with speaking("zh"):
        yield


@pytest.fixture
def sim_options() -> SimOptions:
    """Real WeCom's numbers, but quick retries so redelivery tests don't wait seconds."""
    return SimOptions(callback_retry_interval_s=0.05, callback_timeout_s=2.0)


@pytest.fixture
def bot_overrides() -> dict[str, dict[str, Any]]:
    """Settings sections to change for one test module, e.g. {"sop": {...}}."""
    return {}


@pytest.fixture
def scratch_db(tmp_path: Path) -> Any:
    """This test's database: a SQLite file, or a PostgreSQL schema dropped afterwards."""
    db = new_scratch_db(tmp_path)
    try:
        yield db
    finally:
        db.drop()


@pytest.fixture
async def world(tmp_path: Path, sim_options: SimOptions, scratch_db: ScratchDb,
                bot_overrides: dict[str, dict[str, Any]]) -> AsyncIterator[World]:
    secrets_ = make_secrets()
    sim = Simulator(secrets_.corp_id, secrets_.secret, secrets_.token, secrets_.aes_key,
                    agent_id=1000002, options=sim_options)
    await sim.start()
    add_demo_staff(sim)
    settings = make_settings(tmp_path, sim.base_url, scratch_db.url).with_overrides(
        **bot_overrides)
    runner, url = await start_bot(settings, secrets_)
    sim.callback_url = f"{url}/wecom/callback"
    async with aiohttp.ClientSession() as http:
        try:
            yield World(sim, url, runner.app[RUNTIME], tmp_path / "bot.db", secrets_, http,
                        settings, scratch_db)
        finally:
            try:
                await stop_within(runner, STOP_WITHIN_S)
            finally:  # a bot that failed to stop must not leave the simulator to the next test
                await sim.stop()


# A stop waits STOP_GRACE_S for requests in flight, STOP_GRACE_S for connections still open,
# then the runtime's own drain (10 s): past 60 s something is stuck.
STOP_WITHIN_S = 60.0


async def stop_within(runner: web.AppRunner, seconds: float) -> None:
    """Stop the bot, or fail the test naming what still waits: a stop that hangs is a bug
    to see (the stacks of the tasks still pending), not a CI run that waits out its time."""
    try:
        await asyncio.wait_for(runner.cleanup(), seconds)
    except TimeoutError:
        pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        stacks = "\n".join(f"{t.get_name()}: {t.get_stack(limit=3)}" for t in pending)
        raise AssertionError(f"the bot did not stop within {seconds:.0f} s; pending:\n"
                             f"{stacks}") from None


def add_demo_staff(sim: Simulator) -> None:
    """The store managers named in sop/stores.yaml, as WeCom members."""
    from bot.books.stores import StoreDirectory

    for store in StoreDirectory.load(REPO / "sop" / "stores.yaml").all():
        sim.add_staff(store.manager_userid, store.manager_name)
