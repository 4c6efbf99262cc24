"""The simulated WeCom, tested over real HTTP: the API, the callback pusher, faults, limits.

The simulator is what every other test trusts to behave like WeCom, so these tests pin its
contract to the reference (docs: /work/shared/wecom-reference.md): errcodes, field names,
the join_scene numbering that differs between groupchat/get and the callback, and the
redelivery behaviour that forces the bot to dedupe.
"""

from __future__ import annotations

import asyncio
import time
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.simulator import FaultPlan, FaultRates, SimOptions, Simulator
from bot.wecom.crypto import CallbackCrypto

CORP_ID = "wwsimtestcorp0001"
SECRET = "sim-secret-0123456789"
TOKEN = "QDG6eK"
AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
AGENT_ID = 1000002
WELCOME = "externalcontact/send_welcome_msg"


# -- fixtures and helpers -------------------------------------------------------------------


def fast_options(**overrides: Any) -> SimOptions:
    values: dict[str, Any] = {"callback_retry_interval_s": 0.02, "callback_timeout_s": 1.0}
    values.update(overrides)
    return SimOptions(**values)


@pytest.fixture
def options() -> SimOptions:
    return fast_options()


@pytest.fixture
async def sim(options: SimOptions) -> AsyncIterator[Simulator]:
    simulator = Simulator(CORP_ID, SECRET, TOKEN, AES_KEY, agent_id=AGENT_ID, options=options)
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


class Receiver:
    """The bot's side in miniature: verifies, decrypts and records each callback POST.

    `script` holds the HTTP statuses to answer with, in order (then 200); a negative number
    means "sleep that many seconds, then answer 200" (a slow bot).
    """

    def __init__(self) -> None:
        self.crypto = CallbackCrypto(TOKEN, AES_KEY, CORP_ID)
        self.script: list[float] = []
        self.received: list[dict[str, Any]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.text()
        envelope = ET.fromstring(raw)
        encrypted = envelope.findtext("Encrypt") or ""
        q = request.query
        plain = self.crypto.verify_and_decrypt(q["msg_signature"], q["timestamp"], q["nonce"],
                                               encrypted)
        self.received.append({"plain": plain, "nonce": q["nonce"], "timestamp": q["timestamp"],
                              "envelope": envelope, "content_type": request.content_type})
        action = self.script.pop(0) if self.script else 200
        if action < 0:
            await asyncio.sleep(-action)
            return web.Response(status=200)
        return web.Response(status=int(action))

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/wecom/callback", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", 0).start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/wecom/callback"

    def fields(self, n: int) -> dict[str, Any]:
        return parse(self.received[n]["plain"])


@pytest.fixture
async def receiver(sim: Simulator) -> AsyncIterator[Receiver]:
    recv = Receiver()
    await recv.start()
    sim.callback_url = recv.url
    try:
        yield recv
    finally:
        assert recv.runner is not None
        await recv.runner.cleanup()


def parse(plaintext: str) -> dict[str, Any]:
    """Flat fields of a callback plaintext; MemChangeList as a list of <Item> texts."""
    root = ET.fromstring(plaintext)
    fields: dict[str, Any] = {}
    for child in root:
        if child.tag == "MemChangeList":
            fields[child.tag] = [item.text for item in child]
        else:
            fields[child.tag] = child.text or ""
    return fields


async def token_for(http: aiohttp.ClientSession, sim: Simulator) -> str:
    data = await get(http, sim, "gettoken", corpid=CORP_ID, corpsecret=SECRET)
    assert data["errcode"] == 0
    return str(data["access_token"])


async def get(http: aiohttp.ClientSession, sim: Simulator, path: str,
              **query: str) -> dict[str, Any]:
    async with http.get(sim.base_url + path, params=query) as resp:
        assert resp.status == 200
        return dict(await resp.json())


async def post(http: aiohttp.ClientSession, sim: Simulator, path: str, body: dict[str, Any],
               token: str) -> dict[str, Any]:
    async with http.post(sim.base_url + path, params={"access_token": token},
                         json=body) as resp:
        assert resp.status == 200
        return dict(await resp.json())


# -- access tokens ----------------------------------------------------------------------------


async def test_token_issue_errors_and_expiry(sim: Simulator, http: aiohttp.ClientSession) -> None:
    data = await get(http, sim, "gettoken", corpid=CORP_ID, corpsecret=SECRET)
    assert data["errcode"] == 0 and data["errmsg"] == "ok"
    assert len(data["access_token"]) >= 64 and data["expires_in"] == 7200
    token = data["access_token"]

    assert (await get(http, sim, "gettoken", corpid="wrong", corpsecret=SECRET))["errcode"] == 40013
    assert (await get(http, sim, "gettoken", corpid=CORP_ID, corpsecret="x"))["errcode"] == 40001
    assert (await get(http, sim, "getcallbackip"))["errcode"] == 41001
    assert (await get(http, sim, "getcallbackip", access_token="bogus"))["errcode"] == 40014
    ok = await get(http, sim, "getcallbackip", access_token=token)
    assert ok == {"errcode": 0, "errmsg": "ok", "ip_list": ["127.0.0.1"]}

    sim.expire_tokens()
    assert (await get(http, sim, "getcallbackip", access_token=token))["errcode"] == 42001
    fresh = await token_for(http, sim)
    assert fresh != token
    assert (await get(http, sim, "getcallbackip", access_token=fresh))["errcode"] == 0
    assert sim.gettoken_count == 4
    assert sim.calls[0].path == "gettoken" and sim.calls[0].errcode == 0


async def test_injected_token_fault_invalidates_the_token(
        sim: Simulator, http: aiohttp.ClientSession) -> None:
    token = await token_for(http, sim)
    sim.fail_next("getcallbackip", 40014)
    assert (await get(http, sim, "getcallbackip", access_token=token))["errcode"] == 40014
    # The token really is dead now: a client must fetch a new one, as with real WeCom.
    assert (await get(http, sim, "getcallbackip", access_token=token))["errcode"] == 40014
    fresh = await token_for(http, sim)
    assert fresh != token
    assert (await get(http, sim, "getcallbackip", access_token=fresh))["errcode"] == 0


# -- welcome messages ------------------------------------------------------------------------


async def test_welcome_code_is_single_use_and_the_welcome_is_recorded(
        sim: Simulator, http: aiohttp.ClientSession) -> None:
    token = await token_for(http, sim)
    ext, code = sim.scan_contact_qr("zhangsan", "store-42", "顾客甲")
    assert ext.startswith("wm") and len(ext) == 32 and code
    link = {"msgtype": "link",
            "link": {"title": "会员礼", "url": "https://example.com/gift", "picurl": ""}}
    body = {"welcome_code": code, "text": {"content": "欢迎光临"}, "attachments": [link]}
    before = time.time()
    assert (await post(http, sim, WELCOME, body, token))["errcode"] == 0
    assert (await post(http, sim, WELCOME, body, token))["errcode"] == 41051

    [welcome] = sim.welcomes_for(ext)
    assert (welcome.userid, welcome.text, welcome.welcome_code) == ("zhangsan", "欢迎光临", code)
    assert welcome.attachments == (link,)
    assert before <= welcome.received_at <= time.time()
    assert sim.welcomes == [welcome]


async def test_welcome_code_errors_do_not_spend_the_code(
        sim: Simulator, http: aiohttp.ClientSession) -> None:
    token = await token_for(http, sim)
    _, code = sim.scan_contact_qr("zhangsan", "s", "顾客乙")

    async def send(body: dict[str, Any]) -> int:
        return int((await post(http, sim, WELCOME, body, token))["errcode"])

    form = aiohttp.FormData()
    form.add_field("media", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, filename="a.png",
                   content_type="image/png")
    async with http.post(f"{sim.base_url}media/upload",
                         params={"type": "image", "access_token": token}, data=form) as resp:
        media_id = (await resp.json())["media_id"]
    image = {"msgtype": "image", "image": {"media_id": media_id}}
    unknown = {"msgtype": "image", "image": {"media_id": "MEDIA"}}
    assert await send({"welcome_code": code, "attachments": [unknown]}) == 40007
    assert await send({"text": {"content": "hi"}}) == 41049
    assert await send({"welcome_code": "nope", "text": {"content": "hi"}}) == 41050
    assert await send({"welcome_code": code, "attachments": [image] * 10}) == 41064
    assert await send({"welcome_code": code, "attachments": [{"msgtype": "voice"}]}) == 41065
    assert await send({"welcome_code": code, "attachments": [{"msgtype": "link",
                                                              "link": {"title": "t"}}]}) == 41065
    assert await send({"welcome_code": code}) == 41065
    assert await send({"welcome_code": code, "text": {"content": "字" * 1334}}) == 45002
    sim.fail_next(WELCOME, -1)
    assert await send({"welcome_code": code, "text": {"content": "hi"}}) == -1
    assert sim.welcomes == []
    # None of the failures above used the code up.
    assert await send({"welcome_code": code, "text": {"content": "hi"},
                       "attachments": [image]}) == 0
    assert len(sim.welcomes) == 1
    codes_seen = [c.errcode for c in sim.calls if c.path == WELCOME]
    assert codes_seen == [40007, 41049, 41050, 41064, 41065, 41065, 41065, 45002, -1, 0]


@pytest.mark.parametrize("options", [fast_options(welcome_code_ttl_s=0.05)])
async def test_welcome_code_expires(sim: Simulator, http: aiohttp.ClientSession) -> None:
    token = await token_for(http, sim)
    _, code = sim.scan_contact_qr("zhangsan", "s", "顾客丙")
    await asyncio.sleep(0.08)
    data = await post(http, sim, WELCOME, {"welcome_code": code, "text": {"content": "hi"}},
                      token)
    assert data["errcode"] == 41050
    assert sim.welcomes == []


@pytest.mark.parametrize("options", [fast_options(welcome_code_ttl_s=0.05)])
async def test_prepared_code_lives_from_its_scan(sim: Simulator,
                                                 http: aiohttp.ClientSession) -> None:
    """A benchmark's customer who scans later: the code's life starts at the scan."""
    token = await token_for(http, sim)
    now, later = sim.prepare_contacts("zhangsan", 2, "bench", scan_in_s=[0.0, 0.1])
    await asyncio.sleep(0.08)
    answers = [(await post(http, sim, WELCOME, {"welcome_code": c["welcome_code"],
                                                 "text": {"content": "hi"}}, token))["errcode"]
               for c in (now, later)]
    assert answers == [41050, 0]
    with pytest.raises(ValueError, match="2 contacts"):
        sim.prepare_contacts("zhangsan", 2, "bench", scan_in_s=[0.0])


# -- rate limits and faults --------------------------------------------------------------------


@pytest.mark.parametrize("options", [fast_options(per_api_per_minute=3, rate_window_s=0.3)])
async def test_rate_limit_blocks_the_rest_of_the_window(
        sim: Simulator, http: aiohttp.ClientSession) -> None:
    token = await token_for(http, sim)
    results = [(await get(http, sim, "getcallbackip", access_token=token))["errcode"]
               for _ in range(5)]
    assert results == [0, 0, 0, 45009, 45009]
    # Limits are per API path: gettoken has its own window.
    assert (await get(http, sim, "gettoken", corpid=CORP_ID, corpsecret=SECRET))["errcode"] == 0
    await asyncio.sleep(0.3)
    assert (await get(http, sim, "getcallbackip", access_token=token))["errcode"] == 0


async def test_random_faults_per_path_and_connection_reset(
        sim: Simulator, http: aiohttp.ClientSession) -> None:
    token = await token_for(http, sim)
    sim.faults.per_path["getcallbackip"] = FaultRates(busy=1.0)
    assert (await get(http, sim, "getcallbackip", access_token=token))["errcode"] == -1
    assert (await get(http, sim, "gettoken", corpid=CORP_ID, corpsecret=SECRET))["errcode"] == 0
    sim.faults = FaultPlan(concurrency_limited=1.0)
    assert (await get(http, sim, "getcallbackip", access_token=token))["errcode"] == 45033
    sim.clear_faults()

    _, code = sim.scan_contact_qr("zhangsan", "s", "顾客丁")
    sim.reset_next(WELCOME)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await post(http, sim, WELCOME, {"welcome_code": code, "text": {"content": "hi"}}, token)
    assert sim.calls[-1].errcode is None
    ok = await post(http, sim, WELCOME, {"welcome_code": code, "text": {"content": "hi"}}, token)
    assert ok["errcode"] == 0

    sim.delay_next("getcallbackip", 0.1)
    started = time.monotonic()
    assert (await get(http, sim, "getcallbackip", access_token=token))["errcode"] == 0
    assert time.monotonic() - started >= 0.1


# -- corp tags -----------------------------------------------------------------------------------


async def test_add_corp_tag_reuses_group_and_rejects_duplicate_names(
        sim: Simulator, http: aiohttp.ClientSession) -> None:
    token = await token_for(http, sim)
    path = "externalcontact/add_corp_tag"
    first = await post(http, sim, path, {"group_name": "门店", "tag": [{"name": "徐汇店"}]}, token)
    assert first["errcode"] == 0
    group = first["tag_group"]
    assert group["group_name"] == "门店" and [t["name"] for t in group["tag"]] == ["徐汇店"]
    assert group["group_id"].startswith("et") and group["tag"][0]["id"].startswith("et")

    second = await post(http, sim, path, {"group_name": "门店", "tag": [{"name": "静安店"}]},
                        token)
    assert second["tag_group"]["group_id"] == group["group_id"]
    dup = await post(http, sim, path, {"group_name": "门店", "tag": [{"name": "徐汇店"}]}, token)
    assert dup["errcode"] == 40071

    listing = await post(http, sim, "externalcontact/get_corp_tag_list", {}, token)
    [only] = listing["tag_group"]
    assert only["deleted"] is False
    assert [(t["name"], t["deleted"]) for t in only["tag"]] == [("徐汇店", False),
                                                                ("静安店", False)]
    assert sim.deliveries == []  # API operations raise no callbacks


@pytest.mark.parametrize("options", [fast_options(max_corp_tags=2)])
async def test_corp_tag_limit(sim: Simulator, http: aiohttp.ClientSession) -> None:
    token = await token_for(http, sim)
    body = {"group_name": "g", "tag": [{"name": "a"}, {"name": "b"}, {"name": "c"}]}
    data = await post(http, sim, "externalcontact/add_corp_tag", body, token)
    assert data["errcode"] == 40126


async def test_mark_tag_updates_what_externalcontact_get_returns(
        sim: Simulator, http: aiohttp.ClientSession) -> None:
    token = await token_for(http, sim)
    ext, _ = sim.scan_contact_qr("zhangsan", "store-7", "顾客戊")
    tag_id = sim.admin_add_tag("会员等级", "金卡")
    mark = "externalcontact/mark_tag"
    body = {"userid": "zhangsan", "external_userid": ext, "add_tag": [tag_id]}
    assert (await post(http, sim, mark, body, token))["errcode"] == 0

    data = await get(http, sim, "externalcontact/get", external_userid=ext, access_token=token)
    assert data["external_contact"]["external_userid"] == ext
    assert data["external_contact"]["name"] == "顾客戊" and data["external_contact"]["type"] == 1
    [follow] = data["follow_user"]
    assert follow["userid"] == "zhangsan" and follow["state"] == "store-7"
    assert follow["add_way"] == 1 and follow["oper_userid"] == ext
    assert follow["tags"] == [{"group_name": "会员等级", "tag_name": "金卡", "tag_id": tag_id,
                               "type": 1}]

    both_empty = {"userid": "zhangsan", "external_userid": ext, "add_tag": [], "remove_tag": []}
    assert (await post(http, sim, mark, both_empty, token))["errcode"] == 40058
    unknown = {"userid": "zhangsan", "external_userid": ext, "add_tag": ["etNOPE"]}
    assert (await post(http, sim, mark, unknown, token))["errcode"] == 40068
    stranger = {"userid": "lisi", "external_userid": ext, "add_tag": [tag_id]}
    assert (await post(http, sim, mark, stranger, token))["errcode"] == 84061

    sim.admin_delete_tag(tag_id)  # deleting a tag takes it off every customer
    data = await get(http, sim, "externalcontact/get", external_userid=ext, access_token=token)
    assert data["follow_user"][0]["tags"] == []
    missing = await get(http, sim, "externalcontact/get", external_userid="wmNOPE",
                        access_token=token)
    assert missing["errcode"] == 40096
    sim.customer_deletes_staff("zhangsan", ext)  # one-way: zhangsan still has the customer
    kept = await get(http, sim, "externalcontact/get", external_userid=ext, access_token=token)
    assert kept["errcode"] == 0 and kept["follow_user"][0]["userid"] == "zhangsan"
    sim.staff_deletes_customer("zhangsan", ext)
    gone = await get(http, sim, "externalcontact/get", external_userid=ext, access_token=token)
    assert gone["errcode"] == 84061


# -- customer groups and their callbacks -----------------------------------------------------------


async def test_join_scene_numbering_differs_between_api_and_callback(
        sim: Simulator, http: aiohttp.ClientSession, receiver: Receiver) -> None:
    token = await token_for(http, sim)
    chat_id = sim.create_group("zhangsan", "徐汇店会员群")
    v0 = (await post(http, sim, "externalcontact/groupchat/get", {"chat_id": chat_id},
                     token))["group_chat"]["member_version"]
    a, _ = sim.scan_contact_qr("zhangsan", "s", "甲")
    v1 = sim.join_group(chat_id, a, "invite")
    v2 = sim.join_group(chat_id, "wmOutsider0000000000000000000001", "link", invitor="lisi")
    v3 = sim.join_group_many(chat_id, ["wmScanner0000000000000000000002", "lisi"], "qr")
    before_leave = (await post(http, sim, "externalcontact/groupchat/get", {"chat_id": chat_id},
                               token))["group_chat"]
    invited = next(m for m in before_leave["member_list"] if m["userid"] == a)
    assert (invited["join_scene"], invited["type"], invited["invitor"]) == (1, 2,
                                                                             {"userid": "zhangsan"})
    assert "name" not in invited  # only with need_name=1
    v4 = sim.leave_group(chat_id, a, removed=True)
    await sim.wait_callbacks_delivered(timeout=5)

    group = (await post(http, sim, "externalcontact/groupchat/get",
                        {"chat_id": chat_id, "need_name": 1}, token))["group_chat"]
    assert group["owner"] == "zhangsan" and group["member_version"] == v4
    members = {m["userid"]: m for m in group["member_list"]}
    assert members["zhangsan"]["type"] == 1
    assert a not in members
    assert members["wmOutsider0000000000000000000001"]["join_scene"] == 2
    assert members["wmOutsider0000000000000000000001"]["invitor"] == {"userid": "lisi"}
    assert members["wmScanner0000000000000000000002"]["join_scene"] == 3
    assert members["wmScanner0000000000000000000002"]["type"] == 2
    assert members["lisi"]["type"] == 1 and members["lisi"]["name"] == "李四"

    chat_events = [parse(r["plain"]) for r in receiver.received]
    chat_events = [f for f in chat_events if f.get("Event") == "change_external_chat"]
    create, join_invite, join_link, join_qr, leave = chat_events
    assert create["ChangeType"] == "create" and create["ChatId"] == chat_id
    assert create["FromUserName"] == "sys" and create["ToUserName"] == CORP_ID
    assert [e["JoinScene"] for e in (join_invite, join_link, join_qr)] == ["0", "0", "3"]
    assert join_invite["UpdateDetail"] == "add_member" and join_invite["MemChangeList"] == [a]
    assert join_qr["MemChangeCnt"] == "2"
    assert join_qr["MemChangeList"] == ["wmScanner0000000000000000000002", "lisi"]
    assert (leave["UpdateDetail"], leave["QuitScene"], leave["JoinScene"]) == ("del_member",
                                                                              "1", "0")
    versions = [(e["LastMemVer"], e["CurMemVer"])
                for e in (join_invite, join_link, join_qr, leave)]
    assert versions == [(v0, v1), (v1, v2), (v2, v3), (v3, v4)]

    # Staff joining by QR: callback JoinScene 3, groupchat/get join_scene 3 as well.
    assert members["lisi"]["join_scene"] == 3


async def test_groupchat_list_pages_and_dismiss(sim: Simulator,
                                                http: aiohttp.ClientSession) -> None:
    token = await token_for(http, sim)
    chats = [sim.create_group("zhangsan", f"群{n}") for n in range(3)]
    other = sim.create_group("lisi", "李四的群")
    path = "externalcontact/groupchat/list"
    first = await post(http, sim, path, {"limit": 2}, token)
    assert [c["chat_id"] for c in first["group_chat_list"]] == chats[:2]
    rest = await post(http, sim, path, {"limit": 2, "cursor": first["next_cursor"]}, token)
    assert [c["chat_id"] for c in rest["group_chat_list"]] == [chats[2], other]
    assert "next_cursor" not in rest
    mine = await post(http, sim, path, {"limit": 10, "owner_filter": {"userid_list": ["lisi"]}},
                      token)
    assert mine["group_chat_list"] == [{"chat_id": other, "status": 0}]
    assert (await post(http, sim, path, {}, token))["errcode"] == 40058
    sim.dismiss_group(other)
    gone = await post(http, sim, "externalcontact/groupchat/get", {"chat_id": other}, token)
    assert gone["errcode"] == 40050


# -- callback contents ----------------------------------------------------------------------------


async def test_contact_and_app_callbacks_look_like_the_samples(
        sim: Simulator, receiver: Receiver) -> None:
    ext, code = sim.scan_contact_qr("zhangsan", "store-42", "顾客己")
    ext2, none = sim.scan_contact_qr("lisi", "", "顾客庚", half=True, with_welcome_code=False)
    tag_id = sim.admin_add_tag("来源", "门店扫码")
    sim.edit_contact_tags("zhangsan", ext, add_tag_ids=[tag_id])
    sim.staff_deletes_customer("zhangsan", ext, source="DELETE_BY_TRANSFER")
    msg_id = sim.staff_sends_app_text("lisi", "日报 <今天> ]]> 完")
    sim.staff_enters_app("lisi")
    await sim.wait_callbacks_delivered(timeout=5)
    assert none is None

    by_kind = {(f.get("Event") or f["MsgType"], f.get("ChangeType", "")): (f, r)
               for r in receiver.received for f in [parse(r["plain"])]}
    add, add_env = by_kind[("change_external_contact", "add_external_contact")]
    assert add["FromUserName"] == "sys" and add["ToUserName"] == CORP_ID
    assert (add["UserID"], add["ExternalUserID"], add["State"], add["WelcomeCode"]) == (
        "zhangsan", ext, "store-42", code)
    assert abs(int(add["CreateTime"]) - time.time()) < 5
    assert "<WelcomeCode><![CDATA[" in add_env["plain"]
    assert add_env["envelope"].find("AgentID") is None
    assert add_env["envelope"].findtext("ToUserName") == CORP_ID
    assert add_env["content_type"] == "text/xml"

    half, _ = by_kind[("change_external_contact", "add_half_external_contact")]
    assert half["ExternalUserID"] == ext2 and "WelcomeCode" not in half
    edit, _ = by_kind[("change_external_contact", "edit_external_contact")]
    assert edit["ExternalUserID"] == ext
    deleted, _ = by_kind[("change_external_contact", "del_external_contact")]
    assert deleted["Source"] == "DELETE_BY_TRANSFER"
    tag, _ = by_kind[("change_external_tag", "create")]
    assert (tag["Id"], tag["TagType"]) == (tag_id, "tag")

    text, text_env = by_kind[("text", "")]
    assert text["FromUserName"] == "lisi" and text["Content"] == "日报 <今天> ]]> 完"
    assert text["MsgId"] == msg_id and msg_id.isdigit() and int(msg_id) < 2**64
    assert text["AgentID"] == str(AGENT_ID)
    assert text_env["envelope"].findtext("AgentID") == str(AGENT_ID)
    enter, _ = by_kind[("enter_agent", "")]
    assert enter["FromUserName"] == "lisi" and enter["AgentID"] == str(AGENT_ID)


# -- the pusher: retries, give-up, timeouts, held queue, ordering ----------------------------------


async def test_pusher_retries_with_fresh_encryption_until_200(
        sim: Simulator, receiver: Receiver) -> None:
    receiver.script = [500, 500, 200]
    sim.scan_contact_qr("zhangsan", "s", "顾客辛")
    await sim.wait_callbacks_delivered(timeout=5)

    [record] = sim.deliveries
    assert record.status == "delivered"
    assert [a.status for a in record.attempts] == [500, 500, 200]
    assert len({a.nonce for a in record.attempts}) == 3
    assert [r["nonce"] for r in receiver.received] == [a.nonce for a in record.attempts]
    assert {r["plain"] for r in receiver.received} == {record.plaintext}
    assert record.get("ChangeType") == "add_external_contact"


async def test_pusher_gives_up_after_the_retries(sim: Simulator, receiver: Receiver) -> None:
    receiver.script = [503] * 10
    sim.scan_contact_qr("zhangsan", "s", "顾客壬")
    await sim.wait_callbacks_delivered(timeout=5)
    [record] = sim.deliveries
    assert record.status == "failed"
    assert len(record.attempts) == 1 + sim.options.callback_retries == 4
    assert sim.stats()["deliveries"]["failed"] == 1


@pytest.mark.parametrize("options", [fast_options(callback_timeout_s=0.1, callback_retries=1)])
async def test_pusher_treats_a_slow_answer_as_failure(sim: Simulator,
                                                      receiver: Receiver) -> None:
    receiver.script = [-0.3, 200]
    sim.staff_enters_app("zhangsan")
    await sim.wait_callbacks_delivered(timeout=5)
    [record] = sim.deliveries
    assert [a.status for a in record.attempts] == [None, 200]
    assert "no answer" in record.attempts[0].error
    assert record.status == "delivered"


async def test_callbacks_wait_for_a_url_and_keep_lane_order(sim: Simulator) -> None:
    sim.callback_url = None
    chat_id = sim.create_group("zhangsan", "群")
    for n in range(5):
        sim.join_group(chat_id, f"wmMember{n:024d}", "qr")
    with pytest.raises(TimeoutError):
        await sim.wait_callbacks_delivered(timeout=0.05)
    assert sim.pending_callbacks == 6

    recv = Receiver()
    recv.script = [-0.02] * 6  # a slow bot: later callbacks must still arrive in order
    await recv.start()
    try:
        sim.callback_url = recv.url
        await sim.wait_callbacks_delivered(timeout=5)
        lists = [recv.fields(n).get("MemChangeList") for n in range(6)]
        assert lists == [None] + [[f"wmMember{n:024d}"] for n in range(5)]
    finally:
        assert recv.runner is not None
        await recv.runner.cleanup()


# -- app messages ----------------------------------------------------------------------------------


@pytest.mark.parametrize("options", [fast_options(app_msg_per_member=2)])
async def test_message_send_limits_and_invalid_users(sim: Simulator,
                                                     http: aiohttp.ClientSession) -> None:
    token = await token_for(http, sim)

    def body(touser: str, content: str = "早报") -> dict[str, Any]:
        return {"touser": touser, "msgtype": "text", "agentid": AGENT_ID,
                "text": {"content": content}}

    first = await post(http, sim, "message/send", body("zhangsan|ghost"), token)
    assert first["errcode"] == 0 and first["invaliduser"] == "ghost" and first["msgid"]
    for _ in range(2):
        assert (await post(http, sim, "message/send", body("zhangsan"), token))["errcode"] == 0
    assert len(sim.app_messages_for("zhangsan")) == 2  # the third was dropped silently
    assert len(sim.app_messages_for("zhangsan", include_dropped=True)) == 3
    none_valid = await post(http, sim, "message/send", body("ghost"), token)
    assert none_valid["errcode"] == 81013
    too_long = await post(http, sim, "message/send", body("lisi", "x" * 2049), token)
    assert too_long["errcode"] == 45002


# -- control routes -------------------------------------------------------------------------------


async def test_control_routes(sim: Simulator, http: aiohttp.ClientSession) -> None:
    async def control(path: str, body: dict[str, Any] | None = None) -> Any:
        assert sim.url is not None
        method = http.post if body is not None else http.get
        async with method(sim.url + path, json=body) as resp:
            assert resp.status == 200, await resp.text()
            return await resp.json()

    await control("/sim/staff", {"userid": "wangwu", "name": "王五"})
    scanned = await control("/sim/scan", {"userid": "wangwu", "state": "s1", "name": "顾客"})
    assert scanned["external_userid"].startswith("wm") and scanned["welcome_code"]
    prepared = await control("/sim/prepare_contacts",
                             {"userid": "wangwu", "count": 3, "state": "bench"})
    assert len(prepared) == 3 and {p["state"] for p in prepared} == {"bench"}
    assert sim.pending_callbacks == 1  # prepare_contacts queued nothing

    token = await token_for(http, sim)
    data = await post(http, sim, WELCOME, {"welcome_code": prepared[0]["welcome_code"],
                                           "text": {"content": "hi"}}, token)
    assert data["errcode"] == 0
    welcomes = await control("/sim/welcomes")
    assert [w["external_userid"] for w in welcomes] == [prepared[0]["external_userid"]]
    assert await control("/sim/welcomes?since=1") == []
    plan = await control("/sim/faults", {"busy": 0.5, "per_path": {"gettoken": {"slow": 1}}})
    assert plan["busy"] == 0.5 and plan["per_path"]["gettoken"]["slow"] == 1
    await control("/sim/faults", {"clear": True})
    stats = await control("/sim/stats")
    assert stats["calls"][WELCOME] == 1 and stats["welcomes"] == 1 and stats["gettoken"] == 1
    waited = await control("/sim/wait_delivered", {"timeout": 0.05})
    assert waited == {"delivered": False, "pending": 1}
    async with http.post(sim.url + "/sim/scan", json={"userid": "ghost", "name": "x"}) as resp:
        assert resp.status == 400
