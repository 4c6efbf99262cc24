"""The callback endpoint as WeCom (and an attacker) calls it: refusals have no side effect."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp
import pytest

from bot.app import RUNTIME
from bot.config import Secrets
from bot.simulator import Simulator
from bot.wecom.crypto import CallbackCrypto
from tests.conftest import REPO, World, make_settings, start_bot
from tests.databases import ScratchDb
from tests.wecom.vectors import (
    AES_KEY,
    CORP_ID,
    GET_ECHOSTR_SENT,
    GET_NONCE,
    GET_PLAIN,
    GET_SIGNATURE,
    GET_TIMESTAMP,
    POST_ENCRYPT,
    POST_NONCE,
    POST_SIGNATURE,
    POST_TIMESTAMP,
    TOKEN,
)


def add_contact_xml(corp_id: str, external_userid: str = "wmFORGED", code: str = "CODE") -> str:
    return (
        f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName>"
        "<FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_contact]]></Event>"
        "<ChangeType><![CDATA[add_external_contact]]></ChangeType>"
        "<UserID><![CDATA[zhanghua]]></UserID>"
        f"<ExternalUserID><![CDATA[{external_userid}]]></ExternalUserID>"
        f"<State><![CDATA[takeout-card]]></State><WelcomeCode><![CDATA[{code}]]></WelcomeCode>"
        "</xml>"
    )


async def test_official_vector_through_the_real_endpoint(tmp_path: Path, scratch_db: ScratchDb):
    """Vector A (doc 91144): GET echoes the plaintext, POST is accepted and recorded."""
    secrets_ = Secrets(corp_id=CORP_ID, secret="vector-secret", token=TOKEN, aes_key=AES_KEY)
    sim = Simulator(CORP_ID, "vector-secret", TOKEN, AES_KEY)
    await sim.start()
    # The vector is from 2014: widen the timestamp window for this test only.
    settings = make_settings(tmp_path, sim.base_url, scratch_db.url).with_overrides(
        server={"timestamp_window_s": 10**10})
    runner, url = await start_bot(settings, secrets_)
    try:
        async with aiohttp.ClientSession() as http:
            query = (f"msg_signature={GET_SIGNATURE}&timestamp={GET_TIMESTAMP}&nonce={GET_NONCE}"
                     f"&echostr={GET_ECHOSTR_SENT}")
            async with http.get(f"{url}/wecom/callback?{query}") as resp:
                assert resp.status == 200
                assert await resp.read() == GET_PLAIN.encode()  # no quotes, BOM or newline
            body = (f"<xml><ToUserName><![CDATA[{CORP_ID}]]></ToUserName><Encrypt><![CDATA["
                    f"{POST_ENCRYPT}]]></Encrypt><AgentID><![CDATA[218]]></AgentID></xml>")
            params = {"msg_signature": POST_SIGNATURE, "timestamp": POST_TIMESTAMP,
                      "nonce": POST_NONCE}
            async with http.post(f"{url}/wecom/callback", params=params, data=body) as resp:
                assert resp.status == 200
                assert await resp.read() == b""
        runtime = runner.app[RUNTIME]
        assert runtime.recorded == 1
        assert runtime.dispatcher is not None and await runtime.dispatcher.drain(5)
        rows = scratch_db.rows("SELECT kind, dedupe_key, status FROM inbox_event")
        assert rows == [("app.text", "app.text:4561255354251345929", "done")]
    finally:
        await runner.cleanup()
        await sim.stop()


async def _assert_no_side_effects(world: World, mark: int) -> None:
    await asyncio.sleep(0.2)  # anything wrongly scheduled would have started by now
    assert world.count("inbox_event") == 0
    assert world.count("member") == 0
    assert world.sim.api_calls_since(mark) == []


async def test_forged_signature_is_refused_without_side_effects(world: World):
    mark = world.sim.mark()
    message = world.crypto().encrypt(add_contact_xml(world.secrets.corp_id), str(int(time.time())))
    params = message.query() | {"msg_signature": "0" * 40}
    async with world.http.post(world.callback_url, params=params,
                               data=message.post_body(world.secrets.corp_id)) as resp:
        assert resp.status == 403
    await _assert_no_side_effects(world, mark)


async def test_message_encrypted_with_another_key_is_refused(world: World):
    mark = world.sim.mark()
    other_key = ("b" if world.secrets.aes_key[0] != "b" else "c") + world.secrets.aes_key[1:]
    impostor = CallbackCrypto(world.secrets.token, other_key, world.secrets.corp_id)
    resp = await world.post_callback(add_contact_xml(world.secrets.corp_id), crypto=impostor)
    assert resp.status == 400
    await _assert_no_side_effects(world, mark)


async def test_message_for_another_corp_is_refused(world: World):
    mark = world.sim.mark()
    other_corp = CallbackCrypto(world.secrets.token, world.secrets.aes_key, "wwanothercorp")
    resp = await world.post_callback(add_contact_xml("wwanothercorp"), crypto=other_corp)
    assert resp.status == 400
    await _assert_no_side_effects(world, mark)


@pytest.mark.parametrize("skew", [-301, 400, 86_400])
async def test_stale_or_future_timestamp_is_refused(world: World, skew: int):
    mark = world.sim.mark()
    resp = await world.post_callback(add_contact_xml(world.secrets.corp_id),
                                     timestamp=int(time.time()) + skew)
    assert resp.status == 400
    await _assert_no_side_effects(world, mark)


@pytest.mark.parametrize("body", [
    b"",
    b"not xml",
    b"<xml><ToUserName>x</ToUserName></xml>",  # no Encrypt
    b"<xml><Encrypt></Encrypt></xml>",
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
    b"<xml><Encrypt>&e;</Encrypt></xml>",
])
async def test_malformed_envelope_is_refused(world: World, body: bytes):
    mark = world.sim.mark()
    params = {"msg_signature": "a" * 40, "timestamp": str(int(time.time())), "nonce": "1"}
    async with world.http.post(world.callback_url, params=params, data=body) as resp:
        assert 400 <= resp.status < 500
    await _assert_no_side_effects(world, mark)


async def test_missing_query_parameters_are_refused(world: World):
    mark = world.sim.mark()
    async with world.http.post(world.callback_url, data=b"<xml/>") as resp:
        assert resp.status == 400
    async with world.http.get(world.callback_url, params={"echostr": "x"}) as resp:
        assert resp.status == 400
    await _assert_no_side_effects(world, mark)


async def test_validly_signed_but_malformed_event_is_refused(world: World):
    mark = world.sim.mark()
    xml = add_contact_xml(world.secrets.corp_id).replace(
        "<UserID><![CDATA[zhanghua]]></UserID>", "")
    resp = await world.post_callback(xml)
    assert resp.status == 400
    await _assert_no_side_effects(world, mark)


async def test_oversized_body_is_refused(world: World):
    mark = world.sim.mark()
    params = {"msg_signature": "a" * 40, "timestamp": str(int(time.time())), "nonce": "1"}
    body = b"<xml><Encrypt>" + b"A" * (world.runtime.settings.server.max_body_bytes + 10) + \
        b"</Encrypt></xml>"
    async with world.http.post(world.callback_url, params=params, data=body) as resp:
        assert resp.status == 413
    await _assert_no_side_effects(world, mark)


async def test_redelivered_callback_is_recorded_and_acted_on_once(world: World):
    contact = world.sim.prepare_contacts(_a_manager(world), 1, "takeout-card")[0]
    xml = add_contact_xml(world.secrets.corp_id, contact["external_userid"],
                          contact["welcome_code"]).replace("zhanghua", _a_manager(world))
    # WeCom re-encrypts each retry: new nonce, new timestamp, same plaintext.
    responses = await asyncio.gather(*(world.post_callback(xml) for _ in range(4)))
    assert [r.status for r in responses] == [200] * 4
    await world.settle()
    assert world.count("inbox_event") == 1
    assert len(world.sim.welcomes_for(contact["external_userid"])) == 1
    assert world.sim.call_count("externalcontact/send_welcome_msg") == 1
    assert world.runtime.duplicates == 3


def _a_manager(world: World) -> str:
    from bot.books.stores import StoreDirectory

    return StoreDirectory.load(REPO / "sop" / "stores.yaml").all()[0].manager_userid
