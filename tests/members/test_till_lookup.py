"""GET /api/pos/member: the cashier asks whether a paying member is in the store's group."""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.codes.support import codes_of, run_sync
from tests.conftest import World, start_bot
from tests.members.support import (
    MANAGER,
    POS_SECRET,
    headers,
    post_purchases,
    purchase,
    till_lookup,
)


@pytest.fixture(autouse=True)
def pos_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_POS_SECRET", POS_SECRET)


async def test_member_not_in_the_group_gets_the_join_code_then_not(world: World):
    chat = world.sim.create_group(MANAGER, "果田鲜生·天钥桥路店福利群")
    await world.settle()
    await run_sync(world, world.settings)  # the store's permanent 「加入群聊」 code
    [join] = await codes_of(world, store="0012", channel="门店福利群")
    ext, _ = world.sim.scan_contact_qr(MANAGER, "store-0012-counter", "孙悦")
    world.sim.world.contacts[ext].unionid = "oSunYue"
    await world.settle()
    await post_purchases(world, [purchase("L-1", "M1000", "88.00", unionid="oSunYue")])

    status, answer = await till_lookup(world, "M1000", "0012")
    assert status == 200
    assert answer["level"] == "普通" and answer["wecom_customer"] is True
    assert answer["in_store_group"] is False
    assert answer["join_code"] == {"kind": "join_way", "group_name": "果田鲜生·天钥桥路店福利群",
                                   "url": join.qr_code}

    world.sim.join_group(chat, ext, "qr")
    await world.settle()
    status, answer = await till_lookup(world, "M1000", "0012")
    assert status == 200 and answer["in_store_group"] is True
    assert answer["group_name"] == "果田鲜生·天钥桥路店福利群" and "join_code" not in answer


async def test_unknown_member_gets_no_code_before_codes_sync(world: World):
    """stores.yaml names a picture file for 0012's group: a till cannot show a file, and
    no join code was made yet, so there is nothing to show (the cashier invites by hand)."""
    status, answer = await till_lookup(world, "M9999", "0012")
    assert status == 200 and answer["known"] is False
    assert answer["in_store_group"] is False and answer["join_code"] is None


@pytest.mark.parametrize("case", ["forged", "stale", "replayed", "unknown_store"])
async def test_refused_lookups(world: World, case: str):
    if case == "forged":
        status, _ = await till_lookup(world, "M1", "0012", secret="guess")
        assert status == 401
    elif case == "stale":
        status, _ = await till_lookup(world, "M1", "0012", timestamp=int(time.time()) + 900)
        assert status == 401
    elif case == "replayed":
        assert (await till_lookup(world, "M1", "0012", request_id="lookup-0001"))[0] == 200
        status, _ = await till_lookup(world, "M1", "0012", request_id="lookup-0001")
        assert status == 409
    else:
        status, _ = await till_lookup(world, "M1", "9999")
        assert status == 404


@pytest.mark.usefixtures("chinese")
async def test_an_unknown_store_is_named_in_the_operators_language(world: World):
    status, answer = await till_lookup(world, "M1", "9999")
    assert status == 404
    assert answer["error"] == "门店目录（stores.yaml）里没有门店 9999"


async def test_without_a_secret_the_till_endpoints_are_off(world: World,
                                                           monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("BOT_POS_SECRET")
    status, answer = await till_lookup(world, "M1", "0012")
    assert status == 403 and "BOT_POS_SECRET" in answer["error"]
    assert world.count("pos_request") == 0


async def test_a_replay_after_a_restart_or_to_another_replica_is_refused(world: World):
    """The request ids answered are kept in the database (`pos_request`), on SQLite as on
    PostgreSQL: a bot started afresh on the same database (a restart, or another replica,
    its memory empty) refuses a captured lookup sent again inside the time window."""
    path = "/api/pos/member?member_code=M1&store_id=0012"
    captured = headers("GET", path, b"", request_id="lookup-0002")
    async with world.http.get(world.bot_url + path, headers=captured) as resp:
        assert resp.status == 200
    async with world.http.get(world.bot_url + path, headers=captured) as resp:
        assert resp.status == 409  # this life remembers it at once
    recorded = "SELECT at FROM pos_request WHERE request_id = 'lookup-0002'"
    for _ in range(100):  # SQLite: recorded within RECORD_EVERY_S of the answer
        if world.rows(recorded):
            break
        await asyncio.sleep(0.05)
    runner, url = await start_bot(world.settings, world.secrets)  # same database
    try:
        async with world.http.get(url + path, headers=captured) as resp:
            assert resp.status == 409
            assert "X-Pos-Request-Id" in (await resp.json())["error"]
        async with world.http.get(url + path, headers=headers("GET", path, b"")) as resp:
            assert resp.status == 200  # a fresh request is answered
    finally:
        await runner.cleanup()
    assert len(world.rows(recorded)) == 1
