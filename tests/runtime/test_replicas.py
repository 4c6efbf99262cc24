"""Two replicas of the bot on one PostgreSQL database (issue 5).

Two real bots (two `BotRuntime` apps on their own ports, in this process) share one fresh
schema and one simulator. What must hold: a callback redelivered to the other replica acts
once; events a dead replica recorded are taken over once, and never while it lives; a
fan-out split over both outbox workers makes each call once; when the scheduler's leader
dies the other replica leads and the schedule goes on. PostgreSQL only: with SQLite there
is one process by design.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from aiohttp import web

from bot.app import RUNTIME, BotRuntime
from bot.config import Secrets, Settings
from bot.db import repo
from bot.db.claims import alive_replicas
from bot.outbox.scheduler import WATERMARK
from bot.simulator import SimOptions, Simulator
from tests.conftest import add_demo_staff, make_secrets, make_settings, start_bot
from tests.databases import ScratchDb, requires_postgres

pytestmark = requires_postgres

SHANGHAI = ZoneInfo("Asia/Shanghai")
TUESDAY = datetime(2026, 11, 17, 8, 30, tzinfo=SHANGHAI)
WEDNESDAY = datetime(2026, 11, 18, 8, 30, tzinfo=SHANGHAI)  # morning new arrivals only
ADD = "externalcontact/add_msg_template"
GET_CONTACT = "externalcontact/get"
MANAGERS = ("linxiaoyu", "zhoujianguo", "chenmeng", "wangtingting", "liuyang", "sunli")


@dataclass
class Pair:
    sim: Simulator
    secrets: Secrets
    settings: Settings
    db: ScratchDb
    runners: list[web.AppRunner]
    urls: list[str]

    @property
    def a(self) -> BotRuntime:
        return self.runners[0].app[RUNTIME]

    @property
    def b(self) -> BotRuntime:
        return self.runners[1].app[RUNTIME]

    async def redeliver(self, plaintext_fields: dict[str, Any], to: int) -> int:
        """WeCom's retry of a callback, sent to replica `to` (a load balancer's choice)."""
        xml = "<xml>" + "".join(f"<{k}><![CDATA[{v}]]></{k}>"
                                for k, v in plaintext_fields.items()) + "</xml>"
        from bot.wecom.crypto import CallbackCrypto

        crypto = CallbackCrypto(self.secrets.token, self.secrets.aes_key, self.secrets.corp_id)
        message = crypto.encrypt(xml, str(int(time.time())))
        async with aiohttp.ClientSession() as http, http.post(
                f"{self.urls[to]}/wecom/callback", params=message.query(),
                data=message.post_body(self.secrets.corp_id)) as resp:
            return resp.status

    def inbox(self) -> list[tuple[str, str, str | None]]:
        return [(json.loads(p).get("ExternalUserID", ""), s, c) for p, s, c in self.db.rows(
            "SELECT payload, status, claimed_by FROM inbox_event ORDER BY id")]


async def until(check: Callable[[], bool], what: str, within_s: float = 20.0) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def start_pair(tmp_path: Path, scratch_db: ScratchDb, **overrides: dict[str, Any]
                     ) -> Pair:
    secrets_ = make_secrets()
    sim = Simulator(secrets_.corp_id, secrets_.secret, secrets_.token, secrets_.aes_key,
                    agent_id=1000002,
                    options=SimOptions(callback_retry_interval_s=0.05, callback_timeout_s=2.0))
    await sim.start()
    add_demo_staff(sim)
    sections = {"sop": {"check_after_minutes": 0.001}, **overrides}
    settings = make_settings(tmp_path, sim.base_url, scratch_db.url).with_overrides(**sections)
    pair = Pair(sim, secrets_, settings, scratch_db, [], [])
    try:
        for _ in range(2):  # one after the other: the first one leads
            runner, url = await start_bot(settings, secrets_)
            pair.runners.append(runner)
            pair.urls.append(url)
    except BaseException:
        await stop_pair(pair)
        raise
    sim.callback_url = f"{pair.urls[0]}/wecom/callback"
    return pair


async def stop_pair(pair: Pair) -> None:
    for runner in pair.runners:
        await runner.cleanup()
    pair.sim.clear_faults()
    await pair.sim.stop()


@pytest.fixture
async def pair(tmp_path: Path, scratch_db: ScratchDb) -> AsyncIterator[Pair]:
    pair = await start_pair(tmp_path, scratch_db)
    try:
        yield pair
    finally:
        await stop_pair(pair)


async def test_both_replicas_are_alive_and_exactly_one_leads(pair: Pair) -> None:
    a, b = pair.a, pair.b
    assert a.replica is not None and b.replica is not None
    assert a.replica.is_leader and not b.replica.is_leader
    alive = pair.db.rows("SELECT 1")  # a plain read works through the schema's search_path
    assert alive == [(1,)]
    assert a.services is not None
    ids = await a.services.db.read(alive_replicas)
    assert sorted(ids) == sorted([a.replica.id, b.replica.id])


async def test_callback_redelivered_to_the_other_replica_acts_once(pair: Pair) -> None:
    # Replica A is slow inside the handler; WeCom's retry lands on replica B meanwhile.
    pair.sim.delay_next(GET_CONTACT, 1.0)
    ext, _ = pair.sim.scan_contact_qr("linxiaoyu", "takeout-card", "两边都收到的")
    await until(lambda: len(pair.inbox()) == 1, "the first delivery to be recorded")
    [(payload,)] = pair.db.rows("SELECT payload FROM inbox_event")
    assert await pair.redeliver(json.loads(payload), to=1) == 200
    assert pair.b.duplicates == 1 and pair.b.recorded == 0
    assert pair.a.dispatcher is not None
    await pair.a.dispatcher.drain(15)
    await until(lambda: pair.inbox()[0][1] == "done", "the event to be handled")
    assert len(pair.sim.welcomes_for(ext)) == 1
    assert pair.db.rows("SELECT count(*) FROM welcome") == [(1,)]
    assert pair.inbox() == [(ext, "done", pair.a.replica.id if pair.a.replica else None)]


async def test_events_of_a_dead_replica_are_taken_over_once_and_not_before(pair: Pair) -> None:
    a, b = pair.a, pair.b
    assert a.replica and b.replica and a.dispatcher and b.dispatcher
    # A records three customers, then stalls inside WeCom calls for all of them.
    pair.sim.delay_next(GET_CONTACT, 30.0, times=10)
    exts = [pair.sim.scan_contact_qr("linxiaoyu", "takeout-card", f"顾客{i}")[0]
            for i in range(3)]
    await pair.sim.wait_callbacks_delivered(timeout=10)
    assert [s for _, s, _ in pair.inbox()] == ["pending"] * 3
    # While A lives, B takes nothing over: the work in progress is A's.
    assert await b.dispatcher.replay_pending(b.replica.id) == 0

    # A dies: its handlers stop where they are, its liveness lock goes with its session.
    await a.dispatcher.cancel_all()
    await a.replica.stop()
    pair.sim.clear_faults()
    assert await b.dispatcher.replay_pending(b.replica.id) == 3
    assert await b.dispatcher.drain(20)
    assert pair.inbox() == [(ext, "done", b.replica.id) for ext in exts]
    for ext in exts:
        assert len(pair.sim.welcomes_for(ext)) == 1
    assert pair.db.rows("SELECT count(*) FROM member") == [(3,)]
    assert pair.db.rows("SELECT count(*) FROM welcome") == [(3,)]
    # and nothing is left for a third replica to take
    assert await b.dispatcher.replay_pending(b.replica.id) == 0


async def make_groups(pair: Pair, per_manager: int = 2) -> list[str]:
    chats = [pair.sim.create_group(m, f"果田鲜生·{m}的福利{i}群")
             for m in MANAGERS for i in range(per_manager)]
    await pair.sim.wait_callbacks_delivered(timeout=10)
    assert pair.a.dispatcher is not None
    await pair.a.dispatcher.drain(10)
    await until(lambda: pair.db.rows("SELECT count(*) FROM customer_group")
                == [(len(chats),)], "the groups to be known")
    return chats


def send_rows(pair: Pair, slot: datetime | None = None) -> list[tuple[str, str | None]]:
    """(status, claimed_by) of the sends, only `slot`'s if given: a leader's scheduler runs
    on the real clock and also fires today's SOPs (the 08:40 managers' reminder, for a test
    run after 08:40 in Shanghai)."""
    mark = None if slot is None else slot.strftime("|%Y-%m-%d %H:%M|")
    return [(str(s), c) for key, s, c in pair.db.rows(
        "SELECT key, status, claimed_by FROM outbox_send ORDER BY id")
        if mark is None or mark in str(key)]


async def test_fanout_split_over_two_replicas_sends_each_message_once(
        tmp_path: Path, scratch_db: ScratchDb) -> None:
    # One call in flight per replica and slow answers: both workers must take part.
    pair = await start_pair(tmp_path, scratch_db, sop={"check_after_minutes": 0.001,
                                                       "send_concurrency": 1})
    try:
        chats = await make_groups(pair)
        pair.sim.delay_next(ADD, 0.3, times=len(MANAGERS))
        from bot.app import load_sop_book
        from bot.outbox.scheduler import SopScheduler

        a = pair.a
        assert a.services is not None and a.outbox is not None and pair.b.outbox is not None
        scheduler = SopScheduler(a.services.db, pair.settings,
                                 lambda: load_sop_book(pair.settings), a.outbox)
        plan = await scheduler.plan("morning-new-arrivals", TUESDAY, now=TUESDAY.timestamp())
        assert plan.sends == len(MANAGERS) and plan.groups == len(chats)
        pair.b.outbox.wake()
        await until(lambda: all(s in ("created", "done") for s, _ in send_rows(pair)),
                    "every 群发 to be created")
        pair.sim.confirm_pending_groupsends()
        await until(lambda: all(s == "done" for s, _ in send_rows(pair)), "every task followed")

        assert pair.sim.call_count(ADD) == len(MANAGERS)  # one call per owner, no repeat
        assert pair.sim.groupsend_doubles() == {}
        for chat in chats:
            assert len(pair.sim.group_messages(chat)) == 1
        senders = {claimed for _, claimed in send_rows(pair)}
        assert senders == {a.replica.id if a.replica else "",
                           pair.b.replica.id if pair.b.replica else ""}  # split over both
        assert a.outbox.stats.created + pair.b.outbox.stats.created == len(MANAGERS)
    finally:
        await stop_pair(pair)


async def _terminate_lock_session(pair: Pair, runtime: BotRuntime) -> None:
    """What a dead leader looks like to the database: its session is gone."""
    assert runtime.replica is not None and runtime.replica.backend_pid is not None
    pid = runtime.replica.backend_pid
    assert pair.db.rows("SELECT pg_terminate_backend(?)", pid) == [(True,)]


async def test_leader_failover_continues_the_schedule(tmp_path: Path,
                                                      scratch_db: ScratchDb) -> None:
    pair = await start_pair(tmp_path, scratch_db, sop={"check_after_minutes": 0.001,
                                                       "scheduler": True})
    try:
        a, b = pair.a, pair.b
        assert a.replica and b.replica
        await until(lambda: a.sop is not None, "A's scheduler to run")  # loaded after start
        assert a.replica.is_leader
        assert not b.replica.is_leader and b.sop is None
        chats = await make_groups(pair, per_manager=1)
        slot = WEDNESDAY.timestamp()

        await _terminate_lock_session(pair, a)  # the leader's session dies
        await until(lambda: b.replica is not None and b.replica.is_leader, "B to lead")
        await until(lambda: b.sop is not None, "B's scheduler to run")
        await until(lambda: a.replica is not None and not a.replica.is_leader,
                    "A to step down")
        assert a.sop is None  # it stopped firing slots
        assert b.sop is not None
        # The leaders had looked at everything up to 08:20 (the watermark they share), then
        # 08:30 comes while B leads: its sweep plans the slot, once.
        assert b.services is not None
        await b.services.db.write(lambda c: repo.set_state(c, WATERMARK, repr(slot - 600)))
        plans = await b.sop.sweep(now=slot + 60)
        assert [p.sop for p in plans if p.slot_id is not None] == ["morning-new-arrivals"]
        assert await b.sop.sweep(now=slot + 90) == []
        await until(lambda: len(send_rows(pair, WEDNESDAY)) == len(MANAGERS)
                    and all(s in ("created", "done") for s, _ in send_rows(pair, WEDNESDAY)),
                    "the slot's 群发 to be created")
        pair.sim.confirm_pending_groupsends()
        await until(lambda: all(s == "done" for s, _ in send_rows(pair, WEDNESDAY)),
                    "every task followed")
        assert pair.sim.call_count(ADD) == len(MANAGERS)
        for chat in chats:
            assert len(pair.sim.group_messages(chat)) == 1
        # A is back as a follower (a new lock session), B still leads
        await until(lambda: a.replica is not None and a.replica.role == "follower",
                    "A to rejoin")
        assert b.replica.is_leader
    finally:
        await stop_pair(pair)


async def test_shared_quota_holds_for_all_replicas_together(scratch_db: ScratchDb) -> None:
    """Two replicas reserving at the same moment never get more than the window allows."""
    from bot.db import api_quota
    from bot.db.engine import Database

    replicas = [Database(scratch_db.url), Database(scratch_db.url)]
    replicas[0].migrate()
    now = 1_800_000_030.0  # half a minute into a minute window
    windows = [(95, 60.0), (130, 3600.0)]

    async def reserve(db: Database, at: float) -> int:
        grant = await db.write(lambda c: api_quota.reserve(c, "externalcontact/get", windows,
                                                           10, at))
        return grant.calls

    try:
        grants = await asyncio.gather(*(reserve(replicas[i % 2], now) for i in range(24)))
        assert sum(grants) == 95  # the minute's limit, split over both, never exceeded
        assert sorted(grants, reverse=True)[:9] == [10] * 9 and 0 in grants
        # the next minute opens a new minute window; the hour's limit still counts
        later = await asyncio.gather(*(reserve(replicas[i % 2], now + 60) for i in range(8)))
        assert sum(later) == 130 - 95
        [(used,)] = scratch_db.rows(
            "SELECT SUM(used) FROM api_quota WHERE window_s = 3600")
        assert used == 130
    finally:
        for db in replicas:
            await db.close()
