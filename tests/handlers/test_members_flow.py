"""Members after the welcome: groups joined and left (with history), tags edited, deletions."""

from __future__ import annotations

from tests.conftest import World

MANAGER = "linxiaoyu"  # manager of store 0012


async def new_customer(world: World, name: str, state: str = "store-0012-counter") -> str:
    ext, _ = world.sim.scan_contact_qr(MANAGER, state, name)
    return ext


def history(world: World, chat_id: str) -> list[tuple[str, str, str]]:
    return world.rows("SELECT member_id, action, how FROM group_member_log WHERE chat_id = ? "
                      "ORDER BY id", chat_id)


def current(world: World, chat_id: str) -> set[str]:
    return {r[0] for r in world.rows(
        "SELECT member_id FROM group_member WHERE chat_id = ?", chat_id)}


async def test_join_leave_and_rejoin_are_all_kept(world: World):
    chat = world.sim.create_group(MANAGER, "果田鲜生·天钥桥路店福利群")
    await world.settle()
    anna, bo, cai = [await new_customer(world, n) for n in ("安娜", "薄荷", "蔡蔡")]
    # A day in the group: each step seconds or hours apart, each callback handled in between.
    steps = [
        lambda: world.sim.join_group(chat, anna, "invite", invitor=MANAGER),
        lambda: world.sim.join_group(chat, bo, "link", invitor=MANAGER),
        lambda: world.sim.join_group(chat, cai, "qr"),
        lambda: world.sim.leave_group(chat, anna),  # left by herself
        lambda: world.sim.leave_group(chat, bo, removed=True),  # removed by the owner
        lambda: world.sim.join_group(chat, anna, "qr"),  # came back
    ]
    for step in steps:
        step()
        await world.settle()

    assert history(world, chat) == [
        (MANAGER, "join", "invite"),  # the owner, recorded when the group was created
        (anna, "join", "invite"), (bo, "join", "link"), (cai, "join", "qr"),
        (anna, "leave", "left"), (bo, "leave", "removed"), (anna, "join", "qr"),
    ]
    assert current(world, chat) == {MANAGER, anna, cai}
    [(name, owner, store_id)] = world.rows(
        "SELECT name, owner, store_id FROM customer_group WHERE chat_id = ?", chat)
    assert (name, owner, store_id) == ("果田鲜生·天钥桥路店福利群", MANAGER, "0012")
    [(invitor,)] = world.rows("SELECT invitor FROM group_member_log WHERE member_id = ? "
                              "AND how = 'link'", bo)
    assert invitor == MANAGER


async def test_join_then_leave_before_the_bot_reads_the_group(world: World):
    """Joined by link and gone again before groupchat/get: the callback's coarse answer."""
    chat = world.sim.create_group(MANAGER, "群")
    await world.settle()
    ext = await new_customer(world, "快进快出")
    world.sim.join_group(chat, ext, "link")
    world.sim.leave_group(chat, ext)
    await world.settle()
    assert history(world, chat)[1:] == [(ext, "join", "invite"), (ext, "leave", "left")]
    assert ext not in current(world, chat)


async def test_several_members_in_one_callback(world: World):
    chat = world.sim.create_group(MANAGER, "群")
    await world.settle()
    people = [await new_customer(world, f"客{i}") for i in range(5)]
    world.sim.join_group_many(chat, people, "qr")
    await world.settle()
    assert current(world, chat) == {MANAGER, *people}
    assert world.rows("SELECT count(*) FROM group_member_log WHERE how = 'qr'") == [(5,)]


async def test_when_the_group_read_fails_the_callback_still_counts(world: World):
    chat = world.sim.create_group(MANAGER, "群")
    await world.settle()
    ext = await new_customer(world, "韩梅梅")
    await world.settle()
    world.sim.fail_next("externalcontact/groupchat/get", 60011, times=5)  # no permission
    world.sim.join_group(chat, ext, "qr")
    await world.settle()
    assert (ext, "join", "qr") in history(world, chat)


async def test_dismissed_group_has_no_current_members(world: World):
    chat = world.sim.create_group(MANAGER, "临时群")
    ext = await new_customer(world, "李雷")
    world.sim.join_group(chat, ext, "invite")
    world.sim.dismiss_group(chat)
    await world.settle()
    assert current(world, chat) == set()
    assert (ext, "leave", "dismissed") in history(world, chat)
    assert world.rows("SELECT dismissed_at IS NOT NULL FROM customer_group") == [(1,)]


async def test_tag_edits_in_wecom_are_followed(world: World):
    ext = await new_customer(world, "林一")
    await world.settle()
    acne = world.sim.admin_add_tag("肤质问卷", "3-痘痘困扰")
    member_day = world.sim.admin_add_tag("会员", "金卡会员")
    await world.settle()  # the bot re-reads the tag list on change_external_tag
    counter_tag = world.rows("SELECT id FROM tag WHERE name = '门店收银台'")[0][0]

    world.sim.edit_contact_tags(MANAGER, ext, add_tag_ids=[acne, member_day],
                                remove_tag_ids=[counter_tag])
    await world.settle()
    names = {r[0] for r in world.rows(
        "SELECT t.name FROM member_tag m JOIN tag t ON t.id = m.tag_id "
        "WHERE m.external_userid = ?", ext)}
    assert names == {"3-痘痘困扰", "金卡会员", "天钥桥路店", "上海"}


async def test_deleting_a_corp_tag_removes_it_from_members(world: World):
    ext = await new_customer(world, "林二")
    await world.settle()
    [(city_tag,)] = world.rows("SELECT id FROM tag WHERE name = '上海'")
    world.sim.admin_delete_tag(city_tag)
    await world.settle()
    assert world.rows("SELECT count(*) FROM tag WHERE id = ?", city_tag) == [(0,)]
    assert world.rows("SELECT count(*) FROM member_tag WHERE tag_id = ?", city_tag) == [(0,)]
    assert world.rows("SELECT count(*) FROM member_tag WHERE external_userid = ?", ext) == [(2,)]


async def test_deletions_set_the_member_status(world: World):
    gone = await new_customer(world, "走了")
    dropped = await new_customer(world, "被删")
    world.sim.customer_deletes_staff(MANAGER, gone)
    world.sim.staff_deletes_customer(MANAGER, dropped)
    await world.settle()
    status = dict(world.rows("SELECT external_userid, status FROM member"))
    assert status[gone] == "deleted_by_customer"
    assert status[dropped] == "deleted_by_staff"

    # Coming back makes them active again, and keeps their first channel.
    world.sim.scan_contact_qr(MANAGER, "takeout-card", "走了", external_userid=gone)
    await world.settle()
    assert world.rows("SELECT status, channel FROM member WHERE external_userid = ?", gone) == [
        ("active", "store-counter")]
