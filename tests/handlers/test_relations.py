"""Who still has whom: 84061 and the one-way relation, and customers with many followers
(issue 18, points 3 and 5)."""

from __future__ import annotations

from tests.conftest import World

MANAGER = "linxiaoyu"  # manager of store 0012
GET = "externalcontact/get"


def member_tags(world: World, ext: str) -> set[str]:
    return {t for (t,) in world.rows(
        "SELECT tag_id FROM member_tag WHERE external_userid = ?", ext)}


def event(world: World, kind: str) -> tuple[str, int]:
    [(status, attempts)] = world.rows(
        "SELECT status, attempts FROM inbox_event WHERE kind = ? ORDER BY id DESC LIMIT 1",
        kind)
    return str(status), int(attempts)


async def test_customer_who_deleted_the_manager_is_still_the_managers_one_way(world: World):
    """del_follow_user leaves a one-way relation: the manager still has the customer, tags
    them, and the bot reads the customer back as before (no 84061)."""
    ext, _ = world.sim.scan_contact_qr(MANAGER, "store-0012-counter", "许多多")
    gold = world.sim.admin_add_tag("会员等级", "金卡")
    await world.settle()

    world.sim.customer_deletes_staff(MANAGER, ext)
    await world.settle()
    assert world.rows("SELECT status FROM member_follow WHERE external_userid = ?", ext) == [
        ("deleted_by_customer",)]

    world.sim.edit_contact_tags(MANAGER, ext, add_tag_ids=[gold])
    await world.settle()
    assert event(world, "contact.edited")[0] == "done"
    assert gold in member_tags(world, ext)
    data = await world.api(GET, params={"external_userid": ext})
    assert [f["userid"] for f in data["follow_user"]] == [MANAGER]


async def test_edit_read_after_the_manager_deleted_the_customer_is_final(world: World):
    """The manager tags, then deletes the customer before the bot reads them: 84061 is the
    true answer (no member has them), so the handler finishes instead of failing 3 times."""
    ext, _ = world.sim.scan_contact_qr(MANAGER, "store-0012-counter", "柳橙")
    gold = world.sim.admin_add_tag("会员等级", "金卡")
    await world.settle()
    mark = world.sim.mark()

    world.sim.edit_contact_tags(MANAGER, ext, add_tag_ids=[gold])
    world.sim.staff_deletes_customer(MANAGER, ext)  # before the edit callback is handled
    await world.settle()

    assert event(world, "contact.edited") == ("done", 1)
    assert [c.errcode for c in world.sim.api_calls_since(mark) if c.path == GET] == [84061]
    assert world.rows("SELECT status FROM member_follow WHERE external_userid = ?", ext) == [
        ("deleted_by_staff",)]


async def test_a_half_add_not_yet_accepted_answers_84061_and_is_tagged_once_accepted(
        world: World):
    ext, _ = world.sim.scan_contact_qr(MANAGER, "store-0012-counter", "半路", half=True)
    await world.settle()
    get = await world.http.get(world.sim.base_url + GET, params={
        "access_token": await _token(world), "external_userid": ext})
    assert (await get.json())["errcode"] == 84061
    world.sim.staff_confirms_contact(MANAGER, ext)
    await world.settle()
    data = await world.api(GET, params={"external_userid": ext})
    assert data["follow_user"][0]["tags"]  # the channel's tags, marked after acceptance


async def _token(world: World) -> str:
    async with world.http.get(world.sim.base_url + "gettoken", params={
            "corpid": world.secrets.corp_id, "corpsecret": world.secrets.secret}) as resp:
        return str((await resp.json())["access_token"])


async def test_tags_set_by_a_follower_past_the_first_500_are_read(world: World):
    """externalcontact/get pages follow_user by 500: the bot reads every page."""
    staff = [f"hq{n:04d}" for n in range(520)]
    for userid in staff:
        world.sim.add_staff(userid, f"总部{userid[-4:]}")
    ext = "wmPAGEDCUSTOMER0000000000000001"
    world.sim.bulk_follow(ext, "人气王", staff)
    gold = world.sim.admin_add_tag("会员等级", "金卡")
    await world.settle()
    mark = world.sim.mark()

    world.sim.edit_contact_tags(staff[-1], ext, add_tag_ids=[gold])  # the 520th follower
    await world.settle()

    assert event(world, "contact.edited")[0] == "done"
    assert member_tags(world, ext) == {gold}
    assert [c.path for c in world.sim.api_calls_since(mark)].count(GET) == 2  # two pages
