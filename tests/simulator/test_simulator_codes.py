"""The simulated 「联系我」, 「加入群聊」 and 入群欢迎语 APIs through the real client: fields,
limits and errcodes as wecom-more.md §1-2 give them, QR images that name their code, and a
customer's scan producing the callbacks WeCom sends."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import aiohttp
import pytest
import zxingcpp
from PIL import Image

from bot.simulator import SimOptions, Simulator
from bot.wecom import contact_ways as api
from bot.wecom.client import WeComClient
from bot.wecom.errors import WeComError

CORP_ID, SECRET = "wwsimcodes0001", "sim-secret-codes"


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(CORP_ID, SECRET, "TOKENx", "a" * 43,
                          options=SimOptions(join_state_delay_s=0.2))
    await simulator.start()
    for n in range(101):
        simulator.add_staff(f"clerk{n:03}", f"店员{n}")
    try:
        yield simulator
    finally:
        await simulator.stop()


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[WeComClient]:
    async with WeComClient(sim.base_url, CORP_ID, SECRET) as wecom:
        yield wecom


async def errcode(call: object) -> int:
    with pytest.raises(WeComError) as caught:
        await call  # type: ignore[misc]
    return caught.value.errcode


def contact(**fields: object) -> dict[str, object]:
    return {"type": 1, "scene": 2, "user": ["clerk000"], "state": "store-0012-counter",
            **fields}


async def test_contact_way_fields_and_limits(client: WeComClient, sim: Simulator):
    made = await api.add_contact_way(client, contact(remark="收银台"))
    assert made["qr_code"].startswith("https://") and made["config_id"]
    way = await api.get_contact_way(client, made["config_id"])
    assert (way["state"], way["user"], way["remark"], way["skip_verify"]) == (
        "store-0012-counter", ["clerk000"], "收银台", True)
    await api.update_contact_way(client, {"config_id": made["config_id"], "user": ["clerk001"],
                                          "state": "store-0012-counter"})
    way = await api.get_contact_way(client, made["config_id"])
    assert way["user"] == ["clerk001"] and way["remark"] == ""  # an overwrite

    assert await errcode(api.add_contact_way(client, contact(state="x" * 31))) == 40058
    assert await errcode(api.add_contact_way(client, {"scene": 2, "user": ["clerk000"]})) == 41037
    assert await errcode(api.add_contact_way(client, contact(type=3))) == 41039
    assert await errcode(api.add_contact_way(client, contact(user=["nobody"]))) == 40003
    everyone = [f"clerk{n:03}" for n in range(101)]
    assert await errcode(api.add_contact_way(client, contact(type=2, user=everyone))) == 41041
    assert (await api.add_contact_way(client, contact(type=2, user=everyone[:100])))["config_id"]

    foreign = sim.codes.add_foreign_contact_way("clerk000", "someone-elses")
    assert await errcode(api.get_contact_way(client, foreign)) == 41044
    assert await errcode(api.del_contact_way(client, foreign)) == 41044
    await api.del_contact_way(client, made["config_id"])
    assert await errcode(api.get_contact_way(client, made["config_id"])) == 41044


async def test_list_contact_way_pages_the_apps_own_ways(client: WeComClient, sim: Simulator):
    made = {(await api.add_contact_way(client, contact(state=f"s{n}")))["config_id"]
            for n in range(5)}
    sim.codes.add_foreign_contact_way("clerk000")
    body = {"limit": 2, "cursor": ""}
    pages = []
    while True:
        page = await client.call("externalcontact/list_contact_way", body)
        pages.append([w["config_id"] for w in page["contact_way"]])
        if not page["next_cursor"]:
            break
        body["cursor"] = page["next_cursor"]
    assert [len(p) for p in pages] == [2, 2, 1] and {c for p in pages for c in p} == made
    assert set(await api.list_contact_way(client)) == made


async def test_contact_and_join_ways_share_one_cap(client: WeComClient, sim: Simulator):
    sim.options.max_ways = 2
    chat = sim.create_group("clerk000", "福利群")
    await api.add_contact_way(client, contact())
    await api.add_join_way(client, {"scene": 2, "chat_id_list": [chat]})
    assert await errcode(api.add_contact_way(client, contact(state="more"))) == 41045
    assert await errcode(api.add_join_way(client, {"scene": 2, "chat_id_list": [chat]})) == 41045


async def test_join_way_fields_limits_and_the_state_shown_later(client: WeComClient,
                                                               sim: Simulator):
    chats = [sim.create_group("clerk000", f"福利群{n}") for n in range(6)]
    body = {"scene": 2, "chat_id_list": chats[:5], "state": "group-0012",
            "room_base_name": "果田鲜生·天钥桥路店福利群", "room_base_id": 2}
    config_id = await api.add_join_way(client, body)
    way = await api.get_join_way(client, config_id)
    assert way["chat_id_list"] == chats[:5] and way["auto_create_room"] == 1
    assert way["qr_code"].startswith("https://") and way["state"] == "group-0012"
    assert await errcode(api.add_join_way(client, {**body, "chat_id_list": chats})) == 40058
    assert await errcode(api.add_join_way(client, {**body, "chat_id_list": ["wrnone"]})) == 40050
    assert await errcode(api.update_join_way(client, {**body, "config_id": "nope"})) == 41044

    joined = sim.scan_code(way["qr_code"], "王丽")
    group = await client.get_group_chat(joined["chat_id"])
    [member] = [m for m in group["member_list"] if m["userid"] == joined["external_userid"]]
    assert member["join_scene"] == 3 and "state" not in member  # not filled in yet
    await asyncio.sleep(0.3)
    group = await client.get_group_chat(joined["chat_id"])
    [member] = [m for m in group["member_list"] if m["userid"] == joined["external_userid"]]
    assert member["state"] == "group-0012"
    [callback] = [d for d in sim.deliveries if d.get("UpdateDetail") == "add_member"]
    assert callback.get("JoinScene") == 3 and callback.get("State") is None


async def test_group_welcome_template_limits(client: WeComClient, sim: Simulator):
    body = {"text": {"content": "欢迎 @%NICKNAME% 进群"},
            "link": {"title": "新人券", "url": "https://m.example/new"}}
    template_id = await api.add_group_welcome_template(client, body)
    got = await api.get_group_welcome_template(client, template_id)
    assert got["text"]["content"] == "欢迎 @%NICKNAME% 进群" and got["link"]["title"] == "新人券"
    await api.edit_group_welcome_template(client, {"template_id": template_id,
                                                   "text": {"content": "新欢迎语"}})
    assert sim.codes.templates[template_id].text == "新欢迎语"
    too_long = {"text": {"content": "果" * 1001}}
    assert await errcode(api.add_group_welcome_template(client, too_long)) == 45002
    foreign = sim.codes.add_foreign_template("别的应用的")
    assert await errcode(api.edit_group_welcome_template(
        client, {"template_id": foreign, "text": {"content": "x"}})) == 41058
    sim.options.max_group_welcome_templates = 2
    assert await errcode(api.add_group_welcome_template(client, body)) == 41055


async def test_a_codes_qr_image_names_it_and_a_scan_adds_the_customer(
        client: WeComClient, sim: Simulator):
    made = await api.add_contact_way(client, contact())
    path = made["qr_code"].split("://", 1)[1].split("/", 1)[1]
    async with aiohttp.ClientSession() as http, http.get(f"{sim.url}/{path}") as resp:
        assert resp.content_type == "image/png"
        png = await resp.read()
    [found] = zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))
    assert found.text == f"https://work.weixin.qq.com/ca/{made['config_id']}"

    scanned = sim.scan_code(found.text, "陈晨")
    [added] = [d for d in sim.deliveries if d.get("ChangeType") == "add_external_contact"]
    assert added.get("State") == "store-0012-counter" and added.get("UserID") == "clerk000"
    assert added.get("WelcomeCode") == scanned["welcome_code"]
    await api.del_contact_way(client, made["config_id"])
    with pytest.raises(ValueError, match="no longer valid"):
        sim.scan_code(found.text, "再扫一次")


async def test_the_scan_control_route(client: WeComClient, sim: Simulator):
    made = await api.add_contact_way(client, contact())
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sim.url}/sim/codes/scan",
                             json={"code": made["qr_code"], "name": "赵六"}) as resp:
            assert resp.status == 200
            answer = await resp.json()
        async with http.post(f"{sim.url}/sim/codes/scan",
                             json={"code": "https://work.weixin.qq.com/ca/gone"}) as resp:
            assert resp.status == 400 and "error" in await resp.json()
    assert answer["state"] == "store-0012-counter" and answer["welcome_code"]
    assert sim.world.contacts[answer["external_userid"]].name == "赵六"
