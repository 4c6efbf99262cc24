"""Hostile callbacks against the real endpoint: refused with a 4xx, never a 5xx, no trace.

Everything here goes over HTTP to the bot of the conftest world (a real port, a SQLite
file, the simulator as WeCom). What must hold for every refused request: a 4xx answer, no
row in any table the bot writes, and no call from the bot to the simulated WeCom API. What
must hold for a validly signed request that is only replayed: 200 (WeCom would otherwise
redeliver it) and the bot acts once.

Two halves: property-based tests (hypothesis) that throw random bytes, random ciphertexts
and random plaintexts at the endpoint, and a corpus of hand-made attacks, each named after
what it tries.
"""

from __future__ import annotations

import asyncio
import base64
import io
import os
import secrets
import time
from collections.abc import Callable

import aiohttp
import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.wecom.crypto import sign
from tests.conftest import REPO, World

# Every table the callback path writes to: a refusal must leave all of them empty.
TABLES = ("inbox_event", "member", "welcome", "customer_group", "group_member_log")
HYPOTHESIS = settings(max_examples=40, deadline=None,
                      suppress_health_check=[HealthCheck.function_scoped_fixture])


def _manager() -> str:
    from bot.books.stores import StoreDirectory

    return StoreDirectory.load(REPO / "sop" / "stores.yaml").all()[0].manager_userid


def contact_xml(corp_id: str, external_userid: str = "wmHOSTILE", code: str = "CODE",
                userid: str = "zhanghua", create_time: int | str | None = None) -> str:
    stamp = int(time.time()) if create_time is None else create_time
    return (
        f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName>"
        "<FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{stamp}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_contact]]></Event>"
        "<ChangeType><![CDATA[add_external_contact]]></ChangeType>"
        f"<UserID><![CDATA[{userid}]]></UserID>"
        f"<ExternalUserID><![CDATA[{external_userid}]]></ExternalUserID>"
        f"<State><![CDATA[takeout-card]]></State><WelcomeCode><![CDATA[{code}]]></WelcomeCode>"
        "</xml>"
    )


def chat_update_xml(corp_id: str, chat_id: str, members: list[str]) -> str:
    items = "".join(f"<Item><![CDATA[{m}]]></Item>" for m in members)
    return (
        f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName>"
        "<FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_chat]]></Event>"
        f"<ChatId><![CDATA[{chat_id}]]></ChatId><ChangeType><![CDATA[update]]></ChangeType>"
        "<UpdateDetail><![CDATA[add_member]]></UpdateDetail><JoinScene>3</JoinScene>"
        f"<QuitScene>0</QuitScene><MemChangeCnt>{len(members)}</MemChangeCnt>"
        f"<MemChangeList>{items}</MemChangeList>"
        "<LastMemVer><![CDATA[v1]]></LastMemVer><CurMemVer><![CDATA[v2]]></CurMemVer></xml>"
    )


def genuine_contact_xml(world: World) -> str:
    """An add event for a customer the simulator knows, without a WelcomeCode: accepted
    and handled at once (an unknown customer would make the handler retry for seconds)."""
    manager = _manager()
    contact = world.sim.prepare_contacts(manager, 1, "takeout-card")[0]
    return contact_xml(world.secrets.corp_id, contact["external_userid"], code="",
                       userid=manager)


def raw_encrypt(world: World, payload: bytes, *, pad: Callable[[bytes], bytes] | None = None,
                key: bytes | None = None) -> str:
    """AES-256-CBC as WeCom does it, with the padding and key left to the test.

    `payload` is everything after the 16 random bytes (length prefix, message, receive id),
    so a test can lie about any part of the layout (§1.5)."""
    aes_key = key or base64.b64decode(world.secrets.aes_key + "=")
    plain = os.urandom(16) + payload
    padded = pad(plain) if pad is not None else pkcs7_32(plain)
    encryptor = Cipher(algorithms.AES(aes_key), modes.CBC(aes_key[:16])).encryptor()
    return base64.b64encode(encryptor.update(padded) + encryptor.finalize()).decode()


def pkcs7_32(data: bytes) -> bytes:
    n = 32 - len(data) % 32
    return data + bytes([n]) * n


def layout(message: str, receive_id: str, length: int | None = None) -> bytes:
    body = message.encode()
    size = len(body) if length is None else length
    return size.to_bytes(4, "big") + body + receive_id.encode()


async def post_signed(world: World, encrypted: str, *, timestamp: str | None = None,
                      nonce: str = "hostile", token: str | None = None,
                      envelope: bytes | None = None) -> int:
    """POST `encrypted` with a correct signature (unless `token` says whose)."""
    stamp = timestamp if timestamp is not None else str(int(time.time()))
    signature = sign(token or world.secrets.token, stamp, nonce, encrypted)
    body = envelope if envelope is not None else (
        f"<xml><ToUserName><![CDATA[{world.secrets.corp_id}]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>").encode()
    params = {"msg_signature": signature, "timestamp": stamp, "nonce": nonce}
    async with world.http.post(world.callback_url, params=params,
                               data=io.BytesIO(body)) as resp:
        await resp.read()
        return resp.status


async def post_raw(world: World, body: bytes, params: dict[str, str] | None = None,
                   headers: dict[str, str] | None = None) -> int:
    query = params if params is not None else {
        "msg_signature": "a" * 40, "timestamp": str(int(time.time())), "nonce": "1"}
    async with world.http.post(world.callback_url, params=query, data=body,
                               headers=headers) as resp:
        await resp.read()
        return resp.status


def assert_untouched(world: World, mark: int) -> None:
    for table in TABLES:
        assert world.count(table) == 0, table
    assert world.sim.api_calls_since(mark) == []


async def assert_no_side_effects(world: World, mark: int) -> None:
    await asyncio.sleep(0.1)  # anything wrongly scheduled would have started by now
    assert_untouched(world, mark)
    assert world.runtime.recorded == 0


# -- property-based ---------------------------------------------------------------------


@HYPOTHESIS
@given(body=st.binary(max_size=4096), signature=st.text(max_size=64),
       timestamp=st.one_of(st.text(max_size=24), st.integers().map(str)),
       nonce=st.text(max_size=32))
async def test_random_bytes_and_query_are_refused(world: World, body: bytes, signature: str,
                                                  timestamp: str, nonce: str) -> None:
    mark = world.sim.mark()
    params = {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce}
    status = await post_raw(world, body, params)
    assert 400 <= status < 500
    assert_untouched(world, mark)


@HYPOTHESIS
@given(encrypted=st.one_of(
    st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=",
            min_size=1, max_size=800),
    st.binary(min_size=1, max_size=600).map(lambda b: base64.b64encode(b).decode())))
async def test_signed_garbage_ciphertext_is_refused(world: World, encrypted: str) -> None:
    """Signed with the right Token (as if the Token leaked), but not encrypted with the key:
    the decryption checks (block size, pad byte, length prefix, receive id) must catch it."""
    mark = world.sim.mark()
    assert await post_signed(world, encrypted) == 400
    assert_untouched(world, mark)


@HYPOTHESIS
@given(message=st.text(max_size=600))
async def test_encrypted_random_plaintext_is_refused_or_recorded_never_5xx(
        world: World, message: str) -> None:
    """Correctly encrypted and signed, but the plaintext is anything: 400, or (when it
    happens to be a well-formed <xml>) 200 and at most one inbox row."""
    before = world.count("inbox_event")
    encrypted = world.crypto().encrypt(message, str(int(time.time()))).encrypted
    status = await post_signed(world, encrypted)
    assert status in (200, 400)
    if status == 400:
        assert world.count("inbox_event") == before
    else:
        assert world.count("inbox_event") <= before + 1


_FIELD = st.sampled_from(["ToUserName", "FromUserName", "CreateTime", "MsgType", "Event",
                          "ChangeType", "UserID", "ExternalUserID", "State", "WelcomeCode",
                          "ChatId", "UpdateDetail", "JoinScene", "MemChangeCnt", "MsgId",
                          "AgentID", "Content", "Id", "TagType", "Zzz"])
_VALUE = st.one_of(st.text(max_size=40), st.integers().map(str),
                   st.sampled_from(["event", "text", "change_external_contact",
                                    "change_external_chat", "change_external_tag",
                                    "add_external_contact", "update", "create", "dismiss",
                                    "enter_agent", "del_follow_user", "99999999999999999999",
                                    "-1", "１２３", "1_000", ""]))


def _cdata(value: str) -> str:
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


@HYPOTHESIS
@given(fields=st.dictionaries(_FIELD, _VALUE, max_size=12))
async def test_any_field_combination_is_answered_without_5xx(
        world: World, fields: dict[str, str]) -> None:
    """Well-formed event XML with any subset of fields and any values (unknown event types,
    missing ids, absurd integers): never a 5xx; a refusal leaves no row."""
    body = "".join(f"<{k}>{_cdata(v)}</{k}>" for k, v in fields.items())
    before = world.count("inbox_event")
    encrypted = world.crypto().encrypt(f"<xml>{body}</xml>", str(int(time.time()))).encrypted
    status = await post_signed(world, encrypted)
    assert status in (200, 400), fields
    if status == 400:
        assert world.count("inbox_event") == before


@HYPOTHESIS
@given(position=st.integers(min_value=0), bit=st.integers(min_value=0, max_value=7))
async def test_a_flipped_bit_in_the_ciphertext_never_causes_a_5xx(
        world: World, position: int, bit: int) -> None:
    """Bit flips (a corrupting proxy, an attacker with the Token): in CBC a flip garbles
    one block and flips one bit of the next; whatever comes out is refused or parsed."""
    xml = contact_xml(world.secrets.corp_id, code="")  # no code: nothing to send if accepted
    raw = bytearray(base64.b64decode(world.crypto().encrypt(xml, "0").encrypted))
    raw[position % len(raw)] ^= 1 << bit
    before = world.count("inbox_event")
    status = await post_signed(world, base64.b64encode(bytes(raw)).decode())
    assert status in (200, 400)
    if status == 400:
        assert world.count("inbox_event") == before


# -- the corpus --------------------------------------------------------------------------

BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">'
              for i in range(1, 10))
    + ']><xml><Encrypt>&lol9;</Encrypt></xml>')
EXTERNAL_ENTITY = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
                   "<xml><ToUserName>&e;</ToUserName><Encrypt>QUFB</Encrypt></xml>")
PARAMETER_ENTITY = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY % p SYSTEM '
                    '"http://127.0.0.1:1/evil.dtd"> %p;]><xml><Encrypt>QUFB</Encrypt></xml>')
QUADRATIC_BLOWUP = ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "' + "A" * 5000 + '">]><xml>'
                    "<Encrypt>" + "&a;" * 5000 + "</Encrypt></xml>")

ENVELOPES: dict[str, bytes] = {
    "empty": b"",
    "not-xml": b"not xml at all",
    "json": b'{"Encrypt": "abc"}',
    "truncated": b"<xml><ToUserName><![CDATA[ww]]></ToUserName><Encrypt><![CDATA[abc",
    "no-encrypt": b"<xml><ToUserName>x</ToUserName></xml>",
    "empty-encrypt": b"<xml><Encrypt></Encrypt></xml>",
    "wrong-root": b"<html><Encrypt>QUFB</Encrypt></html>",
    "nested-encrypt": b"<xml><Encrypt><x>QUFB</x></Encrypt></xml>",
    "duplicate-encrypt": b"<xml><Encrypt>QUFB</Encrypt><Encrypt>QkJC</Encrypt></xml>",
    "attributes": b'<xml><Encrypt a="1">QUFB</Encrypt></xml>',
    "billion-laughs": BILLION_LAUGHS.encode(),
    "external-entity": EXTERNAL_ENTITY.encode(),
    "parameter-entity": PARAMETER_ENTITY.encode(),
    "quadratic-blowup": QUADRATIC_BLOWUP.encode()[:60_000],
    "utf16-bom": "<xml><Encrypt>QUFB</Encrypt></xml>".encode("utf-16"),
    "unknown-encoding": b'<?xml version="1.0" encoding="x-klingon"?><xml><Encrypt>QUFB'
                        b"</Encrypt></xml>",
    "nul-bytes": b"<xml><Encrypt>QU\x00FB</Encrypt></xml>",
    "deep-nesting": b"<xml>" + b"<a>" * 5000 + b"</a>" * 5000 + b"</xml>",
}


@pytest.mark.parametrize("name", sorted(ENVELOPES))
async def test_malformed_envelope_corpus_is_refused(world: World, name: str) -> None:
    mark = world.sim.mark()
    assert 400 <= await post_raw(world, ENVELOPES[name]) < 500
    await assert_no_side_effects(world, mark)


@pytest.mark.parametrize("name", ["billion-laughs", "external-entity", "quadratic-blowup"])
async def test_entities_inside_a_signed_encrypted_event_are_refused(world: World,
                                                                    name: str) -> None:
    """The same bombs one layer down: inside a correctly encrypted and signed plaintext."""
    mark = world.sim.mark()
    bomb = {"billion-laughs": BILLION_LAUGHS, "external-entity": EXTERNAL_ENTITY,
            "quadratic-blowup": QUADRATIC_BLOWUP[:50_000]}[name]
    inner = bomb.replace("<xml><Encrypt>", "<xml><Content>").replace("</Encrypt>", "</Content>")
    encrypted = world.crypto().encrypt(inner, "0").encrypted
    assert await post_signed(world, encrypted) == 400
    await assert_no_side_effects(world, mark)


def _pad_value(value: int) -> Callable[[bytes], bytes]:
    """Pad to 32-byte blocks but end with `value` (0, 33, 255: never valid)."""
    def pad(data: bytes) -> bytes:
        n = 32 - len(data) % 32
        return data + bytes([value]) * n
    return pad


def _pad16(data: bytes) -> bytes:
    """A generic PKCS#7 with 16-byte blocks: not what WeCom does (§1.5)."""
    n = 16 - len(data) % 16
    return data + bytes([n]) * n


def _pkcs7_16_payload(world: World) -> str:
    """A contact event whose 16-byte padding does not also happen to be 32-byte padding."""
    corp = world.secrets.corp_id
    for spaces in range(32):
        payload = layout(contact_xml(corp) + " " * spaces, corp)
        if 0 < (16 + len(payload)) % 32 < 16:
            return raw_encrypt(world, payload, pad=_pad16)
    raise AssertionError("unreachable")


def _inconsistent_pad(data: bytes) -> bytes:
    n = 32 - len(data) % 32
    if n < 2:
        data += b"x"
        n = 32 - len(data) % 32
    return data + b"\x01" * (n - 1) + bytes([n])


CRYPTO_CORPUS: dict[str, Callable[[World], str]] = {
    # corrupt padding: every pad byte must be 1..32 and the same (32-byte blocks)
    "pad-zero": lambda w: raw_encrypt(w, layout(contact_xml(w.secrets.corp_id),
                                                w.secrets.corp_id), pad=_pad_value(0)),
    "pad-33": lambda w: raw_encrypt(w, layout(contact_xml(w.secrets.corp_id),
                                              w.secrets.corp_id), pad=_pad_value(33)),
    "pad-255": lambda w: raw_encrypt(w, layout(contact_xml(w.secrets.corp_id),
                                               w.secrets.corp_id), pad=_pad_value(255)),
    "pad-16-byte-blocks": _pkcs7_16_payload,
    "pad-inconsistent": lambda w: raw_encrypt(w, layout(contact_xml(w.secrets.corp_id),
                                                        w.secrets.corp_id),
                                              pad=_inconsistent_pad),
    # lies in the layout
    "length-too-long": lambda w: raw_encrypt(w, layout(contact_xml(w.secrets.corp_id),
                                                       w.secrets.corp_id, length=10**6)),
    "length-too-short": lambda w: raw_encrypt(w, layout(contact_xml(w.secrets.corp_id),
                                                        w.secrets.corp_id, length=5)),
    "length-max": lambda w: raw_encrypt(w, layout(contact_xml(w.secrets.corp_id),
                                                  w.secrets.corp_id, length=2**32 - 1)),
    "nothing-after-random": lambda w: raw_encrypt(w, b""),
    "not-utf8": lambda w: raw_encrypt(w, (4).to_bytes(4, "big") + b"\xff\xfe\xfd\xfc"
                                      + w.secrets.corp_id.encode()),
    # wrong parties
    "wrong-receive-id": lambda w: raw_encrypt(w, layout(contact_xml("wwother"), "wwother")),
    "empty-receive-id": lambda w: raw_encrypt(w, layout(contact_xml(w.secrets.corp_id), "")),
    "receive-id-prefix": lambda w: raw_encrypt(w, layout(contact_xml(w.secrets.corp_id),
                                                         w.secrets.corp_id[:-1])),
    "wrong-aes-key": lambda w: raw_encrypt(w, layout(contact_xml(w.secrets.corp_id),
                                                     w.secrets.corp_id),
                                           key=secrets.token_bytes(32)),
    # not AES output at all
    "one-block": lambda w: base64.b64encode(os.urandom(32)).decode(),
    "not-block-multiple": lambda w: base64.b64encode(os.urandom(47)).decode(),
    "base64-with-whitespace": lambda w: w.crypto().encrypt(
        contact_xml(w.secrets.corp_id), "0").encrypted[:20] + " \n" + "A" * 4,
    "not-base64": lambda w: "!!!not base64!!!",
}


@pytest.mark.parametrize("name", sorted(CRYPTO_CORPUS))
async def test_bad_ciphertext_corpus_is_refused(world: World, name: str) -> None:
    """Correctly signed (the Token is assumed known), but not a valid ciphertext for us."""
    mark = world.sim.mark()
    assert await post_signed(world, CRYPTO_CORPUS[name](world)) == 400
    await assert_no_side_effects(world, mark)


async def test_control_the_raw_encryptor_makes_callbacks_the_bot_accepts(world: World) -> None:
    """The corpus above is only meaningful if the same encryptor, used honestly, passes."""
    xml = genuine_contact_xml(world)
    encrypted = raw_encrypt(world, layout(xml, world.secrets.corp_id))
    assert await post_signed(world, encrypted) == 200
    await world.settle()
    assert world.count("inbox_event") == 1


@pytest.mark.parametrize("case", ["wrong-token", "zero", "upper-case-of-another", "empty",
                                  "too-long", "non-ascii", "swapped-nonce"])
async def test_forged_signatures_are_refused(world: World, case: str) -> None:
    mark = world.sim.mark()
    stamp = str(int(time.time()))
    encrypted = world.crypto().encrypt(contact_xml(world.secrets.corp_id), stamp).encrypted
    good = sign(world.secrets.token, stamp, "n1", encrypted)
    signature = {
        "wrong-token": sign("not-the-token", stamp, "n1", encrypted),
        "zero": "0" * 40,
        "upper-case-of-another": sign("x", stamp, "n1", encrypted).upper(),
        "empty": "",
        "too-long": good + "00",
        "non-ascii": "签名" * 20,
        "swapped-nonce": sign(world.secrets.token, stamp, "n2", encrypted),
    }[case]
    params = {"msg_signature": signature, "timestamp": stamp, "nonce": "n1"}
    body = (f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>").encode()
    assert await post_raw(world, body, params) == 403
    await assert_no_side_effects(world, mark)


async def test_upper_case_signature_of_the_right_digest_is_accepted(world: World) -> None:
    """Hex case is not part of the secret: WeCom sends lower case, upper case is the same."""
    stamp = str(int(time.time()))
    encrypted = world.crypto().encrypt(genuine_contact_xml(world),
                                       stamp).encrypted
    params = {"msg_signature": sign(world.secrets.token, stamp, "n", encrypted).upper(),
              "timestamp": stamp, "nonce": "n"}
    body = f"<xml><Encrypt><![CDATA[{encrypted}]]></Encrypt></xml>".encode()
    assert await post_raw(world, body, params) == 200


@pytest.mark.parametrize("timestamp", [
    "-1", "0", "1409659813", "1e9", "nan", "inf", "", " ", "0x10", "１７００００００００",
    "9" * 400,  # an integer too large for a float: must be a 400, not an OverflowError
    "9" * 5000,  # past Python's int-from-str limit
])
async def test_absurd_signed_timestamps_are_refused(world: World, timestamp: str) -> None:
    """Signed correctly with the absurd timestamp, so only the window check can refuse."""
    mark = world.sim.mark()
    encrypted = world.crypto().encrypt(contact_xml(world.secrets.corp_id), "0").encrypted
    assert await post_signed(world, encrypted, timestamp=timestamp) == 400
    await assert_no_side_effects(world, mark)


@pytest.mark.parametrize("skew", [-3600, -301, 301, 3600, 10**8])
async def test_stale_and_future_signed_timestamps_are_refused(world: World, skew: int) -> None:
    mark = world.sim.mark()
    encrypted = world.crypto().encrypt(contact_xml(world.secrets.corp_id), "0").encrypted
    assert await post_signed(world, encrypted, timestamp=str(int(time.time()) + skew)) == 400
    await assert_no_side_effects(world, mark)


async def test_get_verification_with_hostile_input_is_refused(world: World) -> None:
    mark = world.sim.mark()
    stamp = str(int(time.time()))
    statuses = []
    for echostr, signed in [("", True), ("!!!", True), ("QUFB" * 8, True),
                            (base64.b64encode(os.urandom(64)).decode(), True),
                            (world.crypto().encrypt("x", stamp).encrypted, False)]:
        signature = sign(world.secrets.token, stamp, "n", echostr) if signed else "0" * 40
        async with world.http.get(world.callback_url, params={
                "msg_signature": signature, "timestamp": stamp, "nonce": "n",
                "echostr": echostr}) as resp:
            statuses.append(resp.status)
    assert statuses == [400, 400, 400, 400, 403]
    await assert_no_side_effects(world, mark)


@pytest.mark.parametrize("missing", ["UserID", "ExternalUserID", "CreateTime"])
async def test_signed_event_missing_an_identifying_field_is_refused(world: World,
                                                                    missing: str) -> None:
    mark = world.sim.mark()
    xml = contact_xml(world.secrets.corp_id)
    start = xml.index(f"<{missing}>")
    end = xml.index(f"</{missing}>") + len(missing) + 3
    encrypted = world.crypto().encrypt(xml[:start] + xml[end:], "0").encrypted
    assert await post_signed(world, encrypted) == 400
    await assert_no_side_effects(world, mark)


@pytest.mark.parametrize("create_time", ["99999999999999999999", "-99999999999999999999",
                                         "１７００００００００", "1_700_000_000"])
async def test_signed_event_with_an_absurd_create_time_is_refused(world: World,
                                                                  create_time: str) -> None:
    """Found by the property test above: CreateTime past 64 bits reached the INSERT and
    came back as a 500; non-ASCII and underscored digits were taken as numbers."""
    mark = world.sim.mark()
    xml = contact_xml(world.secrets.corp_id, create_time=create_time)
    encrypted = world.crypto().encrypt(xml, "0").encrypted
    assert await post_signed(world, encrypted) == 400
    await assert_no_side_effects(world, mark)


async def test_unknown_event_types_are_recorded_once_and_not_acted_on(world: World) -> None:
    """An Event/ChangeType the bot does not know: 200 (else WeCom redelivers it three times),
    one inbox row, a logged skip, no API call."""
    mark = world.sim.mark()
    corp = world.secrets.corp_id
    stamp = int(time.time())
    xmls = [
        contact_xml(corp).replace("add_external_contact", "add_alien_contact"),
        f"<xml><ToUserName>{corp}</ToUserName><CreateTime>{stamp}</CreateTime>"
        "<MsgType>event</MsgType><Event>kf_msg_or_event</Event><Token>x</Token></xml>",
        f"<xml><ToUserName>{corp}</ToUserName><CreateTime>{stamp}</CreateTime>"
        "<MsgType>voice</MsgType><MediaId>m</MediaId><MsgId>1</MsgId></xml>",
        f"<xml><ToUserName>{corp}</ToUserName></xml>",  # nothing but the corp
    ]
    for xml in xmls:
        encrypted = world.crypto().encrypt(xml, "0").encrypted
        assert await post_signed(world, encrypted) == 200
        assert await post_signed(world, encrypted, nonce="again") == 200  # a redelivery
    await world.settle()
    assert world.rows("SELECT DISTINCT kind, status FROM inbox_event") == [("unknown", "done")]
    assert world.count("inbox_event") == len(xmls)
    assert world.runtime.duplicates == len(xmls)
    assert world.sim.api_calls_since(mark) == []


async def test_a_full_group_mem_change_list_is_accepted(world: World) -> None:
    """500 members join at once (a full customer group): within the body limit, recorded."""
    members = [f"wm{i:030d}" for i in range(500)]
    chat = world.sim.create_group(_manager(), "大群")
    await world.settle()
    encrypted = world.crypto().encrypt(
        chat_update_xml(world.secrets.corp_id, chat, members), "0").encrypted
    assert await post_signed(world, encrypted) == 200
    [(payload,)] = world.rows("SELECT payload FROM inbox_event WHERE kind = 'chat.updated'")
    assert payload.count("wm0000") == 500


async def test_a_huge_mem_change_list_is_refused_as_too_large(world: World) -> None:
    mark = world.sim.mark()
    members = [f"wm{i:030d}" for i in range(20_000)]
    encrypted = world.crypto().encrypt(
        chat_update_xml(world.secrets.corp_id, "wrCHAT", members), "0").encrypted
    assert await post_signed(world, encrypted) == 413
    await assert_no_side_effects(world, mark)


async def test_oversized_body_without_content_length_is_refused(world: World) -> None:
    """Chunked transfer: no Content-Length to check up front, the read must stop at the
    limit (and not buffer the rest)."""
    mark = world.sim.mark()
    limit = world.runtime.settings.server.max_body_bytes

    async def chunks():
        yield b"<xml><Encrypt>"
        for _ in range(limit // 1024 + 8):
            yield b"A" * 1024
        yield b"</Encrypt></xml>"

    assert await post_raw(world, chunks()) == 413  # type: ignore[arg-type]
    await assert_no_side_effects(world, mark)


async def test_a_valid_callback_sent_slowly_in_pieces_is_accepted(world: World) -> None:
    """Found while writing the chunked test: the endpoint read the body with one
    `content.read(n)`, which returns whatever has arrived so far. A legitimate callback whose
    body came in several TCP segments was cut short and refused with a 400."""
    stamp = str(int(time.time()))
    message = world.crypto().encrypt(genuine_contact_xml(world), stamp)
    body = message.post_body(world.secrets.corp_id)

    async def trickle():
        for start in range(0, len(body), 64):
            yield body[start:start + 64]
            await asyncio.sleep(0.01)

    async with world.http.post(world.callback_url, params=message.query(),
                               data=trickle()) as resp:
        assert resp.status == 200
    assert world.count("inbox_event") == 1


async def test_truncated_bodies_are_refused(world: World) -> None:
    mark = world.sim.mark()
    message = world.crypto().encrypt(contact_xml(world.secrets.corp_id), str(int(time.time())))
    body = message.post_body(world.secrets.corp_id)
    for cut in (1, len(body) // 3, len(body) // 2, len(body) - 7, len(body) - 1):
        assert await post_raw(world, body[:cut], message.query()) in (400, 403)
    await assert_no_side_effects(world, mark)


async def test_a_lying_content_length_is_refused_without_a_5xx(world: World) -> None:
    """Content-Length larger than the limit, but a small body: refused before reading."""
    mark = world.sim.mark()
    reader, writer = await asyncio.open_connection(*world.bot_url.removeprefix(
        "http://").split(":"))
    stamp = str(int(time.time()))
    writer.write((f"POST /wecom/callback?msg_signature=a&timestamp={stamp}&nonce=1 HTTP/1.1\r\n"
                  "Host: x\r\nContent-Length: 99999999\r\n\r\n<xml/>").encode())
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), 5)
    writer.close()
    assert status_line.split()[1] == b"413"
    await assert_no_side_effects(world, mark)


async def test_methods_and_paths_other_than_the_callback_are_4xx(world: World) -> None:
    mark = world.sim.mark()
    statuses = []
    for method, path in [("PUT", "/wecom/callback"), ("DELETE", "/wecom/callback"),
                         ("GET", "/wecom/callback/../../etc/passwd"), ("GET", "/admin"),
                         ("POST", "/healthz")]:
        async with world.http.request(method, world.bot_url + path) as resp:
            statuses.append(resp.status)
    assert all(400 <= s < 500 for s in statuses), statuses
    await assert_no_side_effects(world, mark)


# -- replays ------------------------------------------------------------------------------


async def test_an_exact_replay_of_a_signed_callback_is_accepted_and_acts_once(
        world: World) -> None:
    """The same bytes, query and all, posted again inside the timestamp window (an attacker
    who recorded the traffic, or a proxy retrying): 200 each time, one welcome."""
    manager = _manager()
    contact = world.sim.prepare_contacts(manager, 1, "takeout-card")[0]
    xml = contact_xml(world.secrets.corp_id, contact["external_userid"],
                      contact["welcome_code"], userid=manager)
    message = world.crypto().encrypt(xml, str(int(time.time())))
    body = message.post_body(world.secrets.corp_id)
    statuses = []
    for _ in range(5):
        async with world.http.post(world.callback_url, params=message.query(),
                                   data=body) as resp:
            statuses.append(resp.status)
    await world.settle()
    assert statuses == [200] * 5
    assert world.count("inbox_event") == 1
    assert world.runtime.duplicates == 4
    assert len(world.sim.welcomes_for(contact["external_userid"])) == 1
    assert world.sim.call_count("externalcontact/send_welcome_msg") == 1
    assert world.count("welcome") == 1 and world.count("member") == 1


async def test_replays_racing_the_first_delivery_act_once(world: World) -> None:
    """Twenty copies at the same instant, half of them re-encrypted (WeCom's retries are):
    the inbox's conflict-free insert lets exactly one through."""
    manager = _manager()
    contact = world.sim.prepare_contacts(manager, 1, "takeout-card")[0]
    xml = contact_xml(world.secrets.corp_id, contact["external_userid"],
                      contact["welcome_code"], userid=manager)
    message = world.crypto().encrypt(xml, str(int(time.time())))

    async def exact() -> int:
        async with world.http.post(world.callback_url, params=message.query(),
                                   data=message.post_body(world.secrets.corp_id)) as resp:
            return resp.status

    async def fresh() -> int:
        return (await world.post_callback(xml)).status

    statuses = await asyncio.gather(*(exact() if i % 2 else fresh() for i in range(20)))
    await world.settle()
    assert statuses == [200] * 20
    assert world.count("inbox_event") == 1
    assert len(world.sim.welcomes_for(contact["external_userid"])) == 1


async def test_a_replay_of_a_group_event_changes_membership_once(world: World) -> None:
    chat = world.sim.create_group(_manager(), "福利群")
    world.sim.join_group(chat, "wmREPLAYED", "qr")
    await world.settle()
    joined = world.rows("SELECT count(*) FROM group_member_log")[0][0]
    [update] = [d for d in world.sim.deliveries if d.get("ChangeType") == "update"]
    message = world.crypto().encrypt(update.plaintext, str(int(time.time())))
    for _ in range(3):
        async with world.http.post(world.callback_url, params=message.query(),
                                   data=message.post_body(world.secrets.corp_id)) as resp:
            assert resp.status == 200
    await world.settle()
    assert world.rows("SELECT count(*) FROM group_member_log")[0][0] == joined


async def test_refusals_are_counted_and_logged_without_secrets(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING", logger="bot.wecom.callback")
    before = world.runtime.endpoint.refused
    await post_raw(world, b"<xml><Encrypt>QUFB</Encrypt></xml>")
    encrypted = world.crypto().encrypt(contact_xml("wwother"), "0").encrypted
    await post_signed(world, encrypted)
    assert world.runtime.endpoint.refused == before + 2
    text = caplog.text
    assert "refused callback" in text
    for secret in (world.secrets.token, world.secrets.aes_key, world.secrets.secret):
        assert secret not in text


async def test_the_endpoint_keeps_serving_after_the_corpus(world: World) -> None:
    """After everything above in one session: a genuine callback is still welcomed."""
    for body in ENVELOPES.values():
        await post_raw(world, body)
    manager = _manager()
    external, _code = world.sim.scan_contact_qr(manager, "takeout-card", "真顾客")
    await world.settle()
    assert len(world.sim.welcomes_for(external)) == 1
    assert isinstance(world.http, aiohttp.ClientSession)
