"""Purchases through the signed webhook: levels move, tags follow in WeCom, refusals write
nothing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest

from tests.conftest import World
from tests.members.support import (
    MANAGER,
    POS_SECRET,
    customer_tags,
    headers,
    post_purchases,
    purchase,
)


@pytest.fixture(autouse=True)
def pos_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_POS_SECRET", POS_SECRET)


async def eventually(check: Callable[[], bool], within_s: float = 10.0) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.05)


async def test_a_purchase_moves_wang_li_to_gold_and_her_tag_follows(world: World):
    ext, _ = world.sim.scan_contact_qr(MANAGER, "store-0012-counter", "王丽")
    await world.settle()
    status, answer = await post_purchases(world, [purchase("T-1", "M0001", "350.00")])
    assert (status, answer) == (200, {"accepted": 1, "already": 0})
    assert world.rows("SELECT level, stage, growth FROM loyalty_member") == [
        ("银卡", "引入期", 3500)]
    assert world.rows("SELECT tag_dirty FROM loyalty_member") == [(0,)]  # not linked yet

    from bot.members.linking import bind_member_code
    runtime = world.runtime
    assert runtime.services is not None and runtime.members is not None
    assert await runtime.services.db.write(lambda c: bind_member_code(c, "M0001", ext))
    runtime.members.sync.wake()
    await eventually(lambda: {"会员等级/银卡", "生命周期/引入期"} <= customer_tags(world, ext))

    status, answer = await post_purchases(world, [purchase("T-2", "M0001", "268.00")])
    assert status == 200 and answer["accepted"] == 1
    await eventually(lambda: world.rows(
        "SELECT level, level_tag_synced, tag_dirty FROM loyalty_member") == [
        ("金卡", "会员等级/金卡", 0)])
    tags = customer_tags(world, ext)
    assert "会员等级/金卡" in tags
    assert "会员等级/银卡" not in tags and "生命周期/引入期" not in tags
    assert "生命周期/成长期" in tags  # a second purchase within two weeks of the first
    marks = [c for c in world.sim.calls if c.path == "externalcontact/mark_tag"
             and c.errcode == 0]
    assert len(marks) == 3  # the channel's welcome tags, then one call per change
    # the move is a journey event (the shipped 升级祝贺 starts on it), once: a re-sent
    # order and a recompute of everyone record no second one
    moves = "SELECT event, attrs FROM member_event WHERE event IN ('level_reached', " \
            "'stage_changed') ORDER BY event"
    expected = [("level_reached", '{"level": "金卡"}'),
                ("stage_changed", '{"stage": "成长期"}')]
    assert world.rows(moves) == expected
    await post_purchases(world, [purchase("T-2", "M0001", "268.00")])
    await runtime.members.recompute_all()
    assert world.rows(moves) == expected


async def test_unionid_from_the_welcome_links_the_member(world: World):
    status, _ = await post_purchases(world, [purchase("U-1", "M0100", "20.00",
                                                      unionid="oUnion0100")])
    assert status == 200
    # the scan makes the contact and queues the callback; the unionid is set before the
    # bot reads the customer back (externalcontact/get) in the welcome handler
    ext, _ = world.sim.scan_contact_qr(MANAGER, "store-0012-counter", "张晓")
    world.sim.world.contacts[ext].unionid = "oUnion0100"
    await world.settle()
    await eventually(lambda: "会员等级/普通" in customer_tags(world, ext))
    assert world.rows("SELECT external_userid FROM loyalty_member") == [(ext,)]


async def test_same_order_twice_counts_once(world: World):
    for _ in range(2):
        status, _ = await post_purchases(world, [purchase("D-1", "M0200", "100.00")])
        assert status == 200
    assert world.rows("SELECT total_fen, purchases FROM loyalty_member") == [(10000, 1)]


@pytest.mark.parametrize("case", ["forged", "stale", "unsigned", "bad_amount", "not_json"])
async def test_refused_requests_write_nothing(world: World, case: str):
    body = [purchase("R-1", "M0300", "12.00")]
    if case == "forged":
        status, _ = await post_purchases(world, body, secret="not-the-secret")
    elif case == "stale":
        status, _ = await post_purchases(world, body, timestamp=int(time.time()) - 600)
    elif case == "unsigned":
        status, _ = await post_purchases(world, body, hdrs={"Content-Type": "application/json"})
    elif case == "bad_amount":
        body.append(purchase("R-2", "M0300", "-3"))
        status, answer = await post_purchases(world, body)
        assert "purchases[1]: amount" in answer["error"]
    else:
        raw = b"{not json"
        async with world.http.post(f"{world.bot_url}/api/pos/purchases", data=raw,
                                   headers=headers("POST", "/api/pos/purchases", raw)) as r:
            status = r.status
    assert 400 <= status < 500
    assert world.count("purchase") == 0 and world.count("loyalty_member") == 0
    assert world.count("pos_request") == 0


async def test_replayed_request_id_is_refused(world: World):
    body = [purchase("P-1", "M0400", "30.00")]
    status, _ = await post_purchases(world, body, request_id="replay-0001")
    assert status == 200
    body2 = [purchase("P-2", "M0400", "30.00")]
    status, answer = await post_purchases(world, body2, request_id="replay-0001")
    assert status == 409, answer
    assert world.rows("SELECT order_id FROM purchase") == [("P-1",)]


async def test_oversized_body_is_refused(world: World):
    body = [purchase(f"O-{i}", "M0500", "1.00", items="苹果" * 200) for i in range(150)]
    status, _ = await post_purchases(world, body)
    assert status == 413
    assert world.count("purchase") == 0
