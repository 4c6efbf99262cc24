"""Owner posts (``via: owner_post``): the real bot, the simulator over HTTP, a real database.

A fired owner_post slot records one due post per group and reminds each group owner once by
app message (message/send); the owner opens the group, the sidebar's 「今日群SOP」 lists the
post, 「发到本群」 puts it into the group (sendChatMessage) and records it posted. None of it
touches the groups' 群发 quota.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from typing import Any

import aiohttp
import pytest

from bot.app import RUNTIME, load_sop_book
from bot.outbox.planner import SlotPlan
from bot.outbox.scheduler import SopScheduler
from tests.conftest import World, start_bot
from tests.outbox.test_sop_delivery import ADD, MORNING, deliver, make_groups, scheduler_for, until
from tests.replies_support import MANAGER_0012, MANAGER_0015

FLASH = MORNING.replace(hour=14, minute=40)  # a past Wednesday 14:40
SEND = "message/send"


def this_minute() -> datetime:
    """A slot today (the sidebar lists today's posts) that is already due."""
    return datetime.now(FLASH.tzinfo).replace(second=0, microsecond=0)


@pytest.fixture
def bot_overrides() -> dict[str, dict[str, Any]]:
    return {"sop": {"check_after_minutes": 0.001}, "wecom": {"request_timeout_s": 1.0}}


def reminders(world: World) -> list[tuple[str, str]]:
    return world.rows("SELECT sender, status FROM outbox_send WHERE via = 'owner_remind' "
                      "ORDER BY sender")  # type: ignore[return-value]


async def fire_flash_sale(world: World, slot: datetime = FLASH,
                          public_url: str = "") -> SlotPlan:
    runtime = world.runtime
    assert runtime.services is not None and runtime.outbox is not None
    settings = world.settings.with_overrides(sidebar={"public_url": public_url})
    scheduler = SopScheduler(runtime.services.db, settings, lambda: load_sop_book(settings),
                             runtime.outbox)
    plan = await scheduler.plan("flash-sale", slot, now=slot.timestamp())
    await until(lambda: len(reminders(world)) == 2
                and all(s == "done" for _, s in reminders(world)))
    return plan


async def test_each_owner_gets_one_reminder_listing_their_groups(world: World) -> None:
    chats = await make_groups(world)
    plan = await fire_flash_sale(world, public_url="https://bot.guotian.example")
    assert plan.slot_id is not None and plan.groups == 3 and plan.owners == 2 and plan.held == []

    [mine] = world.sim.app_messages_for(MANAGER_0012)
    assert mine.agentid == 1000002
    assert mine.content.startswith("14:40 今日秒杀该发了：你的 2 个客户群")
    assert "果田鲜生·天钥桥路店福利群" in mine.content and "福利2群" in mine.content
    assert "长寿路店" not in mine.content
    assert "「今日群SOP」" in mine.content
    assert "https://bot.guotian.example/sidebar" in mine.content
    [theirs] = world.sim.app_messages_for(MANAGER_0015)
    assert "你的 1 个客户群" in theirs.content and "长寿路店福利群" in theirs.content
    assert world.sim.call_count(SEND) == 2
    [(payload,)] = world.rows("SELECT payload FROM outbox_send WHERE sender = ?",
                              MANAGER_0012)
    body = json.loads(payload)
    assert body["enable_duplicate_check"] == 1
    assert body["duplicate_check_interval"] >= 15 * 60  # covers the flash sale's grace

    posts = world.rows("SELECT chat_id, owner, store_id, status, payload FROM owner_post "
                       "ORDER BY chat_id")
    assert sorted(r[0] for r in posts) == sorted(chats.values())
    assert {r[3] for r in posts} == {"due"}
    text = {r[0]: json.loads(r[4]) for r in posts}
    assert "天钥桥路店" in text[chats["0012-a"]]["text"]
    assert "长寿路店" in text[chats["0015"]]["text"]
    assert text[chats["0015"]]["attachments"][0]["msgtype"] == "image"
    # nothing went to the groups by itself: the owners post it
    assert all(world.sim.group_messages(c) == [] for c in chats.values())
    assert world.count("outbox_delivery") == 0 and world.sim.call_count(ADD) == 0


@pytest.mark.parametrize("rule", ["day1", "month"])
async def test_owner_posts_leave_the_groups_quota_alone(world: World, rule: str) -> None:
    """With one 群发 a day allowed, the morning 群发 still goes out after (and before) an
    owner post: owner posts are not counted."""
    await make_groups(world)
    runtime = world.runtime
    assert runtime.services is not None and runtime.outbox is not None
    settings = world.settings.with_overrides(sop={"group_send_quota": rule})
    scheduler = SopScheduler(runtime.services.db, settings, lambda: load_sop_book(settings),
                             runtime.outbox)
    day = MORNING.replace(day=1)  # month rule: ceil(30 / 30) = 1 群发 a day
    evening = day.replace(hour=21, minute=50)
    await scheduler.plan("goodnight", evening, now=day.timestamp())
    morning = await scheduler.plan("morning-new-arrivals", day, now=day.timestamp())
    flash = await scheduler.plan("flash-sale", day.replace(hour=14, minute=40),
                                 now=day.timestamp())
    assert morning.held == [] and morning.groups == 3 and morning.sends == 2
    assert flash.held == [] and flash.groups == 3
    await deliver(world, 2)
    assert world.sim.call_count(ADD) == 2
    assert world.count("owner_post") == 6


@pytest.mark.parametrize("stale", [False, True])
async def test_killed_mid_reminder_the_restarted_bot_does_not_remind_twice(
        world: World, stale: bool) -> None:
    """Killed between message/send and marking it sent: the restarted bot sends it again
    with the duplicate check (WeCom drops the repeat); once the check's interval no longer
    covers the first call, it is recorded uncertain and never sent again."""
    await make_groups(world)
    runtime = world.runtime
    assert runtime.outbox is not None and runtime.replica is not None
    # both calls reach WeCom (and are delivered) but the answers come after the bot died
    world.sim.delay_next(SEND, 0.8, times=2)
    planned_at = FLASH.timestamp() if stale else time.time()
    await scheduler_for(world).plan("flash-sale", FLASH, now=planned_at)
    await until(lambda: [s for _, s in reminders(world)] == ["sending", "sending"])
    await until(lambda: world.sim.faults_pending(SEND) == 0)
    await runtime.outbox.stop(grace_s=0)  # the process dies between the call and the mark
    await runtime.replica.stop()
    assert [s for _, s in reminders(world)] == ["sending", "sending"]
    await asyncio.sleep(1.0)  # WeCom has delivered both meanwhile

    runner, _ = await start_bot(world.settings, world.secrets)  # same database
    try:
        restarted = runner.app[RUNTIME]
        final = "uncertain" if stale else "done"
        await until(lambda: [s for _, s in reminders(world)] == [final, final])
        assert restarted.outbox is not None
        assert restarted.outbox.stats.owner_resends == (0 if stale else 2)
    finally:
        await runner.cleanup()
    # sent again (the claim said the first call may have gone out) with the duplicate
    # check on: WeCom dropped the repeats, each owner saw the reminder once
    assert world.sim.call_count(SEND) == (2 if stale else 4)
    assert world.sim.world.app_duplicates == (0 if stale else 2)
    assert len(world.sim.app_messages_for(MANAGER_0012)) == 1
    assert len(world.sim.app_messages_for(MANAGER_0015)) == 1


async def test_a_slot_fired_twice_reminds_once(world: World) -> None:
    await make_groups(world)
    await fire_flash_sale(world)
    again = await scheduler_for(world).plan("flash-sale", FLASH, now=FLASH.timestamp() + 5)
    assert again.slot_id is None
    await asyncio.sleep(0.3)
    assert world.sim.call_count(SEND) == 2 and world.count("owner_post") == 3


# --------------------------------------------------------------------------- the sidebar


class GroupBrowser:
    """A staff member's WeCom client with a customer group's chat open, and the sidebar."""

    def __init__(self, world: World, userid: str, chat_id: str) -> None:
        self.world, self.userid, self.chat_id = world, userid, chat_id
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def __aenter__(self) -> GroupBrowser:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.close()

    async def open_sidebar(self) -> tuple[int, str]:
        """Log the client in with the group open, then the sidebar (OAuth2 round trip)."""
        async with self.http.get(f"{self.world.sim.url}/sim/client/login",
                                 params={"userid": self.userid, "chat_id": self.chat_id}) as r:
            assert r.status == 200, await r.text()
        async with self.http.get(f"{self.world.bot_url}/sidebar",
                                 params={"chat": self.chat_id}) as resp:
            html = await resp.text()
        self.csrf = html.split('"csrf": "', 1)[1].split('"', 1)[0]
        return resp.status, html

    async def posts(self, chat_id: str | None = None) -> tuple[int, Any]:
        async with self.http.get(f"{self.world.bot_url}/api/group-posts",
                                 params={"chat": chat_id or self.chat_id}) as resp:
            return resp.status, await resp.json()

    async def send_chat_message(self, content: str) -> str:
        """What the JS bridge's wx.invoke('sendChatMessage') does in a group chat."""
        body = {"userid": self.userid, "chat_id": self.chat_id, "msgtype": "text",
                "text": {"content": content}}
        async with self.http.post(f"{self.world.sim.url}/sim/client/chat_messages",
                                  data=json.dumps(body)) as resp:
            return str((await resp.json())["err_msg"])

    async def posted(self, post_id: Any, chat_id: str | None = None,
                     csrf: str | None = None) -> tuple[int, Any]:
        async with self.http.post(
                f"{self.world.bot_url}/api/group-posts/posted",
                headers={"X-CSRF-Token": self.csrf if csrf is None else csrf},
                json={"chat": chat_id or self.chat_id, "post_id": post_id}) as resp:
            return resp.status, await resp.json()


async def test_the_owner_posts_from_the_group_sidebar(world: World) -> None:
    chats = await make_groups(world)
    await fire_flash_sale(world, this_minute())
    chat = chats["0012-a"]
    async with GroupBrowser(world, MANAGER_0012, chat) as browser:
        status, html = await browser.open_sidebar()
        assert status == 200
        assert "今日群SOP" in html and "发到本群" in html and "【限时秒杀】" in html
        assert "图片请手动添加" in html  # the flash sale's photo has only a pic_url
        status, data = await browser.posts()
        assert status == 200 and data["name"] == "果田鲜生·天钥桥路店福利群"
        [post] = data["due"]
        assert post["sop"] == "flash-sale" and "天钥桥路店" in post["text"]
        assert world.sim.media.hosted(post["pictures"][0])  # uploaded: WeCom's own URL

        assert await browser.send_chat_message(post["text"]) == "sendChatMessage:ok"
        status, answer = await browser.posted(post["id"])
        assert status == 200 and answer["post"]["status"] == "posted"
        first_at = answer["post"]["posted_at"]
        status, again = await browser.posted(post["id"])  # a second tap: nothing changes
        assert status == 200 and again["post"]["posted_at"] == first_at

        status, data = await browser.posts()
        assert data["due"] == [] and [p["id"] for p in data["posted"]] == [post["id"]]
        # the other group of the same owner still has its post due
        status, other = await browser.posts(chats["0012-b"])
        assert status == 200 and len(other["due"]) == 1
        # a post of another group is not this group's
        status, _ = await browser.posted(other["due"][0]["id"])
        assert status == 404
        status, _ = await browser.posted(post["id"], csrf="wrong")
        assert status == 403

    [seen] = world.sim.group_messages(chat)
    assert seen.via == "member" and seen.sender == MANAGER_0012
    assert seen.text == post["text"]
    assert world.rows("SELECT status, posted_by FROM owner_post WHERE chat_id = ?", chat) == [
        ("posted", MANAGER_0012)]
    assert world.rows("SELECT count(*) FROM owner_post WHERE status = 'due'") == [(2,)]


async def test_staff_outside_the_group_get_403_and_strangers_401(world: World) -> None:
    chats = await make_groups(world)
    await fire_flash_sale(world, this_minute())
    mine = chats["0012-a"]
    async with GroupBrowser(world, MANAGER_0015, chats["0015"]) as browser:
        status, _ = await browser.open_sidebar()
        assert status == 200
        answers = []
        for chat in (mine, "wr-no-such-group"):
            status, data = await browser.posts(chat)
            assert status == 403
            answers.append(data)
            async with browser.http.get(f"{world.bot_url}/sidebar/group",
                                        params={"chat": chat}) as resp:
                assert resp.status == 403
                assert "天钥桥路店" not in await resp.text()
            status, data = await browser.posted(1, chat_id=chat)
            assert status == 403
        assert answers[0] == answers[1]  # the same words whether the group exists or not
        # the client cannot post into a group the member is not in either
        browser.chat_id = mine
        assert "fail" in await browser.send_chat_message("hello")
    # a staff member in the group (group_member, type 1) may post
    world.sim.join_group(mine, MANAGER_0015, "invite", invitor=MANAGER_0012)
    await world.settle()
    async with GroupBrowser(world, MANAGER_0015, mine) as browser:
        await browser.open_sidebar()
        status, data = await browser.posts()
        assert status == 200 and len(data["due"]) == 1
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{world.bot_url}/api/group-posts", params={"chat": mine}) as r:
            assert r.status == 401
        async with http.get(f"{world.bot_url}/sidebar/group", params={"chat": mine}) as r:
            assert r.status == 401
        async with http.post(f"{world.bot_url}/api/group-posts/posted",
                             json={"chat": mine, "post_id": 1}) as r:
            assert r.status == 401
    assert world.rows("SELECT count(*) FROM owner_post WHERE status = 'posted'") == [(0,)]


async def test_metrics_count_owner_posts_due_reminded_posted(world: World) -> None:
    chats = await make_groups(world)
    await fire_flash_sale(world, this_minute())
    async with GroupBrowser(world, MANAGER_0012, chats["0012-a"]) as browser:
        await browser.open_sidebar()
        _, data = await browser.posts()
        await browser.posted(data["due"][0]["id"])
    async with aiohttp.ClientSession() as http, http.get(f"{world.bot_url}/metrics") as r:
        text = await r.text()
    assert 'wecom_bot_sop_deliveries_24h{status="posted"} 1.0' in text
    assert 'wecom_bot_sop_deliveries_24h{status="reminded"} 2.0' in text


async def test_simulated_message_send_drops_a_repeat_inside_the_duplicate_interval(
        world: World) -> None:
    body = {"touser": MANAGER_0012, "msgtype": "text", "agentid": 1000002,
            "text": {"content": "同一条"}}

    def received(content: str) -> int:
        return sum(1 for m in world.sim.app_messages_for(MANAGER_0012) if m.content == content)

    await world.api(SEND, body)
    await world.api(SEND, body)  # no check asked: delivered again
    assert received("同一条") == 2
    checked = {**body, "text": {"content": "查重"}, "enable_duplicate_check": 1,
               "duplicate_check_interval": 1}
    first = await world.api(SEND, checked)
    again = await world.api(SEND, checked)  # errcode 0, nothing delivered
    assert again["msgid"] == first["msgid"] and received("查重") == 1
    await asyncio.sleep(1.1)  # the interval is over
    await world.api(SEND, checked)
    assert received("查重") == 2 and world.sim.world.app_duplicates == 1
