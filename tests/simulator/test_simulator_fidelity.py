"""The simulator against what independent sources say real WeCom does (issue 18):
docs/conformance.md lists the source for each rule pinned here."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.simulator import SimOptions, Simulator
from tests.simulator.test_simulator import AES_KEY, CORP_ID, SECRET, TOKEN, get, post, token_for


def fast_options(**overrides: object) -> SimOptions:
    return SimOptions(callback_retry_interval_s=0.02, callback_timeout_s=1.0,
                      **overrides)  # type: ignore[arg-type]


@pytest.fixture
def options() -> SimOptions:
    return fast_options()


@pytest.fixture
async def sim(options: SimOptions) -> AsyncIterator[Simulator]:
    simulator = Simulator(CORP_ID, SECRET, TOKEN, AES_KEY, agent_id=1000002, options=options)
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

ADD_TAG = "externalcontact/add_corp_tag"


async def test_tag_names_are_at_most_30_characters(sim: Simulator, http: aiohttp.ClientSession):
    token = await token_for(http, sim)
    ok = await post(http, sim, ADD_TAG, {"group_name": "活动", "tag": [{"name": "好" * 30}]},
                    token)
    assert ok["errcode"] == 0
    for body in ({"group_name": "活动", "tag": [{"name": "好" * 31}]},
                 {"group_name": "组" * 31, "tag": [{"name": "好"}]}):
        assert (await post(http, sim, ADD_TAG, body, token))["errcode"] == 40072
    edit = await post(http, sim, "externalcontact/edit_corp_tag",
                      {"id": ok["tag_group"]["tag"][0]["id"], "name": "改" * 31}, token)
    assert edit["errcode"] == 40072


async def test_duplicate_names_in_one_request_are_collapsed(sim: Simulator,
                                                            http: aiohttp.ClientSession):
    token = await token_for(http, sim)
    body = {"group_name": "门店", "tag": [{"name": "徐汇店"}, {"name": "静安店"},
                                          {"name": "徐汇店"}]}
    data = await post(http, sim, ADD_TAG, body, token)
    assert data["errcode"] == 0
    assert [t["name"] for t in data["tag_group"]["tag"]] == ["徐汇店", "静安店"]
    assert len(sim.world.tags) == 2


@pytest.mark.parametrize("options", [fast_options(tag_name_exists="existing")])
async def test_an_existing_name_can_be_answered_with_the_existing_tag(
        sim: Simulator, http: aiohttp.ClientSession):
    token = await token_for(http, sim)
    first = await post(http, sim, ADD_TAG, {"group_name": "门店", "tag": [{"name": "徐汇店"}]},
                       token)
    again = await post(http, sim, ADD_TAG, {"group_name": "门店", "tag": [
        {"name": "徐汇店"}, {"name": "静安店"}]}, token)
    assert again["errcode"] == 0
    [old, new] = again["tag_group"]["tag"]
    assert old["id"] == first["tag_group"]["tag"][0]["id"] and new["name"] == "静安店"
    assert len(sim.world.tags) == 2


async def test_an_existing_name_is_40071_by_default(sim: Simulator, http: aiohttp.ClientSession):
    token = await token_for(http, sim)
    body = {"group_name": "门店", "tag": [{"name": "徐汇店"}]}
    assert (await post(http, sim, ADD_TAG, body, token))["errcode"] == 0
    body["tag"].append({"name": "静安店"})
    assert (await post(http, sim, ADD_TAG, body, token))["errcode"] == 40071
    assert len(sim.world.tags) == 1  # refused whole


async def test_follow_user_is_paged_by_500(sim: Simulator, http: aiohttp.ClientSession):
    token = await token_for(http, sim)
    staff = [f"s{n:04d}" for n in range(1203)]
    for userid in staff:
        sim.add_staff(userid, userid)
    sim.bulk_follow("wmMANYFOLLOWERS", "人气王", staff)
    seen: list[str] = []
    cursor = ""
    pages = 0
    while True:
        query = {"external_userid": "wmMANYFOLLOWERS", "access_token": token}
        if cursor:
            query["cursor"] = cursor
        data = await get(http, sim, "externalcontact/get", **query)
        assert data["errcode"] == 0 and data["external_contact"]["name"] == "人气王"
        seen += [f["userid"] for f in data["follow_user"]]
        pages += 1
        cursor = data.get("next_cursor", "")
        if not cursor:
            break
    assert pages == 3 and seen == staff
    bad = await get(http, sim, "externalcontact/get", external_userid="wmMANYFOLLOWERS",
                    cursor="nonsense", access_token=token)
    assert bad["errcode"] == 50100


async def test_84061_only_when_no_member_has_the_customer(sim: Simulator,
                                                          http: aiohttp.ClientSession):
    token = await token_for(http, sim)
    ext, _ = sim.scan_contact_qr("zhangsan", "s", "顾客")
    sim.customer_deletes_staff("zhangsan", ext)
    tag = sim.admin_add_tag("会员等级", "金卡")
    mark = {"userid": "zhangsan", "external_userid": ext, "add_tag": [tag]}
    assert (await post(http, sim, "externalcontact/mark_tag", mark, token))["errcode"] == 0
    listed = await post(http, sim, "externalcontact/batch/get_by_user",
                        {"userid_list": ["zhangsan"]}, token)
    assert [c["external_contact"]["external_userid"]
            for c in listed["external_contact_list"]] == [ext]

    sim.staff_deletes_customer("zhangsan", ext)
    assert (await post(http, sim, "externalcontact/mark_tag", mark, token))["errcode"] == 84061
    gone = await get(http, sim, "externalcontact/get", external_userid=ext, access_token=token)
    assert gone["errcode"] == 84061

    again, _ = sim.scan_contact_qr("zhangsan", "s", "顾客", external_userid=ext)
    assert again == ext  # added back: a new relation
    sim.customer_deletes_staff("zhangsan", ext)
    sim.scan_contact_qr("zhangsan", "s2", "顾客", external_userid=ext)
    data = await get(http, sim, "externalcontact/get", external_userid=ext, access_token=token)
    assert [f.get("state") for f in data["follow_user"]] == ["s2"]


async def test_group_send_list_names_a_pic_url_image_by_media_id(sim: Simulator,
                                                                 http: aiohttp.ClientSession):
    token = await token_for(http, sim)
    chat = sim.create_group("zhangsan", "徐汇店福利群")
    photo = "https://wework.qpic.cn/wwpic/sim/mango.jpg"
    link = {"title": "今日到店", "url": "https://example.com/today", "picurl": photo}
    body = {"chat_type": "group", "sender": "zhangsan", "chat_id_list": [chat],
            "text": {"content": "早上好"},
            "attachments": [{"msgtype": "image", "image": {"pic_url": photo}},
                            {"msgtype": "link", "link": link}]}
    created = await post(http, sim, "externalcontact/add_msg_template", body, token)
    assert created["errcode"] == 0
    now = int(time.time())
    listed = await post(http, sim, "externalcontact/get_groupmsg_list_v2", {
        "chat_type": "group", "start_time": now - 60, "end_time": now + 60}, token)
    [msg] = listed["group_msg_list"]
    image, listed_link = msg["attachments"]
    assert set(image["image"]) == {"media_id"} and image["image"]["media_id"]
    assert listed_link == {"msgtype": "link", "link": link}
    [seen] = sim.group_messages(chat)  # the group itself got the photo as sent
    assert seen.attachments[0]["image"] == {"pic_url": photo}


async def test_a_customer_who_deleted_the_member_gets_no_group_send(
        sim: Simulator, http: aiohttp.ClientSession):
    token = await token_for(http, sim)
    stays, _ = sim.scan_contact_qr("zhangsan", "s", "留下")
    gone, _ = sim.scan_contact_qr("zhangsan", "s", "走了")
    sim.customer_deletes_staff("zhangsan", gone)
    created = await post(http, sim, "externalcontact/add_msg_template", {
        "chat_type": "single", "sender": "zhangsan", "external_userid": [stays, gone],
        "text": {"content": "周二会员日"}}, token)
    assert created["errcode"] == 0 and created["fail_list"] == []
    result = await post(http, sim, "externalcontact/get_groupmsg_send_result",
                        {"msgid": created["msgid"], "userid": "zhangsan"}, token)
    status = {r["external_userid"]: r["status"] for r in result["send_list"]}
    assert status == {stays: 1, gone: 2}
