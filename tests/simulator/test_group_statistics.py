"""groupchat/statistic and statistic_group_by_day in the simulator, called through the bot's
own wrappers (bot/wecom/group_statistics.py) over HTTP: fields, days, filters, limits, errors.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from bot.simulator.statistics import CHINA
from bot.wecom.errors import WeComError
from bot.wecom.group_statistics import statistic_by_day, statistic_by_owner
from tests.conftest import World

OWNER, OTHER = "linxiaoyu", "zhoujianguo"


def midnight(days_ago: int) -> int:
    today = datetime.now(CHINA).replace(hour=0, minute=0, second=0, microsecond=0)
    return int((today - timedelta(days=days_ago)).timestamp())


def _client(world: World):
    assert world.runtime.services is not None
    return world.runtime.services.wecom


async def _yesterdays_groups(world: World) -> tuple[str, str]:
    """Two groups of OWNER made yesterday: one with chatter, one silent; one of OTHER."""
    sim = world.sim
    lively = sim.create_group(OWNER, "果田鲜生·天钥桥路店福利群")
    silent = sim.create_group(OWNER, "果田鲜生·天钥桥路店福利2群")
    sim.create_group(OTHER, "果田鲜生·长寿路店福利群")
    ext, _ = sim.scan_contact_qr(OWNER, "store-0012-counter", "王丽")
    sim.join_group(lively, ext, "qr")
    await world.settle()
    yesterday = midnight(1)
    for chat in sim.world.chats.values():
        chat.create_time = yesterday + 3600
        for member in chat.members.values():
            member.join_time = yesterday + 7200
    sim.statistics.say(lively, ext, at=yesterday + 8000)
    sim.statistics.say(lively, ext, at=yesterday + 9000)
    sim.statistics.say(lively, OWNER, at=yesterday + 9500)
    sim.statistics.say(lively, ext, at=midnight(2) + 100)  # the day before: not yesterday
    return lively, silent


async def test_statistic_per_owner_counts_their_groups_members_and_messages(world: World):
    await _yesterdays_groups(world)
    # a stamp inside the day counts as its midnight
    items = await statistic_by_owner(_client(world), [OWNER, OTHER], midnight(1) + 12345)
    by_owner = {i["owner"]: i["data"] for i in items}
    assert by_owner[OWNER] == {"new_chat_cnt": 2, "chat_total": 2, "chat_has_msg": 1,
                               "new_member_cnt": 3, "member_total": 3, "member_has_msg": 2,
                               "msg_total": 3, "migrate_trainee_chat_cnt": 0}
    assert by_owner[OTHER]["chat_total"] == 1 and by_owner[OTHER]["msg_total"] == 0
    assert [i["owner"] for i in items] == [OWNER, OTHER]  # order_by 2: most groups first


async def test_statistic_by_day_sums_the_owners_per_day(world: World):
    await _yesterdays_groups(world)
    items = await statistic_by_day(_client(world), [OWNER, OTHER], midnight(3), midnight(1))
    assert [i["stat_time"] for i in items] == [midnight(3), midnight(2), midnight(1)]
    # the chatter dated the day before yesterday predates the groups: nobody counts it
    assert [i["data"]["msg_total"] for i in items] == [0, 0, 3]
    assert items[-1]["data"]["chat_total"] == 3


async def test_paging_with_limit_and_next_offset(world: World):
    await _yesterdays_groups(world)
    answer = await _client(world).call("externalcontact/groupchat/statistic", {
        "day_begin_time": midnight(1), "owner_filter": {"userid_list": [OWNER, OTHER]},
        "limit": 1, "order_by": 2, "order_asc": 1})
    assert answer["total"] == 2 and answer["next_offset"] == 1
    assert [i["owner"] for i in answer["items"]] == [OTHER]


@pytest.mark.parametrize("body", [
    {},  # day_begin_time is required
    {"day_begin_time": 0},  # older than 180 days
    {"day_begin_time": midnight(0)},  # today: not counted yet
    {"day_begin_time": midnight(40), "day_end_time": midnight(1)},  # over 30 days
    {"day_begin_time": midnight(1), "day_end_time": midnight(3)},  # ends before it begins
    {"day_begin_time": midnight(1), "owner_filter": {"userid_list": [f"u{i}" for i in range(101)]}},
    {"day_begin_time": midnight(1), "limit": 1001},
    {"day_begin_time": midnight(1), "order_by": 5},
])
async def test_refused_requests_answer_40058(world: World, body: dict):
    with pytest.raises(WeComError) as refused:
        await _client(world).call("externalcontact/groupchat/statistic", body)
    assert refused.value.errcode == 40058


async def test_no_owner_filter_over_1000_members_is_81017(world: World):
    for n in range(1001):
        world.sim.add_staff(f"staff{n:04d}", f"店员{n}")
    with pytest.raises(WeComError) as refused:
        await _client(world).call("externalcontact/groupchat/statistic_group_by_day",
                                  {"day_begin_time": midnight(1)})
    assert refused.value.errcode == 81017
