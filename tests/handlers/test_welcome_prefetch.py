"""The welcome's urgent part (read the customer, render, send) starts while the callback
is recorded.

bot.dispatch starts a handler's registered part (`Router.prefetch`) as the event arrives,
so the record's commit and the round trips to WeCom overlap, and the customer does not
wait for our commit. What must still hold: one read and one send per welcome (the handler
uses what the prefetch got, it does not read again), a redelivery welcomes nobody twice,
a failed read costs the name and not the welcome, and a retried handler reads afresh
instead of reusing its first attempt's answer.
"""

from __future__ import annotations

import asyncio
import time

from bot.simulator.messages import render
from bot.wecom import errors
from tests.conftest import World

MANAGER = "linxiaoyu"  # manager of store 0012
GET = "externalcontact/get"
SEND = "externalcontact/send_welcome_msg"


def _welcomes(world: World, ext: str) -> list[tuple[str, str]]:
    return world.rows("SELECT status, text FROM welcome WHERE external_userid = ?", ext)


def _added_xml(world: World, contact: dict[str, str]) -> str:
    """WeCom's add_external_contact callback for a prepared contact, as plaintext."""
    return render([("ToUserName", world.secrets.corp_id), ("FromUserName", "sys"),
                   ("CreateTime", int(time.time())), ("MsgType", "event"),
                   ("Event", "change_external_contact"), ("ChangeType", "add_external_contact"),
                   ("UserID", MANAGER), ("ExternalUserID", contact["external_userid"]),
                   ("State", "takeout-card"), ("WelcomeCode", contact["welcome_code"])])


async def test_each_new_customer_is_read_once_and_welcomed_by_name(world: World) -> None:
    customers = [world.sim.scan_contact_qr(MANAGER, "store-0012-counter", f"预读顾客{i}")[0]
                 for i in range(5)]
    await world.settle()
    assert world.sim.call_count(GET) == 5
    assert world.sim.call_count(SEND) == 5
    for i, ext in enumerate(customers):
        [(status, text)] = _welcomes(world, ext)
        assert status == "sent" and f"预读顾客{i}" in text
        assert len(world.sim.welcomes_for(ext)) == 1


async def test_redeliveries_racing_the_first_cancel_their_reads(world: World) -> None:
    """Ten copies at once, re-encrypted as WeCom's retries are: every copy may start a
    read before its record says "duplicate", but one customer is welcomed, once."""
    contact = world.sim.prepare_contacts(MANAGER, 1, "takeout-card")[0]
    ext = contact["external_userid"]
    xml = _added_xml(world, contact)

    async def post() -> int:
        message = world.crypto().encrypt(xml, str(int(time.time())))
        async with world.http.post(world.callback_url, params=message.query(),
                                   data=message.post_body(world.secrets.corp_id)) as resp:
            return resp.status

    assert await asyncio.gather(*(post() for _ in range(10))) == [200] * 10
    await world.settle()
    assert world.count("inbox_event") == 1 and world.runtime.duplicates == 9
    assert len(world.sim.welcomes_for(ext)) == 1
    assert world.sim.call_count(SEND) == 1
    assert 1 <= world.sim.call_count(GET) <= 10
    assert [status for status, _ in _welcomes(world, ext)] == ["sent"]


async def test_a_failed_prefetch_still_sends_the_welcome_without_the_name(world: World) -> None:
    world.sim.fail_next(GET, 60111)  # "invalid userid": not retried
    ext, _ = world.sim.scan_contact_qr(MANAGER, "store-0012-counter", "读不到的顾客")
    await world.settle()
    [(status, text)] = _welcomes(world, ext)
    assert status == "sent" and "读不到的顾客" not in text
    assert len(world.sim.welcomes_for(ext)) == 1


async def test_a_retried_welcome_reads_again_and_is_not_sent_twice(world: World) -> None:
    world.sim.fail_next("externalcontact/mark_tag", errors.SYSTEM_BUSY, times=4)  # past retries
    ext, _ = world.sim.scan_contact_qr(MANAGER, "store-0012-counter", "重试顾客")
    await world.settle(within_s=30.0)
    assert world.sim.call_count(GET) == 2  # the prefetch, then the retry's own read
    assert len(world.sim.welcomes_for(ext)) == 1
    [(status, _)] = _welcomes(world, ext)
    assert status == "already_sent"  # the retry met 41051, as before the prefetch


async def test_the_welcome_does_not_wait_for_the_record(world: World) -> None:
    """The record cannot commit (another connection holds the lock), yet the welcome goes;
    once it can, the row says "sent" and nobody was welcomed twice."""
    world.sim.scan_contact_qr(MANAGER, "store-0012-counter", "先来的顾客")
    await world.settle()  # on PostgreSQL: a block of each API's shared quota is reserved
    with world.db.holding_writes("inbox_event"):
        ext, _ = world.sim.scan_contact_qr(MANAGER, "store-0012-counter", "不等记录的顾客")
        for _ in range(200):  # milliseconds, unless the machine is very busy
            if world.sim.welcomes_for(ext):
                break
            await asyncio.sleep(0.02)
        assert len(world.sim.welcomes_for(ext)) == 1
        assert world.count("inbox_event") == 1  # not recorded yet, not answered yet
    await world.settle()
    [(status, text)] = _welcomes(world, ext)
    assert status == "sent" and "不等记录的顾客" in text
    assert world.sim.call_count(SEND) == 2 and len(world.sim.welcomes_for(ext)) == 1


async def test_a_redelivery_of_a_recorded_event_starts_nothing(world: World) -> None:
    """A copy of an event already recorded: no read, no send; its record says duplicate."""
    contact = world.sim.prepare_contacts(MANAGER, 1, "takeout-card")[0]
    ext = contact["external_userid"]
    xml = _added_xml(world, contact)
    assert (await world.post_callback(xml)).status == 200
    await world.settle()
    reads, sends = world.sim.call_count(GET), world.sim.call_count(SEND)
    assert (reads, sends) == (1, 1)
    assert (await world.post_callback(xml)).status == 200
    await world.settle()
    assert world.runtime.duplicates == 1
    assert (world.sim.call_count(GET), world.sim.call_count(SEND)) == (reads, sends)
    assert [status for status, _ in _welcomes(world, ext)] == ["sent"]
