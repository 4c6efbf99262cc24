"""Corp tag callbacks and tag creation: what the admin console and WeCom's answers do to the
bot's copy of the tag list (issue 18, points 1 and 4)."""

from __future__ import annotations

import pytest

from bot.simulator import SimOptions
from tests.conftest import World

LIST = "externalcontact/get_corp_tag_list"
ADD_TAG = "externalcontact/add_corp_tag"


def tag_rows(world: World) -> set[tuple[str, str]]:
    return {(g, n) for g, n in world.rows("SELECT group_name, name FROM tag")}


async def test_reordering_the_tag_groups_is_acknowledged_and_the_list_re_read(world: World):
    """shuffle with an empty Id (the groups themselves were reordered) used to get 400,
    WeCom gave up after its retries and the bot never read the list again."""
    world.sim.admin_add_tag("会员等级", "金卡")
    world.sim.admin_add_tag("到店偏好", "周末")
    await world.settle()
    before = world.sim.call_count(LIST)

    world.sim.admin_shuffle_tags()  # the groups: no Id, no TagType
    await world.settle()

    shuffle = world.sim.deliveries[-1]
    assert shuffle.get("ChangeType") == "shuffle" and shuffle.get("Id") == ""
    assert shuffle.get("TagType") is None
    assert shuffle.status == "delivered" and [a.status for a in shuffle.attempts] == [200]
    assert world.sim.call_count(LIST) == before + 1
    [(kind, status)] = world.rows(
        "SELECT kind, status FROM inbox_event WHERE kind = 'tag.changed' "
        "AND dedupe_key IN (SELECT dedupe_key FROM inbox_event ORDER BY id DESC LIMIT 1)")
    assert (kind, status) == ("tag.changed", "done")


async def test_reordering_the_tags_of_one_group_names_the_group(world: World):
    tag = world.sim.admin_add_tag("会员等级", "金卡")
    world.sim.admin_add_tag("会员等级", "银卡")
    await world.settle()
    group_id = (await world.api(LIST, {}))["tag_group"][0]["group_id"]
    before = world.sim.call_count(LIST)
    world.sim.admin_shuffle_tags(group_id)
    await world.settle()
    assert world.sim.deliveries[-1].get("Id") == group_id
    assert world.sim.deliveries[-1].status == "delivered"
    assert world.sim.call_count(LIST) == before + 1
    assert tag in {t["id"] for t in (await world.api(LIST, {}))["tag_group"][0]["tag"]}


# -- tag names: at most 30 characters; a name that exists answered either way (point 4) ------


@pytest.fixture(params=["error", "existing"])
def sim_options(request: pytest.FixtureRequest) -> SimOptions:
    """Both answers WeCom may give to a tag name that already exists in its group."""
    return SimOptions(callback_retry_interval_s=0.05, callback_timeout_s=2.0,
                      tag_name_exists=request.param)


async def test_a_name_created_elsewhere_meanwhile_is_used_and_the_rest_still_created(
        world: World):
    """Another app (or replica) created 渠道/门店收银台 through the API, which raises no
    callback, so the bot's list is stale. Asked for 门店收银台 and 外卖卡片 together, WeCom
    answers 40071 or returns the existing tag: either way both names get their ids, the
    existing one is reused, and neither exists twice. (Before: after 40071 the bot re-read
    the list and never asked for 外卖卡片 again.)"""
    runtime = world.runtime
    assert runtime.services is not None
    await runtime.services.tags.sync()
    made = await world.api(ADD_TAG, {"group_name": "渠道", "tag": [{"name": "门店收银台"}]})
    existing = made["tag_group"]["tag"][0]["id"]

    ids = await runtime.services.tags.ensure([("渠道", "门店收银台"), ("渠道", "外卖卡片")])

    listing = (await world.api(LIST, {}))["tag_group"]
    by_name = {t["name"]: t["id"] for g in listing for t in g["tag"]}
    assert sorted(t["name"] for g in listing for t in g["tag"]) == ["外卖卡片", "门店收银台"]
    assert ids == [existing, by_name["外卖卡片"]]
    assert tag_rows(world) == {("渠道", "门店收银台"), ("渠道", "外卖卡片")}


async def test_a_tag_name_over_30_characters_is_never_sent(world: World):
    runtime = world.runtime
    assert runtime.services is not None
    long_name = "果园鲜生天钥桥路店会员日专享福利超值水果礼盒预订顾客名单"  # 28
    too_long = long_name + "三期"  # 30: allowed
    way_too_long = too_long + "乙"  # 31
    mark = world.sim.mark()
    ids = await runtime.services.tags.ensure([("活动", too_long), ("活动", way_too_long)])
    assert len(ids) == 1
    calls = [c for c in world.sim.api_calls_since(mark) if c.path == ADD_TAG]
    assert [c.errcode for c in calls] == [0]
    assert tag_rows(world) == {("活动", too_long)}


async def test_a_channel_tag_made_elsewhere_meanwhile_is_marked_not_lost(world: World):
    """The welcome flow with a stale tag list: the customer gets the existing tag."""
    runtime = world.runtime
    assert runtime.services is not None
    await runtime.services.tags.sync()
    made = await world.api(ADD_TAG, {"group_name": "渠道", "tag": [{"name": "门店收银台"}]})
    console_tag = made["tag_group"]["tag"][0]["id"]  # through the API: no callback

    ext, _ = world.sim.scan_contact_qr("linxiaoyu", "store-0012-counter", "顾客甲")
    await world.settle()

    data = await world.api("externalcontact/get", params={"external_userid": ext})
    names = {t["tag_name"]: t["tag_id"] for t in data["follow_user"][0]["tags"]}
    assert names["门店收银台"] == console_tag
    assert "天钥桥路店" in names  # created in the same request (or after the re-read)
    listing = (await world.api(LIST, {}))["tag_group"]
    assert sum(t["name"] == "门店收银台" for g in listing for t in g["tag"]) == 1
    assert ("渠道", "门店收银台") in tag_rows(world)
    assert console_tag in {t for (t,) in world.rows(
        "SELECT tag_id FROM member_tag WHERE external_userid = ?", ext)}
