"""A 群发 whose answer was lost is looked up, never created twice (issue 18, point 2).

WeCom's group-send list returns an image that was sent by `pic_url` as a media id of its
own; the morning SOP sends product photos by pic_url, so the lookup must match on what the
list keeps (text, attachment kinds and count, owner, time window)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from tests.conftest import World
from tests.outbox.test_sop_delivery import ADD, MORNING, deliver, make_groups, scheduler_for

LIST = "externalcontact/get_groupmsg_list_v2"


@pytest.fixture
def bot_overrides() -> dict[str, dict[str, Any]]:
    return {"sop": {"check_after_minutes": 0.001}, "wecom": {"request_timeout_s": 1.0}}


async def test_lost_answer_with_photos_is_found_by_the_lookup_not_sent_again(world: World):
    chats = await make_groups(world)
    runtime = world.runtime
    assert runtime.outbox is not None
    # Both add_msg_template calls run in WeCom; their answers never arrive.
    world.sim.lose_next_answer(ADD, times=2)
    await scheduler_for(world).plan("morning-new-arrivals", MORNING, now=MORNING.timestamp())
    await deliver(world, 2)

    assert world.sim.call_count(ADD) == 2  # not one call more
    assert runtime.outbox.stats.reconciled_found == 2
    assert world.sim.call_count(LIST) >= 1  # checks due together share one walk
    for chat in chats.values():
        [seen] = world.sim.group_messages(chat)
        assert any(a["msgtype"] == "image" and "pic_url" in a["image"]
                   for a in seen.attachments)  # sent by URL ...
    now = int(time.time())
    listed = await world.api(LIST, {"chat_type": "group", "start_time": now - 3600,
                                    "end_time": now + 60})
    images = [a for m in listed["group_msg_list"] for a in m.get("attachments", [])
              if a["msgtype"] == "image"]
    assert images and all(set(a["image"]) == {"media_id"} for a in images)  # ... listed by id
    assert world.sim.groupsend_doubles() == {}
