"""The simulator's 群发 (add_msg_template and its queries) and group robots, over real HTTP.

The bot will trust these endpoints to tell it whether a group send it lost track of was
created, sent or blocked by the quota, so the contract is pinned here: fail_list, the
41063 dispatch window, owner confirmation, the receive quota per period, reminders and
their cap, cancel, list_v2's exact answers, the robot webhook and its 20-a-minute limit,
and that rate limits and injected faults leave no half-created send behind.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.simulator import FaultRates, SimOptions, Simulator
from bot.simulator.quota import period

CORP_ID = "wwsimgroupsend0001"
SECRET = "sim-secret-groupsend"
TOKEN = "QDG6eK"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
ADD = "externalcontact/add_msg_template"
TASK = "externalcontact/get_groupmsg_task"
RESULT = "externalcontact/get_groupmsg_send_result"
LIST = "externalcontact/get_groupmsg_list_v2"
REMIND = "externalcontact/remind_groupmsg_send"
CANCEL = "externalcontact/cancel_groupmsg_send"
WEBHOOK = "webhook/send"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 32


def sim_options(**overrides: Any) -> SimOptions:
    return SimOptions(**overrides)


@pytest.fixture
def options() -> SimOptions:
    return sim_options()


@pytest.fixture
async def sim(options: SimOptions) -> AsyncIterator[Simulator]:
    simulator = Simulator(CORP_ID, SECRET, TOKEN, AES_KEY, options=options)
    await simulator.start()
    simulator.add_staff("zhangsan", "张三")
    simulator.add_staff("lisi", "李四")
    try:
        yield simulator
    finally:
        await simulator.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class Api:
    """A minimal WeCom client: one token, POST JSON, return the parsed answer."""

    def __init__(self, http: aiohttp.ClientSession, sim: Simulator) -> None:
        self.http = http
        self.sim = sim
        self.token = ""

    async def login(self) -> None:
        async with self.http.get(self.sim.base_url + "gettoken",
                                 params={"corpid": CORP_ID, "corpsecret": SECRET}) as resp:
            self.token = (await resp.json())["access_token"]

    async def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.http.post(self.sim.base_url + path, json=body,
                                  params={"access_token": self.token}) as resp:
            assert resp.status == 200
            return dict(await resp.json())

    async def code(self, path: str, body: dict[str, Any]) -> int:
        return int((await self.post(path, body))["errcode"])

    async def robot(self, key: str, body: dict[str, Any]) -> int:
        async with self.http.post(self.sim.base_url + WEBHOOK, params={"key": key},
                                  json=body) as resp:
            assert resp.status == 200
            return int((await resp.json())["errcode"])

    async def group_send(self, chats: list[str], text: str = "周末特惠", sender: str = "zhangsan",
                         **extra: Any) -> dict[str, Any]:
        body = {"chat_type": "group", "sender": sender, "chat_id_list": chats,
                "text": {"content": text}, **extra}
        data = await self.post(ADD, body)
        assert data["errcode"] == 0, data
        return data


@pytest.fixture
async def api(sim: Simulator, http: aiohttp.ClientSession) -> Api:
    client = Api(http, sim)
    await client.login()
    return client


def groups(sim: Simulator, owner: str, n: int, prefix: str = "wr") -> list[str]:
    rows = [(f"{prefix}{owner}{i:04d}", owner, f"{owner}的群{i}") for i in range(n)]
    sim.bulk_create_groups(rows)
    return [r[0] for r in rows]


# -- create, confirm, results -----------------------------------------------------------------


async def test_group_send_create_confirm_and_results(sim: Simulator, api: Api) -> None:
    mine = groups(sim, "zhangsan", 2)
    [foreign] = groups(sim, "lisi", 1)
    link = {"msgtype": "link", "link": {"title": "新品", "url": "https://example.com/n"}}
    before = int(time.time())
    data = await api.group_send([mine[0], mine[1], foreign, "wrNOPE", mine[0]],
                                attachments=[link])
    assert data["fail_list"] == [foreign, "wrNOPE"]
    msgid = data["msgid"]
    assert msgid.startswith("msg")

    for chat_id in mine:
        [seen] = sim.group_messages(chat_id)
        assert (seen.via, seen.source, seen.sender, seen.text) == ("group_send", msgid,
                                                                   "zhangsan", "周末特惠")
        assert seen.attachments == (link,) and seen.chat_id == chat_id
    assert sim.group_messages(foreign) == []

    tasks = await api.post(TASK, {"msgid": msgid})
    [task] = tasks["task_list"]
    assert (task["userid"], task["status"]) == ("zhangsan", 2)
    assert before <= task["send_time"] <= time.time()
    assert tasks["next_cursor"] == ""
    result = await api.post(RESULT, {"msgid": msgid, "userid": "zhangsan"})
    assert [(r["chat_id"], r["status"]) for r in result["send_list"]] == [(c, 1) for c in mine]
    assert all("external_userid" not in r and r["userid"] == "zhangsan"
               for r in result["send_list"])
    paged = await api.post(RESULT, {"msgid": msgid, "userid": "zhangsan", "limit": 1})
    assert len(paged["send_list"]) == 1 and paged["next_cursor"] == "1"
    rest = await api.post(RESULT, {"msgid": msgid, "userid": "zhangsan", "cursor": "1"})
    assert [r["chat_id"] for r in rest["send_list"]] == [mine[1]]
    other = await api.post(RESULT, {"msgid": msgid, "userid": "lisi"})
    assert other["send_list"] == []

    [record] = sim.groupsend_tasks()
    assert record.msgid == msgid and record.create_type == 0 and record.creator is None
    stats = sim.stats()["groupsend"]
    assert stats["messages"] == 1 and stats["delivered"] == 2 and stats["doubles"] == 0


async def test_add_msg_template_rejections_change_nothing(sim: Simulator, api: Api) -> None:
    [chat] = groups(sim, "zhangsan", 1)
    [foreign] = groups(sim, "lisi", 1)
    text = {"content": "hi"}
    image = {"msgtype": "image", "image": {"media_id": "MEDIA"}}

    none_ok = await api.post(ADD, {"chat_type": "group", "sender": "zhangsan",
                                   "chat_id_list": [foreign], "text": text})
    assert none_ok["errcode"] == 41048 and none_ok["fail_list"] == [foreign]
    cases: list[tuple[dict[str, Any], int]] = [
        ({"chat_type": "group", "chat_id_list": [chat], "text": text}, 40058),
        ({"chat_type": "group", "sender": "ghost", "chat_id_list": [chat], "text": text}, 40003),
        ({"chat_type": "group", "sender": "zhangsan", "chat_id_list": ["wr"] * 2001,
          "text": text}, 40058),
        ({"chat_type": "group", "sender": "zhangsan", "chat_id_list": [chat]}, 41065),
        ({"chat_type": "group", "sender": "zhangsan", "chat_id_list": [chat],
          "attachments": [image] * 10}, 41064),
        ({"chat_type": "group", "sender": "zhangsan", "chat_id_list": [chat],
          "attachments": [{"msgtype": "voice"}]}, 41065),
        ({"chat_type": "group", "sender": "zhangsan", "chat_id_list": [chat],
          "text": {"content": "字" * 1334}}, 45002),
        ({"chat_type": "broadcast", "sender": "zhangsan", "text": text}, 40058),
        ({"chat_type": "single", "text": text}, 40058),
        ({"chat_type": "single", "external_userid": ["wm"] * 10_001, "text": text}, 40058),
    ]
    for body, expected in cases:
        assert await api.code(ADD, body) == expected, body
    assert sim.groupsend_tasks() == [] and sim.group_messages(chat) == []

    assert await api.code(TASK, {}) == 41046
    assert await api.code(TASK, {"msgid": "msgNOPE"}) == 41047
    assert await api.code(RESULT, {"msgid": "msgNOPE", "userid": "zhangsan"}) == 41047
    assert await api.code(REMIND, {"msgid": "msgNOPE"}) == 41047
    assert await api.code(CANCEL, {"msgid": "msgNOPE"}) == 41047
    msgid = (await api.group_send([chat]))["msgid"]
    assert await api.code(RESULT, {"msgid": msgid}) == 40058
    assert await api.code(RESULT, {"msgid": msgid, "userid": "ghost"}) == 40003
    assert await api.code(TASK, {"msgid": msgid, "cursor": "x"}) == 50100


async def test_sender_only_means_all_of_the_members_groups(sim: Simulator, api: Api) -> None:
    mine = groups(sim, "zhangsan", 3)
    groups(sim, "lisi", 1)
    sim.dismiss_group(mine[2])
    data = await api.group_send([])
    assert data["fail_list"] == []
    [task] = sim.groupsend(data["msgid"]).tasks.values()
    assert task.targets == mine[:2]


# -- owners confirming ------------------------------------------------------------------------


@pytest.mark.parametrize("options", [sim_options(groupsend_confirm_share=0.0)])
async def test_silent_owner_until_confirmed_explicitly(sim: Simulator, api: Api) -> None:
    [chat] = groups(sim, "zhangsan", 1)
    msgid = (await api.group_send([chat]))["msgid"]
    assert sim.group_messages(chat) == []
    [task] = (await api.post(TASK, {"msgid": msgid}))["task_list"]
    assert task == {"userid": "zhangsan", "status": 0}  # no send_time while unsent
    # Group sends list only sent records: nothing yet, not even status 0 rows.
    assert (await api.post(RESULT, {"msgid": msgid, "userid": "zhangsan"}))["send_list"] == []
    assert sim.confirm_pending_groupsends() == 0  # this owner never confirms by themselves
    assert sim.stats()["groupsend"]["member_tasks_pending"] == 1

    assert sim.confirm_groupsend(msgid, "zhangsan") == 1
    assert sim.confirm_groupsend(msgid, "zhangsan") == 0  # a task is sent once
    [seen] = sim.group_messages(chat)
    assert seen.source == msgid
    result = await api.post(RESULT, {"msgid": msgid, "userid": "zhangsan"})
    assert [r["status"] for r in result["send_list"]] == [1]
    with pytest.raises(ValueError, match="no task"):
        sim.confirm_groupsend(msgid, "lisi")
    with pytest.raises(ValueError, match="unknown group send"):
        sim.confirm_groupsend("msgNOPE", "zhangsan")


@pytest.mark.parametrize("options", [sim_options(groupsend_confirm_delay_s=0.15)])
async def test_owner_confirms_after_the_delay(sim: Simulator, api: Api) -> None:
    [chat] = groups(sim, "zhangsan", 1)
    asked = time.time()
    first = (await api.group_send([chat], "第一条"))["msgid"]
    answered = time.time()
    assert sim.group_messages(chat) == []
    await asyncio.sleep(0.3)
    [seen] = sim.group_messages(chat)
    assert seen.source == first
    # Stamped when it came due (0.15 s after creation), not when it was noticed (0.3 s).
    assert asked + 0.14 <= seen.at <= answered + 0.16

    second = (await api.group_send([chat], "第二条"))["msgid"]
    assert sim.confirm_pending_groupsends() == 1  # clock-free: due owners send now
    assert [m.source for m in sim.group_messages(chat)] == [first, second]


async def test_confirming_owners_are_a_reproducible_share(
        http: aiohttp.ClientSession) -> None:
    async def confirming(seed: int) -> set[str]:
        sim = Simulator(CORP_ID, SECRET, TOKEN, AES_KEY,
                        options=SimOptions(seed=seed, groupsend_confirm_share=0.5))
        await sim.start()
        try:
            owners = [f"store{i:02d}" for i in range(40)]
            for owner in owners:
                sim.add_staff(owner, owner)
            sim.bulk_create_groups([(f"wr{o}", o, o) for o in owners])
            client = Api(http, sim)
            await client.login()
            for owner in owners:
                await client.group_send([f"wr{owner}"], sender=owner)
            return {t.userid for m in sim.groupsend_tasks() for t in m.tasks.values()
                    if t.status == 2}
        finally:
            await sim.stop()

    first = await confirming(7)
    assert first == await confirming(7)
    assert 8 <= len(first) <= 32  # about half of 40
    assert first != await confirming(8)


# -- the 41063 dispatch window ----------------------------------------------------------------


@pytest.mark.parametrize("options", [sim_options(groupsend_dispatch_s=0.2)])
async def test_queries_right_after_create_answer_41063(sim: Simulator, api: Api) -> None:
    [chat] = groups(sim, "zhangsan", 1)
    msgid = (await api.group_send([chat]))["msgid"]
    now = int(time.time())
    window = {"chat_type": "group", "start_time": now - 60, "end_time": now + 60}
    assert await api.code(TASK, {"msgid": msgid}) == 41063
    assert await api.code(RESULT, {"msgid": msgid, "userid": "zhangsan"}) == 41063
    assert await api.code(LIST, window) == 41063
    # A range without the new send, or the other chat_type, is answered.
    assert await api.code(LIST, {**window, "chat_type": "single"}) == 0
    assert await api.code(LIST, {**window, "end_time": now - 30}) == 0
    await asyncio.sleep(0.2)
    assert await api.code(TASK, {"msgid": msgid}) == 0
    assert await api.code(RESULT, {"msgid": msgid, "userid": "zhangsan"}) == 0
    listed = await api.post(LIST, window)
    assert [m["msgid"] for m in listed["group_msg_list"]] == [msgid]


# -- the receive quota ------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["month", "week7", "day1"])
async def test_quota_per_group_gives_status_3(sim: Simulator, api: Api, mode: str) -> None:
    sim.options.groupsend_quota = mode  # type: ignore[assignment]
    [chat, spare] = groups(sim, "zhangsan", 2)
    _, limit = period(mode, time.time())  # type: ignore[arg-type]
    expected = {"day1": 1, "week7": 7}.get(mode)
    assert limit == expected if expected else 28 <= limit <= 31  # days in this month
    msgids = [(await api.group_send([chat, spare] if n == limit else [chat],
                                    f"第{n}条"))["msgid"] for n in range(limit + 1)]
    assert len(sim.group_messages(chat)) == limit
    over = await api.post(RESULT, {"msgid": msgids[-1], "userid": "zhangsan"})
    assert {r["chat_id"]: r["status"] for r in over["send_list"]} == {chat: 3, spare: 1}
    assert "send_time" not in next(r for r in over["send_list"] if r["chat_id"] == chat)
    assert [m.source for m in sim.group_messages(spare)] == [msgids[-1]]
    assert sim.stats()["groupsend"]["over_quota"] == 1


@pytest.mark.parametrize("options", [sim_options(groupsend_quota="day1")])
async def test_personal_sends_use_the_quota_too(sim: Simulator, api: Api) -> None:
    [chat] = groups(sim, "zhangsan", 1)
    personal = sim.staff_sends_personal_groupsend("zhangsan", "店长自己发的", chat_ids=[chat])
    corp = (await api.group_send([chat]))["msgid"]
    [seen] = sim.group_messages(chat)
    assert seen.source == personal
    result = await api.post(RESULT, {"msgid": corp, "userid": "zhangsan"})
    assert [r["status"] for r in result["send_list"]] == [3]
    with pytest.raises(ValueError):
        sim.staff_sends_personal_groupsend("lisi", "not my group", chat_ids=[chat])


# -- customers (chat_type single) -------------------------------------------------------------


@pytest.mark.parametrize("options", [sim_options(groupsend_confirm_share=0.0)])
async def test_single_sends_to_the_senders_customers(sim: Simulator, api: Api) -> None:
    a, _ = sim.scan_contact_qr("zhangsan", "s", "顾客甲")
    b, _ = sim.scan_contact_qr("zhangsan", "s", "顾客乙")
    c, _ = sim.scan_contact_qr("lisi", "s", "顾客丙")
    body = {"chat_type": "single", "sender": "zhangsan", "external_userid": [a, b, c, "wmX"],
            "text": {"content": "会员日"}}
    data = await api.post(ADD, body)
    assert data["errcode"] == 0 and data["fail_list"] == [c, "wmX"]
    msgid = data["msgid"]
    # Customers are listed before the member sends, with status 0.
    pending = await api.post(RESULT, {"msgid": msgid, "userid": "zhangsan"})
    assert [(r["external_userid"], r["status"]) for r in pending["send_list"]] == [(a, 0),
                                                                                 (b, 0)]
    sim.customer_deletes_staff("zhangsan", b)
    assert sim.confirm_groupsend(msgid, "zhangsan") == 1
    done = await api.post(RESULT, {"msgid": msgid, "userid": "zhangsan"})
    assert [(r["external_userid"], r["status"]) for r in done["send_list"]] == [(a, 1), (b, 2)]
    assert "chat_id" not in done["send_list"][0] and "send_time" in done["send_list"][0]
    [seen] = sim.customer_messages(a)
    assert (seen.external_userid, seen.chat_id, seen.text) == (a, "", "会员日")

    # Without a sender each customer goes to a member who has them: one task per member.
    data = await api.post(ADD, {"external_userid": [a, c], "text": {"content": "通知"}})
    tasks = await api.post(TASK, {"msgid": data["msgid"]})
    assert sorted(t["userid"] for t in tasks["task_list"]) == ["lisi", "zhangsan"]


async def test_single_sender_only_and_tag_filter(sim: Simulator, api: Api) -> None:
    gold = sim.admin_add_tag("等级", "金卡")
    silver = sim.admin_add_tag("等级", "银卡")
    a, _ = sim.scan_contact_qr("zhangsan", "s", "金")
    b, _ = sim.scan_contact_qr("zhangsan", "s", "银")
    sim.scan_contact_qr("zhangsan", "s", "半", half=True)
    sim.edit_contact_tags("zhangsan", a, [gold])
    sim.edit_contact_tags("zhangsan", b, [silver])
    everyone = await api.post(ADD, {"sender": "zhangsan", "text": {"content": "全体"}})
    [task] = sim.groupsend(everyone["msgid"]).tasks.values()
    assert task.targets == [a, b] and everyone["fail_list"] == []
    gold_only = await api.post(ADD, {"sender": "zhangsan", "text": {"content": "金卡专享"},
                                     "tag_filter": {"group_list": [{"tag_list": [gold]}]}})
    assert [m.text for m in sim.customer_messages(a)] == ["全体", "金卡专享"]
    assert [m.text for m in sim.customer_messages(b)] == ["全体"]
    assert gold_only["fail_list"] == []


# -- reminders and cancel ---------------------------------------------------------------------


@pytest.mark.parametrize("options", [sim_options(groupsend_confirm_share=0.0,
                                                 groupsend_remind_window_s=0.3)])
async def test_reminders_move_silent_owners_and_are_capped(sim: Simulator, api: Api) -> None:
    [chat] = groups(sim, "zhangsan", 1)
    [refuser_chat] = groups(sim, "lisi", 1)
    msgid = (await api.group_send([chat]))["msgid"]
    refused = (await api.group_send([refuser_chat], sender="lisi"))["msgid"]
    sim.refuse_groupsend(refused, "lisi")

    assert await api.code(REMIND, {"msgid": msgid}) == 0
    [seen] = sim.group_messages(chat)  # a reminded owner confirms (share 1.0 by default)
    assert seen.source == msgid
    assert [await api.code(REMIND, {"msgid": msgid}) for _ in range(3)] == [0, 0, 41094]
    assert await api.code(REMIND, {}) == 41046
    await asyncio.sleep(0.3)  # the window slides: reminding works again
    assert await api.code(REMIND, {"msgid": msgid}) == 0

    assert await api.code(REMIND, {"msgid": refused}) == 0
    assert sim.group_messages(refuser_chat) == []  # refused stays refused
    assert sim.confirm_pending_groupsends(everyone=True) == 0
    assert sim.stats()["groupsend"]["reminders"] == 5


@pytest.mark.parametrize("options", [sim_options(groupsend_confirm_share=0.0,
                                                 groupsend_remind_confirm_share=0.0)])
async def test_reminded_owner_may_still_ignore_it(sim: Simulator, api: Api) -> None:
    [chat] = groups(sim, "zhangsan", 1)
    msgid = (await api.group_send([chat]))["msgid"]
    assert await api.code(REMIND, {"msgid": msgid}) == 0
    assert sim.group_messages(chat) == []
    assert sim.confirm_pending_groupsends(everyone=True) == 1
    assert len(sim.group_messages(chat)) == 1


@pytest.mark.parametrize("options", [sim_options(groupsend_confirm_delay_s=0.1)])
async def test_cancel_stops_unsent_tasks_for_good(sim: Simulator, api: Api) -> None:
    [chat] = groups(sim, "zhangsan", 1)
    msgid = (await api.group_send([chat]))["msgid"]
    assert await api.code(CANCEL, {"msgid": msgid}) == 0
    await asyncio.sleep(0.15)  # the owner would have confirmed by now
    assert sim.group_messages(chat) == []
    assert sim.confirm_groupsend(msgid, "zhangsan") == 0
    assert sim.confirm_pending_groupsends(everyone=True) == 0
    assert sim.group_messages(chat) == []
    assert await api.code(CANCEL, {"msgid": msgid}) == 41093
    assert await api.code(REMIND, {"msgid": msgid}) == 41093
    [task] = (await api.post(TASK, {"msgid": msgid}))["task_list"]
    assert task["status"] == 0
    assert sim.stats()["groupsend"]["cancelled"] == 1


# -- list_v2: finding a send whose answer was lost --------------------------------------------


async def test_list_v2_finds_sends_by_time_type_and_creator(sim: Simulator, api: Api) -> None:
    mine = groups(sim, "zhangsan", 3)
    start = int(time.time())
    link = {"msgtype": "link", "link": {"title": "t", "url": "https://example.com"}}
    corp = [(await api.group_send([mine[n]], f"第{n}条", attachments=[link]))["msgid"]
            for n in range(2)]
    personal = sim.staff_sends_personal_groupsend("zhangsan", "个人", chat_ids=[mine[2]])
    a, _ = sim.scan_contact_qr("zhangsan", "s", "顾客")
    single = await api.post(ADD, {"sender": "zhangsan", "external_userid": [a],
                                  "text": {"content": "单发"}})
    end = int(time.time())
    query = {"chat_type": "group", "start_time": start, "end_time": end}

    listed = (await api.post(LIST, query))["group_msg_list"]
    assert [m["msgid"] for m in listed] == [*corp, personal]
    first = listed[0]
    assert "creator" not in first  # API-created sends carry no creator
    assert first["create_type"] == 0 and first["create_time"].isdigit()
    assert start <= int(first["create_time"]) <= end
    assert first["text"] == {"content": "第0条"} and first["attachments"] == [link]
    assert listed[2]["creator"] == "zhangsan" and listed[2]["create_type"] == 1

    async def msgids(**extra: Any) -> list[str]:
        data = await api.post(LIST, {**query, **extra})
        assert data["errcode"] == 0, data
        return [m["msgid"] for m in data["group_msg_list"]]

    assert await msgids(filter_type=0) == corp
    assert await msgids(filter_type=1) == [personal]
    assert await msgids(creator="zhangsan") == [personal]  # creator never matches API sends
    assert await msgids(creator="lisi") == []
    assert await msgids(chat_type="single") == [single["msgid"]]
    assert await msgids(start_time=end + 1, end_time=end + 2) == []

    pages: list[str] = []
    cursor = ""
    while True:
        data = await api.post(LIST, {**query, "limit": 1, "cursor": cursor})
        pages += [m["msgid"] for m in data["group_msg_list"]]
        cursor = data["next_cursor"]
        if not cursor:
            break
    assert pages == [*corp, personal]

    assert await api.code(LIST, {**query, "end_time": start - 1}) == 40058
    assert await api.code(LIST, {**query, "end_time": start + 31 * 86_400}) == 40058
    assert await api.code(LIST, {"chat_type": "group", "start_time": start}) == 40058
    assert await api.code(LIST, {**query, "filter_type": 3}) == 40058
    assert await api.code(LIST, {**query, "cursor": "nope"}) == 50100
    assert len(await msgids(limit=1000)) == 3  # over the maximum means the default (50)


# -- group robots -----------------------------------------------------------------------------


async def test_robot_delivers_text_markdown_news_and_image(sim: Simulator, api: Api) -> None:
    [chat] = groups(sim, "zhangsan", 1)
    key = sim.add_robot(chat, name="店铺助手")
    assert sim.robot_webhook_url(key).endswith(f"/cgi-bin/webhook/send?key={key}")
    group_msgid = (await api.group_send([chat]))["msgid"]
    text = {"msgtype": "text", "text": {"content": "开门啦", "mentioned_list": ["zhangsan",
                                                                               "@all"],
                                        "mentioned_mobile_list": ["13800001111"]}}
    markdown = {"msgtype": "markdown",
                "markdown": {"content": "**今日** <@zhangsan> <@lisi>"}}
    news = {"msgtype": "news", "news": {"articles": [
        {"title": "上新", "url": "https://example.com/a", "picurl": "", "description": ""}]}}
    image = {"msgtype": "image", "image": {"base64": base64.b64encode(PNG).decode(),
                                           "md5": hashlib.md5(PNG).hexdigest()}}
    for body in (text, markdown, news, image):
        assert await api.robot(key, body) == 0

    seen = sim.group_messages(chat)
    assert [(m.via, m.msgtype) for m in seen] == [("group_send", "msg_template"),
                                                 ("robot", "text"), ("robot", "markdown"),
                                                 ("robot", "news"), ("robot", "image")]
    assert seen[0].source == group_msgid
    robot_text = seen[1]
    assert (robot_text.source, robot_text.sender, robot_text.text) == (key, "店铺助手", "开门啦")
    assert robot_text.mentions == ("zhangsan", "@all", "13800001111")
    assert seen[2].mentions == ("zhangsan", "lisi")
    assert seen[3].text == "上新" and seen[3].attachments[0]["url"] == "https://example.com/a"
    assert seen[4].attachments[0]["bytes"] == len(PNG)
    assert [c.errcode for c in sim.calls if c.path == WEBHOOK] == [0, 0, 0, 0]
    assert sim.stats()["robots"] == {"robots": 1, "messages": 4, "rate_limited": 0}


async def test_robot_rejections(sim: Simulator, api: Api) -> None:
    [chat, gone] = groups(sim, "zhangsan", 2)
    key = sim.add_robot(chat)
    doomed = sim.add_robot(gone)
    hello = {"msgtype": "text", "text": {"content": "hi"}}
    assert await api.robot("00000000-0000-4000-8000-000000000000", hello) == 93000
    sim.dismiss_group(gone)
    assert await api.robot(doomed, hello) == 93000
    bad_md5 = {"msgtype": "image", "image": {"base64": base64.b64encode(PNG).decode(),
                                             "md5": "0" * 32}}
    gif = b"GIF89a" + b"\x00" * 8
    not_png = {"msgtype": "image", "image": {"base64": base64.b64encode(gif).decode(),
                                             "md5": hashlib.md5(gif).hexdigest()}}
    article = {"title": "t", "url": "https://example.com"}
    cases: list[tuple[dict[str, Any], int]] = [
        ({"msgtype": "text", "text": {"content": ""}}, 44004),
        ({"msgtype": "text", "text": {"content": "x" * 2049}}, 45002),
        ({"msgtype": "markdown", "markdown": {"content": "x" * 4097}}, 45002),
        ({"msgtype": "news", "news": {"articles": [article] * 9}}, 45008),
        ({"msgtype": "news", "news": {"articles": []}}, 40058),
        ({"msgtype": "template_card", "template_card": {}}, 40008),
        (bad_md5, 301019),
        (not_png, 40004),
    ]
    for body, expected in cases:
        assert await api.robot(key, body) == expected, body
    sim.remove_robot(key)
    assert await api.robot(key, hello) == 93000
    assert sim.group_messages(chat) == []


@pytest.mark.parametrize("options", [sim_options(rate_window_s=0.4)])
async def test_robot_sends_20_a_window_then_45009(sim: Simulator, api: Api) -> None:
    [chat] = groups(sim, "zhangsan", 1)
    key = sim.add_robot(chat)
    other = sim.add_robot(chat)
    results = [await api.robot(key, {"msgtype": "text", "text": {"content": f"#{n}"}})
               for n in range(22)]
    assert results == [0] * 20 + [45009, 45009]
    assert await api.robot(other, {"msgtype": "text", "text": {"content": "另一个"}}) == 0
    assert len(sim.group_messages(chat)) == 21  # the refused two were not delivered
    await asyncio.sleep(0.4)
    assert await api.robot(key, {"msgtype": "text", "text": {"content": "again"}}) == 0
    assert sim.stats()["robots"]["rate_limited"] == 2


# -- rate limits and faults on the new paths --------------------------------------------------


@pytest.mark.parametrize("options", [sim_options(per_api_per_minute=2, rate_window_s=0.3)])
async def test_rate_limit_applies_to_add_msg_template(sim: Simulator, api: Api) -> None:
    [chat] = groups(sim, "zhangsan", 1)
    body = {"chat_type": "group", "sender": "zhangsan", "chat_id_list": [chat],
            "text": {"content": "hi"}}
    assert [await api.code(ADD, body) for _ in range(3)] == [0, 0, 45009]
    assert len(sim.groupsend_tasks()) == 2
    await asyncio.sleep(0.3)
    assert await api.code(ADD, body) == 0


async def test_injected_faults_leave_no_group_send_behind(sim: Simulator, api: Api) -> None:
    [chat] = groups(sim, "zhangsan", 1)
    body = {"chat_type": "group", "sender": "zhangsan", "chat_id_list": [chat],
            "text": {"content": "hi"}}
    sim.fail_next(ADD, -1)
    assert await api.code(ADD, body) == -1
    sim.fail_next(ADD, 45009)
    assert await api.code(ADD, body) == 45009
    sim.reset_next(ADD)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await api.post(ADD, body)
    assert sim.groupsend_tasks() == [] and sim.group_messages(chat) == []
    assert [c.errcode for c in sim.calls if c.path == ADD] == [-1, 45009, None]

    # A slow answer still creates the send: the case where a bot times out and must not
    # simply create it again.
    sim.delay_next(ADD, 0.2)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(api.post(ADD, body), timeout=0.05)
    await asyncio.sleep(0.25)
    [created] = sim.groupsend_tasks()
    assert [m.source for m in sim.group_messages(chat)] == [created.msgid]

    sim.faults.per_path[WEBHOOK] = FaultRates(busy=1.0)
    key = sim.add_robot(chat)
    assert await api.robot(key, {"msgtype": "text", "text": {"content": "hi"}}) == -1
    assert len(sim.group_messages(chat)) == 1


# -- doubles, counts and the control routes ---------------------------------------------------


async def test_doubles_are_counted_per_recipient(sim: Simulator, api: Api) -> None:
    [a, b] = groups(sim, "zhangsan", 2)
    first = (await api.group_send([a, b], "同一条"))["msgid"]
    again = (await api.group_send([a], "同一条"))["msgid"]  # the lost-answer retry
    (await api.group_send([b], "另一条"))["msgid"]
    assert sim.groupsend_doubles() == {a: [[first, again]]}
    counts = sim.groupsend_counts()
    assert counts[a] == {first: 1, again: 1} and len(counts[b]) == 2
    assert sim.stats()["groupsend"]["doubles"] == 1


async def test_groupsend_and_robot_control_routes(sim: Simulator, http: aiohttp.ClientSession,
                                                  api: Api) -> None:
    async def control(path: str, body: dict[str, Any] | None = None) -> Any:
        assert sim.url is not None
        method = http.post if body is not None else http.get
        async with method(sim.url + path, json=body) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    options = await control("/sim/options", {"groupsend_confirm_share": 0, "seed": 3})
    assert options["groupsend_confirm_share"] == 0.0 and options["groupsend_quota"] == "month"
    assert isinstance(sim.options.groupsend_confirm_share, float)
    created = await control("/sim/groups/bulk", {"rows": [["wrA", "zhangsan", "A"],
                                                          ["wrB", "zhangsan", "B"]]})
    assert created == {"created": 2}
    robot = await control("/sim/robots", {"chat_id": "wrA", "name": "助手"})
    assert robot["webhook_url"].endswith(robot["key"])
    assert await api.robot(robot["key"], {"msgtype": "text", "text": {"content": "hi"}}) == 0
    msgid = (await api.group_send(["wrA", "wrB"]))["msgid"]
    assert await control("/sim/groupsend/refuse", {"msgid": msgid, "userid": "zhangsan"}) == {
        "ok": True}
    assert await control("/sim/groupsend/confirm_pending", {"everyone": True}) == {"sent": 0}
    assert await control("/sim/groupsend/confirm", {"msgid": msgid, "userid": "zhangsan"}) == {
        "reached": 2}
    personal = await control("/sim/groupsend/personal",
                             {"userid": "zhangsan", "text": "个人", "chat_ids": ["wrB"]})
    seen = await control("/sim/group_messages?chat_id=wrA")
    assert [(m["via"], m["source"]) for m in seen] == [("robot", robot["key"]),
                                                      ("group_send", msgid)]
    [task] = await control(f"/sim/groupsend/tasks?msgid={msgid}")
    assert task["tasks"][0]["status"] == 2 and task["tasks"][0]["refused"] is False
    assert len(await control("/sim/groupsend/tasks")) == 2
    counts = await control("/sim/groupsend/counts")
    assert counts["counts"]["wrB"] == {msgid: 1, personal["msgid"]: 1}
    assert counts["doubles"] == {}
    stats = await control("/sim/stats")
    assert stats["groupsend"]["messages"] == 2 and stats["robots"]["messages"] == 1
    await control("/sim/robots/remove", {"key": robot["key"]})
    assert await api.robot(robot["key"], {"msgtype": "text", "text": {"content": "x"}}) == 93000
    assert sim.url is not None
    async with http.post(sim.url + "/sim/groups/bulk",
                         json={"rows": [["wrC", "ghost", "C"]]}) as resp:
        assert resp.status == 400
    async with http.post(sim.url + "/sim/options", json={"faults": {}}) as resp:
        assert resp.status == 400
