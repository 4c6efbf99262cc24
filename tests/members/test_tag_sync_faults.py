"""The tag sync under faults: -1 and 45009 answers, and a process killed mid-call."""

from __future__ import annotations

import pytest

from tests.conftest import World
from tests.members.support import MANAGER, POS_SECRET, customer_tags, post_purchases, purchase
from tests.members.test_purchases_webhook import eventually


@pytest.fixture(autouse=True)
def pos_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_POS_SECRET", POS_SECRET)


async def gold_customer(world: World, name: str, code: str, unionid: str) -> str:
    ext, _ = world.sim.scan_contact_qr(MANAGER, "store-0012-counter", name)
    world.sim.world.contacts[ext].unionid = unionid
    await world.settle()
    return ext


def mark_calls(world: World) -> list[int | None]:
    return [c.errcode for c in world.sim.calls if c.path == "externalcontact/mark_tag"]


@pytest.mark.parametrize("errcode", [-1, 45009])
async def test_busy_and_rate_limited_answers_are_waited_out(world: World, errcode: int):
    ext = await gold_customer(world, "李娜", "M0700", "oLiNa")
    before = len(mark_calls(world))
    world.sim.fail_next("externalcontact/mark_tag", errcode, times=2)
    status, _ = await post_purchases(world, [purchase("F-1", "M0700", "700.00",
                                                      unionid="oLiNa")])
    assert status == 200
    await eventually(lambda: world.rows("SELECT tag_dirty, sync_attempts, level_tag_synced "
                                        "FROM loyalty_member") == [(0, 0, "会员等级/金卡")],
                     within_s=20)
    assert "会员等级/金卡" in customer_tags(world, ext)
    assert mark_calls(world)[before:] == [errcode, errcode, 0]


async def test_a_sync_killed_mid_call_finishes_later_with_each_tag_once(world: World):
    """kill -9 after mark_tag landed, before the bot recorded it: the row is still claimed
    by the dead process. The next life claims it again; WeCom ends with each tag once."""
    runtime = world.runtime
    assert runtime.members is not None and runtime.services is not None
    await runtime.members.sync.stop()  # the dead process: nothing of ours runs meanwhile
    ext = await gold_customer(world, "赵敏", "M0800", "oZhaoMin")
    status, _ = await post_purchases(world, [purchase("K-1", "M0800", "800.00",
                                                      unionid="oZhaoMin")])
    assert status == 200
    # what the killed process did: claimed the row, and its mark_tag reached WeCom
    await runtime.services.db.write(lambda c: c.exec_driver_sql(
        "UPDATE loyalty_member SET sync_claimed_by = 'replica-dead'"))
    tags = runtime.services.tags
    add = await tags.ensure([("会员等级", "金卡"), ("生命周期", "引入期")])
    await runtime.services.wecom.mark_tag(MANAGER, ext, add)
    assert {"会员等级/金卡", "生命周期/引入期"} <= customer_tags(world, ext)

    runtime.members.sync.start()  # the next life
    await eventually(lambda: world.rows("SELECT tag_dirty, sync_claimed_by FROM "
                                        "loyalty_member") == [(0, None)])
    follow = world.sim.world.follows.get((MANAGER, ext))
    assert follow is not None
    assert len(follow.tag_ids) == len(set(follow.tag_ids))
    assert customer_tags(world, ext) >= {"会员等级/金卡", "生命周期/引入期"}


async def test_a_live_claim_is_not_taken_twice_and_only_changes_are_sent(world: World):
    runtime = world.runtime
    assert runtime.members is not None
    await gold_customer(world, "钱多多", "M0900", "oQian")
    await post_purchases(world, [purchase("S-1", "M0900", "10.00", unionid="oQian")])
    await eventually(lambda: world.rows("SELECT tag_dirty, level_tag_synced FROM "
                                        "loyalty_member") == [(0, "会员等级/普通")])
    sent = len(mark_calls(world))
    await runtime.members.recompute_all()  # nothing changed: nothing to send
    assert await runtime.members.sync.run_once() == 0
    assert len(mark_calls(world)) == sent


async def test_a_level_tag_marked_by_hand_is_replaced(world: World):
    """Staff marked 会员等级/金卡 by hand on a 普通 member: the sync leaves one level tag."""
    ext = await gold_customer(world, "孙丽", "M1100", "oSunLi")
    runtime = world.runtime
    assert runtime.services is not None
    [gold] = await runtime.services.tags.ensure([("会员等级", "金卡")])
    world.sim.edit_contact_tags(MANAGER, ext, [gold])
    await world.settle()
    await post_purchases(world, [purchase("H-1", "M1100", "10.00", unionid="oSunLi")])
    await eventually(lambda: world.rows("SELECT tag_dirty, level_tag_synced FROM "
                                        "loyalty_member") == [(0, "会员等级/普通")])
    levels = {t for t in customer_tags(world, ext) if t.startswith("会员等级/")}
    assert levels == {"会员等级/普通"}
