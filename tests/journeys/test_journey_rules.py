"""Entry by each event the engine accepts, and leaving by each stop rule.

Events the bot records from WeCom (added a staff member, joined a store group, got a tag)
come through the simulator's encrypted callbacks; member facts (purchases, levels, stages)
through `record_member_event`, the interface the member data calls.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from bot import inbox
from bot.db import repo
from bot.db.statements import Statements
from bot.journeys import entries, record_member_event
from tests.conftest import World
from tests.journeys.support import Journeys, journeys_world, texts


@pytest.fixture
def bot_overrides() -> dict[str, dict[str, Any]]:
    return {"sop": {"check_after_minutes": 0.001}, "wecom": {"request_timeout_s": 1.0}}


@pytest.fixture
async def jw(world: World, tmp_path: Path) -> Journeys:
    return journeys_world(world, tmp_path)


def one_step(entry: str, stop: str = "{}") -> str:
    return f"""  t:
    title: 测试旅程
    entry: {entry}
    stop: {stop}
    steps:
      - {{id: hello, day: 1, at: "10:00", text: "{{{{ store.name }}}}的问候"}}
      - {{id: again, day: 2, at: "10:00", text: 第二天的问候}}
"""


async def customer(jw: Journeys, state: str = "store-0012-counter", name: str = "王丽") -> str:
    ext, _ = jw.world.sim.scan_contact_qr("linxiaoyu", state, name)
    await jw.world.settle()
    return ext


async def member_event(jw: Journeys, ext: str, event: str, at: float | None = None,
                       **attrs: Any) -> None:
    db = jw.world.runtime.services.db  # type: ignore[union-attr]
    await db.write(lambda c: record_member_event(c, ext, event, at or time.time(), **attrs))


Trigger = Callable[[Journeys, str], Awaitable[None]]


async def joins_group(jw: Journeys, ext: str) -> None:
    chat = jw.world.sim.create_group("linxiaoyu", "果田鲜生·天钥桥路店福利群")
    jw.world.sim.join_group(chat, ext, "qr")
    await jw.world.settle()


async def gets_tag(jw: Journeys, ext: str) -> None:
    tag = jw.world.sim.admin_add_tag("问卷", "D 控糖减脂")
    await jw.world.settle()
    jw.world.sim.edit_contact_tags("linxiaoyu", ext, add_tag_ids=[tag])
    await jw.world.settle()


async def nothing(jw: Journeys, ext: str) -> None:
    return None


ENTRIES: dict[str, tuple[str, Trigger]] = {
    "staff_added": ("{event: staff_added, stores: ['0012']}", nothing),
    "group_joined": ("{event: group_joined}", joins_group),
    "tag_added": ("{event: tag_added, tag: 问卷/D 控糖减脂}", gets_tag),
    "first_purchase": ("{event: first_purchase}",
                       lambda jw, ext: member_event(jw, ext, "first_purchase", order_id="F1")),
    "level_reached": ("{event: level_reached, level: 金卡会员}",
                      lambda jw, ext: member_event(jw, ext, "level_reached", level="金卡会员")),
    "stage_changed": ("{event: stage_changed, stage: 成长期}",
                      lambda jw, ext: member_event(jw, ext, "stage_changed", stage="成长期")),
}


@pytest.mark.parametrize("event", sorted(ENTRIES))
async def test_entry_by_each_event(jw: Journeys, event: str) -> None:
    entry, trigger = ENTRIES[event]
    jw.only(one_step(entry))
    ext = await customer(jw)
    bystander = await customer(jw, "takeout-0015", "赵女士")  # another store, no event
    await jw.now()
    await trigger(jw, ext)
    await jw.now()
    assert jw.entries(ext) == [("t", "active", "")]
    assert jw.entries(bystander) == []
    await jw.at(1, "00:05", plan=True)
    await jw.at(1, "10:00")
    assert texts(jw.world, ext) == ["天钥桥路店的问候"]
    assert texts(jw.world, bystander) == []


async def test_entry_after_quiet_days_for_frequent_buyers_only(jw: Journeys) -> None:
    """no_purchase: four purchases in the year, the last 120 days before day 1; a customer
    with one purchase, as quiet, does not enter."""
    jw.only(one_step("{event: no_purchase, days: 120, min_purchases: 4}"))
    frequent, rare = await customer(jw), await customer(jw, name="赵女士")
    tomorrow_noon = jw.clock.day(1, "12:00")
    for back in (120, 150, 200, 250):
        await member_event(jw, frequent, "purchase", tomorrow_noon - back * 86400,
                           order_id=f"P{back}")
    await member_event(jw, rare, "purchase", tomorrow_noon - 120 * 86400, order_id="R1")
    await jw.now()
    await jw.at(1, "00:05", plan=True)
    await jw.at(1, "10:00")
    assert [j for j, _, _ in jw.entries(frequent)] == ["t"]
    assert jw.entries(rare) == []
    assert texts(jw.world, frequent) == ["天钥桥路店的问候"]


async def leaves_group(jw: Journeys, ext: str) -> None:
    chat = jw.world.sim.create_group("linxiaoyu", "果田鲜生·天钥桥路店福利群")
    jw.world.sim.join_group(chat, ext, "qr")
    await jw.world.settle()
    await jw.now()
    jw.world.sim.leave_group(chat, ext)
    await jw.world.settle()


async def gets_stop_tag(jw: Journeys, ext: str) -> None:
    tag = jw.world.sim.admin_add_tag("旅程", "不再打扰")
    await jw.world.settle()
    jw.world.sim.edit_contact_tags("linxiaoyu", ext, add_tag_ids=[tag])
    await jw.world.settle()


async def deletes_staff(jw: Journeys, ext: str) -> None:
    jw.world.sim.customer_deletes_staff("linxiaoyu", ext)
    await jw.world.settle()


async def buys(jw: Journeys, ext: str) -> None:
    await member_event(jw, ext, "purchase", jw.clock.day(2, "09:00"), order_id="B1")


STOPS: dict[str, tuple[str, Trigger, str]] = {
    "tag": ("{tags: [旅程/不再打扰]}", gets_stop_tag, "got the tag 旅程/不再打扰"),
    "purchase": ("{purchase: true}", buys, "bought"),
    "left_groups": ("{left_groups: true}", leaves_group, "left the store groups"),
    "staff_deleted": ("{}", deletes_staff, "gone: no longer a friend of any staff member"),
}


@pytest.mark.parametrize("rule", sorted(STOPS))
async def test_stop_by_each_rule(jw: Journeys, rule: str) -> None:
    """Day 1 goes out; the stop happens before day 2's step, which is skipped with why."""
    stop, trigger, reason = STOPS[rule]
    jw.only(one_step("{event: staff_added}", stop))
    ext = await customer(jw)
    await jw.now()
    await jw.at(1, "00:05", plan=True)
    await jw.at(1, "10:00")
    await trigger(jw, ext)
    await jw.at(2, "00:05", plan=True)
    # the day's plan stops it (the hand-over would too: it checks each customer again)
    assert jw.entries(ext) == [("t", "stopped", reason)]
    await jw.at(2, "10:00")
    assert jw.entries(ext) == [("t", "stopped", reason)]
    assert jw.steps(ext) == {"hello": ("queued", ""), "again": ("skipped", f"stopped: {reason}")}
    assert len(jw.world.sim.customer_messages(ext)) == 1


async def test_a_step_marked_last_ends_the_journey(jw: Journeys) -> None:
    jw.only(one_step("{event: staff_added}").replace('text: "{{ store.name }}的问候"',
                                                      'last: true, text: 最后一条'))
    ext = await customer(jw)
    await jw.now()
    await jw.at(1, "00:05", plan=True)
    await jw.at(1, "10:00")
    await jw.at(2, "00:05", plan=True)
    await jw.at(2, "10:00")
    assert jw.entries(ext) == [("t", "finished", "last step")]
    assert texts(jw.world, ext) == ["最后一条"]


def narrowed(name: str, entry: str) -> str:
    return one_step(entry).replace("  t:", f"  {name}:", 1)


async def test_a_sweep_works_out_an_event_once_unless_it_waits_for_a_tag(
        jw: Journeys, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each sweep re-reads the last minutes of events. One already decided (she entered, or
    her store turned her away) is not worked out again; one turned away only for a tag the
    customer does not carry yet is, until the tag comes (the welcome marks tags a moment
    after the add). A journey added to the files opens every event again."""
    worked_out: list[list[str]] = []
    real = entries.entries_for

    def spy(conn: Any, journeys: Any, events: list[entries.Happened]) -> entries.Entered:
        worked_out.append(sorted(ev.external_userid for ev in events))
        return real(conn, journeys, events)

    monkeypatch.setattr(entries, "entries_for", spy)
    both = (narrowed("tagged", "{event: staff_added, stores: ['0012'], tags: [问卷/D 控糖减脂]}")
            + narrowed("store", "{event: staff_added, stores: ['0012']}"))
    jw.only(both, precedence="[tagged, store]")
    wang = await customer(jw)
    zhao = await customer(jw, "takeout-0015", "赵女士")
    await jw.now()
    assert jw.entries(wang) == [("store", "active", "")] and jw.entries(zhao) == []
    await jw.now()
    assert worked_out[-2:] == [sorted([wang, zhao]), [wang]]  # zhao's store: decided

    await gets_tag(jw, wang)
    await jw.now()
    assert [j for j, _, _ in jw.entries(wang)] == ["store", "tagged"]
    await jw.now()
    assert worked_out[-2:] == [[wang], []]

    jw.only(both + narrowed("anyone", "{event: staff_added}"),
            precedence="[tagged, store, anyone]")
    await jw.now()
    assert worked_out[-1] == sorted([wang, zhao])
    assert jw.entries(zhao) == [("anyone", "active", "")]
    assert [j for j, _, _ in jw.entries(wang)] == ["store", "tagged", "anyone"]


async def test_a_customer_handled_late_still_enters(jw: Journeys) -> None:
    """A sweep re-reads only the last minute before its mark, and the mark never passes a
    callback still being handled: its rows carry its receipt time, however late they
    land (a retried handler, a backlog). Here the add is recorded, sweeps run for five
    minutes while it is in progress, and only then are its rows written."""
    jw.only(one_step("{event: staff_added, stores: ['0012']}"))
    earlier = await customer(jw)  # the replica's own id, as its inbox rows carry it
    db = jw.world.runtime.services.db  # type: ignore[union-attr]
    me = await db.lookup("SELECT claimed_by FROM inbox_event LIMIT 1", {})
    await jw.now()
    received = jw.clock()
    late = "wm_late_customer"
    event_id = (await db.write(Statements(((inbox.RECORD, {
        "dedupe_key": "late-add", "kind": "contact.added", "lane": late, "payload": "{}",
        "create_time": received, "received_at": received, "status": "pending",
        "attempts": 0, "claimed_by": me}),), returns=0)))[0]
    for _ in range(10):  # five minutes of sweeps while the handler is still at it
        jw.clock.t += 30
        await jw.runner.tick()
    await db.write(Statements.of(repo.member_added(
        external_userid=late, userid="linxiaoyu", name="迟到的顾客", store_id="0012",
        channel="store-counter", state="store-0012-counter", at=received),
        [inbox.done_step(event_id)]))
    jw.clock.t += 30
    await jw.runner.tick()
    assert jw.entries(late) == [("t", "active", "")]
    assert jw.entries(earlier) == [("t", "active", "")]
