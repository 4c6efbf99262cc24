"""A customer scans a QR code: the welcome, the tags, the member record; end to end."""

from __future__ import annotations

import pytest

from bot.simulator import SimOptions
from tests.conftest import REPO, World

MANAGER_0012 = "linxiaoyu"  # 天钥桥路店, see sop/stores.yaml


def member_tags(world: World, external_userid: str) -> set[tuple[str, str]]:
    return set(world.rows(
        "SELECT t.group_name, t.name FROM member_tag m JOIN tag t ON t.id = m.tag_id "
        "WHERE m.external_userid = ?", external_userid))


async def wecom_tags(world: World, external_userid: str) -> set[tuple[str, str]]:
    """The tags WeCom itself holds for the customer (what staff see in the client)."""
    contact = await world.api("externalcontact/get", params={"external_userid": external_userid})
    return {(t["group_name"], t["tag_name"]) for f in contact["follow_user"] for t in f["tags"]}


async def test_store_counter_qr_welcomes_with_coupon_and_store_tags(world: World):
    ext, code = world.sim.scan_contact_qr(MANAGER_0012, "store-0012-counter", "王丽")
    assert code
    await world.settle()

    [welcome] = world.sim.welcomes_for(ext)
    assert "王丽" in welcome.text and "天钥桥路店" in welcome.text
    assert "5元无门槛券" in welcome.text and "JOIN5" in welcome.text
    # the store's group picture (sop/images/group-qr/0012.png), uploaded once: WeCom's URL
    [picture] = welcome.attachments
    url = picture["image"]["pic_url"]
    assert world.sim.media.hosted(url) and world.sim.media.foreign_pic_urls == []
    async with world.http.get(url) as resp:
        assert await resp.read() == (REPO / "sop/images/group-qr/0012.png").read_bytes()
    expected_tags = {("渠道", "门店收银台"), ("门店", "天钥桥路店"), ("城市", "上海")}
    assert member_tags(world, ext) == expected_tags
    assert await wecom_tags(world, ext) == expected_tags
    [member] = world.rows("SELECT name, store_id, staff_userid, channel, state, status "
                          "FROM member WHERE external_userid = ?", ext)
    assert member == ("王丽", "0012", MANAGER_0012, "store-counter", "store-0012-counter", "active")
    [(status, latency_ms)] = world.rows("SELECT status, latency_ms FROM welcome")
    assert status == "sent" and latency_ms > 0
    again, _ = world.sim.scan_contact_qr(MANAGER_0012, "store-0012-counter", "李雷")
    await world.settle()
    assert world.sim.welcomes_for(again)[0].attachments == welcome.attachments
    assert world.sim.call_count("media/uploadimg") == 1  # the same picture: no second upload


@pytest.mark.parametrize(("state", "channel", "must_say", "tag"), [
    ("takeout-card", "takeout-card", "TAKE5", ("渠道", "外卖卡片")),
    ("takeout-0015", "takeout-store", "长寿路店", ("门店", "长寿路店")),
    ("tuesday-fruit-day", "tuesday-fruit-day", "TUE8", ("活动", "周二水果日")),
    ("persona-xiaoxian", "persona-xiaoxian", "XIAN3", ("渠道", "人设号小鲜")),
    ("a-poster-nobody-registered", "default", "", ("渠道", "未知渠道")),
    ("", "default", "", ("渠道", "未知渠道")),
])
async def test_each_channel_gets_its_welcome_and_tags(world: World, state, channel, must_say, tag):
    ext, _ = world.sim.scan_contact_qr(MANAGER_0012, state, "陈晨")
    await world.settle()
    [welcome] = world.sim.welcomes_for(ext)
    assert "陈晨" in welcome.text
    assert must_say in welcome.text
    assert tag in member_tags(world, ext)
    assert world.rows("SELECT channel FROM member WHERE external_userid = ?", ext) == [(channel,)]


async def test_welcomes_differ_by_channel(world: World):
    a, _ = world.sim.scan_contact_qr(MANAGER_0012, "store-0012-counter", "甲")
    b, _ = world.sim.scan_contact_qr(MANAGER_0012, "tuesday-fruit-day", "乙")
    await world.settle()
    text_a = world.sim.welcomes_for(a)[0].text.replace("甲", "")
    text_b = world.sim.welcomes_for(b)[0].text.replace("乙", "")
    assert text_a != text_b


async def test_no_welcome_code_means_no_welcome_but_the_member_is_recorded(world: World):
    ext, code = world.sim.scan_contact_qr(MANAGER_0012, "store-0012-counter", "赵六",
                                          with_welcome_code=False)
    assert code is None
    await world.settle()
    assert world.sim.welcomes_for(ext) == []
    assert world.sim.call_count("externalcontact/send_welcome_msg") == 0
    assert world.rows("SELECT status FROM welcome") == [("no_code",)]
    assert world.rows("SELECT status FROM member WHERE external_userid = ?", ext) == [("active",)]
    assert ("渠道", "门店收银台") in member_tags(world, ext)


async def test_half_added_customer_is_welcomed_too(world: World):
    ext, _ = world.sim.scan_contact_qr(MANAGER_0012, "takeout-card", "钱七", half=True)
    await world.settle()
    assert len(world.sim.welcomes_for(ext)) == 1


async def test_channel_tags_are_created_once_under_a_burst(world: World):
    customers = [world.sim.scan_contact_qr(MANAGER_0012, "store-0012-counter", f"顾客{i}")[0]
                 for i in range(30)]
    await world.settle()
    assert world.sim.call_count("externalcontact/add_corp_tag") <= 3  # at most one per group
    assert all(len(world.sim.welcomes_for(ext)) == 1 for ext in customers)
    assert world.rows("SELECT count(DISTINCT tag_id) FROM member_tag") == [(3,)]


# -- faults on the way out -------------------------------------------------------------


async def test_busy_and_rate_limited_welcome_calls_are_retried(world: World):
    world.sim.fail_next("externalcontact/send_welcome_msg", -1, times=2)
    world.sim.fail_next("externalcontact/mark_tag", 45009, times=1)
    ext, _ = world.sim.scan_contact_qr(MANAGER_0012, "takeout-card", "孙八")
    await world.settle()
    assert len(world.sim.welcomes_for(ext)) == 1
    assert world.rows("SELECT status FROM welcome") == [("sent",)]
    assert ("渠道", "外卖卡片") in member_tags(world, ext)


async def test_expired_token_is_refreshed(world: World):
    before = world.sim.gettoken_count
    world.sim.expire_tokens()
    ext, _ = world.sim.scan_contact_qr(MANAGER_0012, "takeout-card", "周九")
    await world.settle()
    assert len(world.sim.welcomes_for(ext)) == 1
    assert world.sim.gettoken_count == before + 1


async def test_another_app_sending_41096_is_retried(world: World):
    world.sim.fail_next("externalcontact/send_welcome_msg", 41096, times=1)
    ext, _ = world.sim.scan_contact_qr(MANAGER_0012, "takeout-card", "吴十")
    await world.settle()
    assert len(world.sim.welcomes_for(ext)) == 1
    assert world.rows("SELECT status, attempts FROM welcome") == [("sent", 2)]


async def test_already_sent_41051_is_final(world: World):
    world.sim.fail_next("externalcontact/send_welcome_msg", 41051, times=5)
    world.sim.scan_contact_qr(MANAGER_0012, "takeout-card", "郑一")
    await world.settle()
    assert world.sim.call_count("externalcontact/send_welcome_msg") == 1
    assert world.rows("SELECT status, attempts FROM welcome") == [("already_sent", 1)]


@pytest.fixture
def sim_options() -> SimOptions:
    return SimOptions(callback_retry_interval_s=0.05, callback_timeout_s=2.0)


async def test_welcome_code_expiry_is_respected(world: World):
    """A customer read that takes past the code's life: no send is attempted after it."""
    world.runtime.settings = world.runtime.settings.with_overrides(
        wecom={"welcome_deadline_s": 1.0})
    assert world.runtime.services is not None
    world.runtime.services.settings = world.runtime.settings
    world.sim.options.welcome_code_ttl_s = 1.0
    world.sim.delay_next("externalcontact/get", 1.2)
    ext, _ = world.sim.scan_contact_qr(MANAGER_0012, "takeout-card", "王二")
    await world.settle()
    assert world.sim.welcomes_for(ext) == []
    assert world.sim.call_count("externalcontact/send_welcome_msg") == 0
    assert world.rows("SELECT status FROM welcome") == [("expired",)]
    assert ("渠道", "外卖卡片") in member_tags(world, ext)  # still tagged and recorded
