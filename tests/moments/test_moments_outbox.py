"""客户朋友圈 through the outbox: the real bot, the simulator over HTTP, a real database.

A ``via: moment`` slot (the shipped Tuesday new arrivals) makes one add_moment_task per
store with its pictures uploaded by media/upload_attachment; the bot follows each job to its
moment, then each staff member until they have posted it (staff confirm in the simulated
client), reminds those who have not by app message, and records it per staff member.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import pytest

from bot.books.stores import StoreDirectory
from bot.console.actions import apply
from bot.moments import records
from bot.outbox.report import format_report
from tests.conftest import REPO, World
from tests.outbox.test_sop_delivery import SHANGHAI, scheduler_for, until

TUESDAY = datetime(2026, 11, 17, 10, 0, tzinfo=SHANGHAI)  # a past Tuesday, 10:00
SOP = "tuesday-moment"
ADD = "externalcontact/add_moment_task"
UPLOAD = "media/upload_attachment"
STORES = StoreDirectory.load(REPO / "sop" / "stores.yaml").all()


@pytest.fixture
def bot_overrides() -> dict[str, dict[str, Any]]:
    return {"sop": {"check_after_minutes": 0.001, "remind_after_minutes": 0.005,
                    "moment_per_minute": 6000},
            "wecom": {"request_timeout_s": 1.0}}


def sends(world: World) -> list[tuple[str, str]]:
    return world.rows("SELECT store_id, status FROM outbox_send WHERE via = 'moment' "
                      "ORDER BY store_id")  # type: ignore[return-value]


def staff(world: World) -> dict[str, tuple[str, int]]:
    return {str(u): (str(s), int(n)) for u, s, n in world.rows(
        "SELECT userid, status, reminders FROM moment_staff")}


def moments_made(world: World) -> bool:
    made = world.rows("SELECT count(*) FROM moment_task WHERE moment_id <> ''")[0][0]
    return int(made) == len(STORES)


async def test_a_moment_is_made_followed_reminded_and_recorded(world: World) -> None:
    plan = await scheduler_for(world).plan(SOP, TUESDAY, now=TUESDAY.timestamp())
    assert plan.slot_id is not None and plan.sends == len(STORES) and plan.held == []
    await until(lambda: moments_made(world))
    sim = world.sim
    assert sim.call_count(ADD) == len(STORES)  # one task per store, made once
    made = list(sim.moments.moments.values())
    by_sender = {m.senders[0]: m for m in made}
    mine = by_sender["linxiaoyu"]
    assert mine.senders == ["linxiaoyu"] and mine.tags == []  # every customer sees it
    assert "天钥桥路店" in mine.body["text"]["content"]
    images = mine.body["attachments"]
    assert images and {a["msgtype"] for a in images} == {"image"} and len(images) <= 9
    assert all(a["image"]["media_id"] in sim.moments.attachments for a in images)
    # the pictures are uploaded once by content, not once per store
    photos = {a["image"]["media_id"] for m in made for a in m.body["attachments"]}
    assert sim.call_count(UPLOAD) == len(photos)

    sim.staff_posts_moment(mine.moment_id, "linxiaoyu")  # she confirms in her client
    await until(lambda: ("0012", "done") in sends(world))
    assert staff(world)["linxiaoyu"][0] == "posted"
    hers = len(sim.app_messages_for("linxiaoyu"))
    # the others are reminded again and again (at most max_reminders); she is not any more
    await until(lambda: all(n == 3 for u, (s, n) in staff(world).items() if u != "linxiaoyu"))
    assert len(sim.app_messages_for("linxiaoyu")) == hers
    other = next(s.manager_userid for s in STORES if s.manager_userid != "linxiaoyu")
    reminders = sim.app_messages_for(other)
    assert len(reminders) == 3
    assert "朋友圈任务" in reminders[0].content and "【周二上新】" in reminders[0].content
    assert all(s == "created" for store, s in sends(world) if store != "0012")

    assert world.runtime.services is not None
    start = TUESDAY.replace(hour=0).timestamp()
    [slot] = await world.runtime.services.db.read(
        lambda c: records.report(c, start, start + 86400))
    assert (slot.sop, slot.tasks, slot.staff, slot.posted) == (SOP, len(STORES),
                                                               len(STORES), 1)
    [line] = [x for x in format_report(TUESDAY.date(), [], [], [slot]) if SOP in x]
    assert f"moment: {len(STORES)} tasks; {len(STORES)} staff, 1 posted" in line


async def test_an_unanswered_moment_task_is_looked_up_not_made_twice(world: World) -> None:
    # WeCom makes the task but answers after the bot's 1 s timeout
    world.sim.delay_next(ADD, 1.5, times=2)
    await scheduler_for(world).plan(SOP, TUESDAY, now=TUESDAY.timestamp())
    await until(lambda: moments_made(world), within_s=30)
    assert world.sim.call_count(ADD) == len(STORES)  # not one call more
    assert len(world.sim.moments.moments) == len(STORES)
    assert world.runtime.outbox is not None
    assert world.runtime.outbox.stats.reconciled_found == 2
    assert sorted(len(m.senders) for m in world.sim.moments.moments.values()) == \
        [1] * len(STORES)


async def test_a_refused_task_is_made_again_once(world: World) -> None:
    world.sim.fail_next(ADD, -1, times=2)  # busy: nothing made, safe to call again
    await scheduler_for(world).plan(SOP, TUESDAY, now=TUESDAY.timestamp())
    await until(lambda: moments_made(world), within_s=30)
    assert len(world.sim.moments.moments) == len(STORES)
    assert {s for _, s in sends(world)} == {"created"}


async def test_a_failed_job_fails_the_send_and_a_retry_makes_the_moment_once(
        world: World) -> None:
    """WeCom's job ends in an error (the uploads are gone: 40007): the send fails with the
    job's errcode; an operator's retry (the console) makes a new task whose job is
    followed, and the moment exists once."""
    world.sim.options.moment_tasks_per_minute = 100  # 13 tasks in this minute: not the point
    await scheduler_for(world).plan(SOP, TUESDAY, now=TUESDAY.timestamp())
    await until(lambda: moments_made(world))
    sim = world.sim
    kept = dict(sim.moments.attachments)
    sim.moments.attachments.clear()  # WeCom no longer has the pictures (expired)
    before = TUESDAY - timedelta(days=7)  # another (past) Tuesday: the cached uploads reused
    plan = await scheduler_for(world).plan(SOP, before, now=before.timestamp())
    failed = "SELECT id, error FROM outbox_send WHERE slot_id = ? AND status = 'failed'"
    await until(lambda: len(world.rows(failed, plan.slot_id)) == len(STORES))
    send_id, error = world.rows(failed, plan.slot_id)[0]
    assert str(error).startswith("40007")
    sim.moments.attachments.update(kept)
    assert world.runtime.services is not None
    await world.runtime.services.db.write(
        lambda c: apply(c, int(send_id), "retry", time.time(), "ops"))
    assert world.runtime.outbox is not None
    world.runtime.outbox.wake()
    made = "SELECT moment_id FROM moment_task WHERE send_id = ? AND moment_id <> ''"
    await until(lambda: len(world.rows(made, send_id)) == 1)
    assert len(sim.moments.moments) == len(STORES) + 1
