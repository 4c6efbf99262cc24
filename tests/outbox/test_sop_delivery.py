"""SOP slots delivered through the outbox: the real bot, the simulator, a SQLite file.

Groups are created in the simulated WeCom (the bot learns them from the callbacks), slots are
planned with the scheduler's own `plan`/`sweep` on a clock the test sets, the outbox worker
calls the simulator over HTTP, and the tests read what each group saw and what the bot
recorded.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.app import RUNTIME, load_sop_book
from bot.outbox import rows as outbox
from bot.outbox.rows import PlannedSend
from bot.outbox.scheduler import SopScheduler
from tests.conftest import REPO, World, start_bot

SHANGHAI = ZoneInfo("Asia/Shanghai")
# a past Wednesday (rows fall due at once); on Tuesdays the member day replaces the morning
MORNING = datetime(2026, 11, 18, 8, 30, tzinfo=SHANGHAI)
ADD = "externalcontact/add_msg_template"


@pytest.fixture
def bot_overrides() -> dict[str, dict[str, Any]]:
    # Follow tasks at once, and give an unanswered call one second to end.
    return {"sop": {"check_after_minutes": 0.001}, "wecom": {"request_timeout_s": 1.0}}


def scheduler_for(world: World, load: Callable[[], Any] | None = None) -> SopScheduler:
    runtime = world.runtime
    assert runtime.services is not None and runtime.outbox is not None
    return SopScheduler(runtime.services.db, world.settings,
                        load or (lambda: load_sop_book(world.settings)), runtime.outbox)


async def make_groups(world: World) -> dict[str, str]:
    """Two groups of store 0012 (天钥桥路店) and one of 0015 (长寿路店), known to the bot."""
    sim = world.sim
    chats = {"0012-a": sim.create_group("linxiaoyu", "果田鲜生·天钥桥路店福利群"),
             "0012-b": sim.create_group("linxiaoyu", "果田鲜生·天钥桥路店福利2群"),
             "0015": sim.create_group("zhoujianguo", "果田鲜生·长寿路店福利群")}
    await world.settle()
    assert world.count("customer_group") == 3
    return chats


async def until(check: Callable[[], bool], within_s: float = 15.0) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.02)


def send_statuses(world: World) -> list[str]:
    return [s for (s,) in world.rows(
        "SELECT status FROM outbox_send WHERE via = 'group_send' ORDER BY id")]


def deliveries(world: World) -> dict[str, str]:
    return dict(world.rows("SELECT chat_id, status FROM outbox_delivery"))  # type: ignore[arg-type]


async def deliver(world: World, sends: int) -> None:
    """Until `sends` tasks exist, owners confirm, and the bot has followed every task."""
    await until(lambda: len(send_statuses(world)) == sends
                and all(s in ("created", "done", "failed") for s in send_statuses(world)))
    world.sim.confirm_pending_groupsends()
    await until(lambda: all(s in ("done", "failed") for s in send_statuses(world)))


async def test_morning_slot_reaches_each_group_once_with_its_store_text(world: World) -> None:
    chats = await make_groups(world)
    plan = await scheduler_for(world).plan("morning-new-arrivals", MORNING,
                                           now=MORNING.timestamp())
    assert plan.slot_id is not None and plan.groups == 3 and plan.sends == 2
    await deliver(world, 2)

    assert world.sim.call_count(ADD) == 2  # one 群发 per owner and store
    for key, chat in chats.items():
        seen = world.sim.group_messages(chat)
        assert len(seen) == 1, key
        assert ("天钥桥路店" if key.startswith("0012") else "长寿路店") in seen[0].text
        assert any(a["msgtype"] == "image" for a in seen[0].attachments)  # product photos
    assert set(deliveries(world).values()) == {"sent"}
    assert world.rows("SELECT status, groups, held FROM sop_slot") == [("planned", 3, 0)]


async def test_a_slot_fired_twice_and_swept_is_sent_once(world: World) -> None:
    await make_groups(world)
    scheduler = scheduler_for(world)
    now = MORNING.timestamp() + 30
    first = await scheduler.plan("morning-new-arrivals", MORNING, now=now)
    again = await scheduler.plan("morning-new-arrivals", MORNING, now=now + 1)
    await scheduler.sweep(now=MORNING.timestamp() - 600)  # sets the watermark before the slot
    swept = await scheduler.sweep(now=now + 2)
    assert first.slot_id is not None and again.slot_id is None
    assert all(p.slot_id is None for p in swept)
    await deliver(world, 2)
    assert world.sim.call_count(ADD) == 2
    assert world.sim.groupsend_doubles() == {}


@pytest.mark.parametrize(("rule", "morning"), [
    ("day1", MORNING),  # the admin's "1 a day" setting
    # days in the month, spread: on the 1st a group may get ceil(30 / 30) = 1 today
    ("month", MORNING.replace(day=1)),
])
async def test_second_group_send_of_the_day_is_held_back_by_the_quota(
        world: World, rule: str, morning: datetime) -> None:
    chats = await make_groups(world)
    runtime = world.runtime
    assert runtime.services is not None and runtime.outbox is not None
    settings = world.settings.with_overrides(sop={"group_send_quota": rule})
    scheduler = SopScheduler(runtime.services.db, settings,
                             lambda: load_sop_book(settings), runtime.outbox)
    await scheduler.plan("morning-new-arrivals", morning, now=morning.timestamp())
    await deliver(world, 2)
    # a second 群发 the same day (the morning SOP planned again at 14:40)
    again = morning.replace(hour=14, minute=40)
    plan = await scheduler.plan("morning-new-arrivals", again, now=again.timestamp())
    assert sorted(plan.held) == sorted(chats.values()) and plan.sends == 0
    await asyncio.sleep(0.2)
    assert world.sim.call_count(ADD) == 2
    slot = world.rows("SELECT status, held FROM sop_slot WHERE slot_at = ?", again.timestamp())
    assert slot == [("empty", 3)]
    held = world.rows("SELECT count(*) FROM outbox_delivery WHERE status = 'held_quota'")
    assert held == [(3,)]
    # the next day the groups have room again
    tomorrow = morning.replace(day=morning.day + 1)
    plan = await scheduler.plan("morning-new-arrivals", tomorrow, now=tomorrow.timestamp())
    assert plan.held == [] and plan.groups == 3


async def test_misfire_within_grace_is_sent_late_and_beyond_it_recorded_missed(
        world: World) -> None:
    await make_groups(world)
    scheduler = scheduler_for(world)
    await scheduler.sweep(now=MORNING.timestamp() - 3600)  # the bot was up at 07:30
    # ... and down until 08:50: the morning slot (grace 30 min) is 20 min late
    plans = await scheduler.sweep(now=MORNING.timestamp() + 20 * 60)
    # the 08:40 robot reminder (grace 10 min) is just inside too
    assert [p.sop for p in plans] == ["morning-new-arrivals", "manager-reminder"]
    # ... then down again from 08:50 until 15:30: the flash sale (14:40, grace 15 min) is
    # past its grace: recorded missed, not sent
    late = MORNING.replace(hour=15, minute=30).timestamp()
    await scheduler.sweep(now=late)
    rows = dict(world.rows("SELECT sop, status FROM sop_slot"))
    assert rows["morning-new-arrivals"] == "planned"
    assert rows["flash-sale"] == "missed" and "member-day" not in rows  # not on a Wednesday
    late_s = world.rows("SELECT late_s FROM sop_slot WHERE sop = 'morning-new-arrivals'")
    assert late_s == [(20 * 60,)]
    await deliver(world, 2)
    assert world.sim.call_count(ADD) == 2  # the missed flash sale was never sent


async def test_unanswered_group_send_is_looked_up_not_repeated(world: World) -> None:
    chats = await make_groups(world)
    runtime = world.runtime
    assert runtime.outbox is not None
    # The simulator answers after the bot's 1 s timeout, but creates the task all the same.
    world.sim.delay_next(ADD, 1.5, times=2)
    await scheduler_for(world).plan("morning-new-arrivals", MORNING, now=MORNING.timestamp())
    await deliver(world, 2)
    assert world.sim.call_count(ADD) == 2  # not one call more
    assert runtime.outbox.stats.reconciled_found == 2
    for chat in chats.values():
        assert len(world.sim.group_messages(chat)) == 1
    assert world.sim.groupsend_doubles() == {}


async def test_restart_in_the_middle_of_a_fanout_sends_nothing_twice(world: World) -> None:
    chats = await make_groups(world)
    runtime = world.runtime
    assert runtime.outbox is not None
    world.sim.delay_next(ADD, 0.5, times=2)  # both calls are in flight when the bot dies
    await scheduler_for(world).plan("morning-new-arrivals", MORNING, now=MORNING.timestamp())
    await until(lambda: send_statuses(world).count("sending") == 2)
    await until(lambda: world.sim.faults_pending(ADD) == 0)  # both calls reached WeCom
    await runtime.outbox.stop(grace_s=0)  # the process dies: no answer is ever recorded
    assert runtime.replica is not None
    await runtime.replica.stop()  # ... and with it its liveness lock (PostgreSQL)
    assert send_statuses(world) == ["sending", "sending"]
    await asyncio.sleep(0.7)  # meanwhile WeCom finished creating both tasks

    runner, _ = await start_bot(world.settings, world.secrets)  # same database
    try:
        restarted = runner.app[RUNTIME]
        await deliver(world, 2)
        assert restarted.outbox is not None and restarted.outbox.stats.reconciled_found == 2
    finally:
        await runner.cleanup()
    assert world.sim.call_count(ADD) == 2  # found by get_groupmsg_list_v2, not sent again
    # both checks were due together: one walk of the list answered them
    assert world.sim.call_count("externalcontact/get_groupmsg_list_v2") == 1
    for chat in chats.values():
        assert len(world.sim.group_messages(chat)) == 1
    assert set(deliveries(world).values()) == {"sent"}


async def test_a_refused_group_send_is_retried_and_sent_once(world: World) -> None:
    chats = await make_groups(world)
    runtime = world.runtime
    assert runtime.outbox is not None
    # busy four times: the client's own three retries, then the outbox's retry later
    world.sim.fail_next(ADD, -1, times=8)
    await scheduler_for(world).plan("morning-new-arrivals", MORNING, now=MORNING.timestamp())
    await deliver(world, 2)
    assert runtime.outbox.stats.retries >= 1
    assert [c.errcode for c in world.sim.calls if c.path == ADD].count(0) == 2
    for chat in chats.values():
        assert len(world.sim.group_messages(chat)) == 1


@pytest.fixture
def sim_options() -> Any:
    from bot.simulator import SimOptions

    return SimOptions(callback_retry_interval_s=0.05, callback_timeout_s=2.0, rate_window_s=1.0)


async def test_robot_waits_for_its_minute_instead_of_failing(world: World) -> None:
    runtime = world.runtime
    assert runtime.services is not None and runtime.outbox is not None
    chat = world.sim.create_group("linxiaoyu", "果田鲜生·店长工作群")
    key = world.sim.add_robot(chat, name="store-managers")
    await runtime.outbox.stop(grace_s=0)
    from bot.outbox.worker import DeliveryWorker

    worker = DeliveryWorker(runtime.services.db, runtime.services.wecom, world.settings.sop,
                            lambda _name: key, robot_window_s=1.0)  # the simulator's "minute"
    sends = [PlannedSend(key=f"reminder|{i}", via="robot", sender="", robot="store-managers",
                         store_id=None, body={"msgtype": "text", "text": {"content": f"第{i}条"}},
                         chat_ids=(chat,)) for i in range(25)]
    await runtime.services.db.write(lambda c: outbox.record_slot(
        c, sop="manager-reminder", slot_at=MORNING.timestamp(), slot_local="2026-11-18 08:40",
        status="planned", fired_at=time.time(), sends=sends))
    worker.start()
    try:
        await until(lambda: len(world.sim.group_messages(chat)) == 25)
    finally:
        await worker.stop()
    posts = [c for c in world.sim.calls if c.path == "webhook/send"]
    assert [c.errcode for c in posts] == [0] * 25  # never refused: it waited for room
    seen = world.sim.group_messages(chat)
    assert seen[20].at - seen[0].at >= 0.9  # the 21st waited for the window to move on
    assert sorted(m.text for m in seen) == sorted(f"第{i}条" for i in range(25))


async def test_a_worker_woken_as_it_is_stopped_stops(world: World) -> None:
    """A stop landing in the loop turn where the worker's wake-up completes must still stop
    it (asyncio.wait_for on Python 3.11 swallowed such a cancel: the worker idled on and
    `stop()` waited for ever)."""
    runtime = world.runtime
    assert runtime.services is not None and runtime.outbox is not None
    await runtime.outbox.stop(grace_s=0)
    from bot.outbox.worker import DeliveryWorker

    for turns in range(8):  # the wake-up completes a few loop turns after `wake()`
        worker = DeliveryWorker(runtime.services.db, runtime.services.wecom,
                                world.settings.sop, lambda _name: None)
        worker.start()
        await asyncio.sleep(0.2)  # idle: nothing is due
        worker.wake()
        for _ in range(turns):
            await asyncio.sleep(0)
        try:
            async with asyncio.timeout(10):
                await worker.stop()
        except TimeoutError:
            raise AssertionError(f"the worker did not stop (stop {turns} turns after wake)"
                                 ) from None


async def test_broken_edit_is_refused_and_the_last_good_sops_keep_firing(
        world: World, tmp_path: Path) -> None:
    await make_groups(world)
    sop_dir = tmp_path / "sop"
    shutil.copytree(REPO / "sop", sop_dir)
    settings = world.settings.with_overrides(paths={"sop_dir": sop_dir})
    scheduler = scheduler_for(world, lambda: load_sop_book(settings))
    daily = sop_dir / "daily.yaml"
    source = daily.read_text(encoding="utf-8")
    daily.write_text(source.replace('\n    at: "08:30"', '\n    at: "8:75"', 1), encoding="utf-8")
    line = next(i for i, text in enumerate(daily.read_text().splitlines(), 1)
                if text.strip() == 'at: "8:75"')

    assert await scheduler.reload() is False
    assert scheduler.last_error is not None and f"daily.yaml:{line}:" in scheduler.last_error
    assert "morning-new-arrivals" in scheduler.book  # the last good SOPs are kept
    plan = await scheduler.plan("morning-new-arrivals", MORNING, now=MORNING.timestamp())
    assert plan.sends == 2
    await deliver(world, 2)

    daily.write_text(source, encoding="utf-8")  # fixed: the next reload takes it
    assert await scheduler.reload() is True and scheduler.last_error is None


async def test_member_sop_goes_one_to_one_to_tagged_customers_of_each_store(
        world: World, tmp_path: Path) -> None:
    """The gold-member reminder reaches gold members only, each from their own staff member,
    in one 群发 per (store, staff member); a second firing of the slot sends nothing more."""
    sim = world.sim
    customers = {}
    for userid, store, name in [("linxiaoyu", "0012", "王阿姨"), ("linxiaoyu", "0012", "小陈"),
                                ("linxiaoyu", "0012", "李先生"),
                                ("zhoujianguo", "0015", "赵女士")]:
        ext, _ = sim.scan_contact_qr(userid, f"store-{store}-counter", name)
        customers[name] = (userid, ext)
    await world.settle()
    gold = sim.admin_add_tag("会员等级", "金卡")  # the tags sop/members.yaml gives levels
    silver = sim.admin_add_tag("会员等级", "银卡")
    for name, tag in [("王阿姨", gold), ("小陈", silver), ("赵女士", gold)]:
        sim.edit_contact_tags(*customers[name], add_tag_ids=[tag])
    sim.edit_contact_tags(*customers["李先生"], add_tag_ids=[gold])
    await world.settle()
    sim.customer_deletes_staff(*customers["李先生"])  # gone: never sent to
    await world.settle()

    sop_dir = tmp_path / "sop"
    shutil.copytree(REPO / "sop", sop_dir)
    weekly = sop_dir / "weekly.yaml"
    weekly.write_text(weekly.read_text(encoding="utf-8").replace(
        "    enabled: false\n", "", 1), encoding="utf-8")
    settings = world.settings.with_overrides(paths={"sop_dir": sop_dir})
    scheduler = scheduler_for(world, lambda: load_sop_book(settings))
    evening = datetime(2026, 11, 17, 18, 10, tzinfo=SHANGHAI)  # a Tuesday, the member day
    assert await scheduler.reload() is True

    plan = await scheduler.plan("member-day-gold", evening, now=evening.timestamp())
    assert (plan.groups, plan.sends) == (2, 2)
    await deliver(world, 2)
    again = await scheduler.plan("member-day-gold", evening, now=evening.timestamp() + 5)
    assert again.slot_id is None

    assert sim.call_count(ADD) == 2
    by_customer = {name: sim.customer_messages(ext) for name, (_, ext) in customers.items()}
    assert [len(by_customer[n]) for n in ("王阿姨", "小陈", "李先生", "赵女士")] == [1, 0, 0, 1]
    assert "天钥桥路店" in by_customer["王阿姨"][0].text
    assert "长寿路店" in by_customer["赵女士"][0].text
    assert {task.chat_type for task in sim.groupsend_tasks()} == {"single"}
    assert sorted(deliveries(world).values()) == ["sent", "sent"]
