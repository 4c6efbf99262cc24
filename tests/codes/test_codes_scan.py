"""A code the bot made, as a customer meets it: its QR image names the code, scanning it
gets the channel's welcome with the store's join code, and a join through that code is
attributed to the store."""

from __future__ import annotations

from pathlib import Path

from tests.codes.support import (
    codes_of,
    decode_qr,
    fetch_qr,
    operator_files,
    run_sync,
    store_groups,
)
from tests.conftest import REPO, World


async def test_scanning_a_store_code_welcomes_with_its_channel_and_join_code(
        world: World, tmp_path: Path):
    settings = operator_files(tmp_path, world)
    await store_groups(world)
    await run_sync(world, settings)
    [counter] = await codes_of(world, store="0012", channel="store-counter")
    [join] = await codes_of(world, store="0012", channel="门店福利群")
    assert (counter.kind, counter.state, counter.store_name) == (
        "contact", "store-0012-counter", "天钥桥路店")

    scanned = decode_qr(await fetch_qr(world, counter.qr_code))
    assert counter.config_id in scanned  # the QR names the code it belongs to
    result = world.sim.scan_code(scanned, "王丽")
    assert result["userid"] == "linxiaoyu" and result["state"] == "store-0012-counter"
    await world.settle()

    [welcome] = world.sim.welcomes_for(result["external_userid"])
    assert "王丽" in welcome.text and "5元无门槛券" in welcome.text
    assert "长按下面的二维码" in welcome.text
    # the join code as a picture WeCom hosts (uploaded once with media/uploadimg: pic_url
    # takes only those), which a phone reads as the join code itself
    [picture] = welcome.attachments
    pic_url = picture["image"]["pic_url"]
    assert picture["msgtype"] == "image" and world.sim.media.hosted(pic_url)
    async with world.http.get(pic_url) as resp:
        assert join.config_id in decode_qr(await resp.read())
    tags = world.rows("SELECT t.group_name, t.name FROM member_tag m JOIN tag t "
                      "ON t.id = m.tag_id WHERE m.external_userid = ?",
                      result["external_userid"])
    assert set(tags) == {("渠道", "门店收银台"), ("门店", "天钥桥路店"), ("城市", "上海")}


async def test_without_a_join_code_the_welcome_keeps_the_stores_yaml_image(world: World):
    ext, _ = world.sim.scan_contact_qr("linxiaoyu", "store-0012-counter", "陈晨")
    await world.settle()
    [welcome] = world.sim.welcomes_for(ext)
    url = welcome.attachments[0]["image"]["pic_url"]  # sop/images/group-qr/0012.png, uploaded
    assert world.sim.media.hosted(url)
    async with world.http.get(url) as resp:
        assert await resp.read() == (REPO / "sop/images/group-qr/0012.png").read_bytes()


async def test_a_join_through_the_join_code_is_attributed_to_the_store(
        world: World, tmp_path: Path):
    world.sim.options.join_state_delay_s = 0.3  # WeCom fills the state in a moment later
    settings = operator_files(tmp_path, world)
    chats = await store_groups(world)
    await run_sync(world, settings)
    [join] = await codes_of(world, store="0015", channel="门店福利群")
    scanned = decode_qr(await fetch_qr(world, join.qr_code))
    result = world.sim.scan_code(scanned, "李娜")
    assert result["chat_id"] == chats["0015"]
    await world.settle()
    assert world.rows("SELECT member_id, state, store_id, channel FROM group_join_state") == [
        (result["external_userid"], "group-0015", "0015", "门店福利群")]
    assert world.rows("SELECT how FROM group_member_log WHERE member_id = ?",
                      result["external_userid"]) == [("qr",)]


async def test_a_full_store_gets_a_new_group_and_the_code_follows(
        world: World, tmp_path: Path):
    world.sim.options.chat_member_limit = 3  # the manager and two customers
    world.sim.options.join_state_delay_s = 0.0
    settings = operator_files(tmp_path, world)
    codes_yaml = tmp_path / "sop" / "codes.yaml"
    codes_yaml.write_text(codes_yaml.read_text().replace("  room_base_id: 2\n",
                                                         "  room_base_id: 2\n  full_at: 3\n"))
    chats = await store_groups(world, ("0012",))
    await run_sync(world, settings)
    [join] = await codes_of(world, store="0012", channel="门店福利群")
    first = [world.sim.scan_code(join.qr_code, name)["chat_id"] for name in ("甲", "乙")]
    second = world.sim.scan_code(join.qr_code, "顾客丙")
    assert first == [chats["0012"]] * 2 and second["chat_id"] != chats["0012"]
    new_room = world.sim.world.chats[second["chat_id"]]
    assert new_room.name == "果田鲜生·天钥桥路店福利群2"
    await world.settle()
    assert {r[0] for r in world.rows("SELECT store_id FROM group_join_state")} == {"0012"}

    # the full group left the code's list when WeCom opened the new one, without a sync
    way = world.sim.codes.join_ways[join.config_id]
    assert way.chat_id_list == [second["chat_id"]]
    code, out = await run_sync(world, settings)
    assert code == 0 and "0 create, 0 update, 16 unchanged" in out


async def test_a_dismissed_group_leaves_the_join_code(world: World, tmp_path: Path):
    settings = operator_files(tmp_path, world)
    chats = await store_groups(world, ("0012",))
    other = world.sim.create_group("linxiaoyu", "果田鲜生·天钥桥路店福利2群")
    await world.settle()
    await run_sync(world, settings)
    [join] = await codes_of(world, store="0012", channel="门店福利群")
    way = world.sim.codes.join_ways[join.config_id]
    assert sorted(way.chat_id_list) == sorted([chats["0012"], other])
    world.sim.dismiss_group(chats["0012"])
    await world.settle()
    assert way.chat_id_list == [other]
    assert "0 create, 0 update, 16 unchanged" in (await run_sync(world, settings))[1]


async def test_a_reply_invites_with_the_join_code(world: World, tmp_path: Path):
    settings = operator_files(tmp_path, world)
    await store_groups(world, ("0012",))
    ext, _ = world.sim.scan_contact_qr("linxiaoyu", "store-0012-counter", "王丽")
    await world.settle()
    replies = world.runtime.services.replies
    before = await replies.for_customer("linxiaoyu", ext, query="水果日")
    [intro] = [r for r in before.replies if r.id == "member-day-intro"]
    # stores.yaml names a local picture: a text cannot carry it, so no link until sync
    assert "images/group-qr" not in intro.text and "长按就能进群" not in intro.text
    await run_sync(world, settings)
    [join] = await codes_of(world, store="0012", channel="门店福利群")
    after = await replies.for_customer("linxiaoyu", ext, query="水果日")
    [intro] = [r for r in after.replies if r.id == "member-day-intro"]
    [(pic_url,)] = world.rows("SELECT pic_url FROM wecom_code WHERE key = ?", "join:0012")
    assert pic_url and pic_url in intro.text and "长按就能进群" in intro.text
    async with world.http.get(pic_url) as resp:  # the join code, as WeCom hosts its copy
        assert join.config_id in decode_qr(await resp.read())


async def test_a_failed_picture_upload_is_caught_up_by_the_next_sync(
        world: World, tmp_path: Path):
    """pic_url takes only uploadimg's URLs, so sync uploads each join code's QR once; when
    that upload fails the welcome still invites (with WeCom's qr_code URL) and the next sync,
    with nothing else to change, uploads it."""
    settings = operator_files(tmp_path, world)
    await store_groups(world, ("0012",))
    world.sim.fail_next("media/uploadimg", -1, times=world.settings.wecom.max_retries + 1)
    code, out = await run_sync(world, settings)
    assert code == 1 and "picture of join:0012" in out
    assert world.sim.faults_pending("media/uploadimg") == 0
    [join] = await codes_of(world, store="0012", channel="门店福利群")
    assert world.rows("SELECT pic_url FROM wecom_code WHERE key = 'join:0012'") == [("",)]
    ext, _ = world.sim.scan_contact_qr("linxiaoyu", "store-0012-counter", "王丽")
    await world.settle()
    [welcome] = world.sim.welcomes_for(ext)
    assert welcome.attachments[0]["image"]["pic_url"] == join.qr_code

    code, out = await run_sync(world, settings)
    assert code == 0 and "1 pictures uploaded" in out, out
    [(pic_url,)] = world.rows("SELECT pic_url FROM wecom_code WHERE key = 'join:0012'")
    assert world.sim.media.hosted(pic_url)
    ext, _ = world.sim.scan_contact_qr("linxiaoyu", "store-0012-counter", "李娜")
    await world.settle()
    [welcome] = world.sim.welcomes_for(ext)
    assert welcome.attachments[0]["image"]["pic_url"] == pic_url
