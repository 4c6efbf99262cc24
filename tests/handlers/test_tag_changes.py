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
