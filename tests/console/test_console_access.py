"""The console over HTTP: who sees what, and every refusal (401/403/400) changing nothing.

Signed in through WeCom's desktop web login against the simulator; the data is a real store
day (tests/console/support.py) rolled up by the console's own job.
"""

from __future__ import annotations

import csv
import io
from typing import Any

import aiohttp
import pytest

from tests.conftest import World
from tests.console.support import (
    MANAGER_0012,
    OPERATOR,
    STRANGER,
    console_overrides,
    failed_send,
    roll_up,
    signed_in,
    store_day,
)
from tests.outbox.test_sop_delivery import until


@pytest.fixture
def bot_overrides() -> dict[str, dict[str, Any]]:
    return console_overrides()


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[int, str]:
    async with http.get(url, allow_redirects=False) as resp:
        return resp.status, await resp.text()


def _csv(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))


async def test_operator_sees_the_chain_a_manager_their_store_a_stranger_nothing(world: World):
    chats = await store_day(world)
    await roll_up(world)
    base = world.bot_url
    async with await signed_in(world, OPERATOR) as op:
        status, html = await _get(op, f"{base}/console/today")
        assert status == 200 and "天钥桥路店" in html and "长寿路店" in html
        status, text = await _get(op, f"{base}/console/today?format=csv&table=stores")
        rows = _csv(text)
        assert rows[0][:3] == ["门店号", "门店", "已送达"]
        assert {r[0] for r in rows[1:]} == {"0012", "0015"}
    async with await signed_in(world, MANAGER_0012) as manager:
        status, html = await _get(manager, f"{base}/console/today")
        assert status == 200 and "天钥桥路店" in html and "长寿路店" not in html, html
        status, text = await _get(manager, f"{base}/console/today?format=csv&table=stores")
        assert {r[0] for r in _csv(text)[1:]} == {"0012"}
        # another store's page, CSV and group: 403, in the same words as a store or group
        # that does not exist
        other = await _get(manager, f"{base}/console/today?store=0015")
        missing = await _get(manager, f"{base}/console/today?store=9999")
        assert other[0] == missing[0] == 403 and other[1] == missing[1]
        assert (await _get(manager, f"{base}/console/today?store=0015&format=csv"
                                    "&table=stores"))[0] == 403
        other = await _get(manager, f"{base}/console/group?chat={chats['0015']}")
        missing = await _get(manager, f"{base}/console/group?chat=wrNoSuchGroup")
        assert other[0] == missing[0] == 403 and other[1] == missing[1]
        assert (await _get(manager, f"{base}/console/channels?store=0015"))[0] == 403
        assert (await _get(manager, f"{base}/console/groups?store=0015&format=csv"
                                    "&table=act"))[0] == 403
        status, html = await _get(manager, f"{base}/console/group?chat={chats['0012-a']}")
        assert status == 200 and "福利群" in html
    async with await signed_in(world, STRANGER) as stranger:
        status, html = await _get(stranger, f"{base}/console/today")
        assert status == 403 and "天钥桥路店" not in html


async def test_no_forged_or_missing_session_and_no_csrf_less_change(world: World):
    await store_day(world)
    send_id, _ = failed_send(world)
    base = world.bot_url
    async with aiohttp.ClientSession() as anonymous:
        status, _ = await _get(anonymous, f"{base}/console/today")
        assert status == 302  # a page goes to WeCom's login
        status, _ = await _get(anonymous, f"{base}/console/today?format=csv&table=stores")
        assert status == 401
    forged = aiohttp.ClientSession(cookies={"ws_console": "eyJ1IjoiaGFubWVpbWVpIn0.forged"})
    async with forged:
        assert (await _get(forged, f"{base}/console/today?format=csv&table=stores"))[0] == 401
        async with forged.post(f"{base}/console/sends/{send_id}/retry",
                               data={"csrf": "x"}) as resp:
            assert resp.status == 401
    async with await signed_in(world, OPERATOR) as op:
        async with op.post(f"{base}/console/sends/{send_id}/retry", data={},
                           allow_redirects=False) as resp:
            assert resp.status == 403
        async with op.post(f"{base}/console/sends/{send_id}/retry", data={"csrf": "wrong"},
                           allow_redirects=False) as resp:
            assert resp.status == 403
    async with await signed_in(world, MANAGER_0012) as manager:
        _, html = await _get(manager, f"{base}/console/today")
        token = html.split('name="csrf" value="')[1].split('"')[0] if 'name="csrf"' in html \
            else ""
        async with manager.post(f"{base}/console/sends/{send_id}/retry",
                                data={"csrf": token}, allow_redirects=False) as resp:
            assert resp.status == 403  # managers look; operators act
    assert world.rows("SELECT status FROM outbox_send WHERE id = ?", send_id) == [("failed",)]


@pytest.mark.parametrize("query", [
    "/console/channels?start=2026-13-01", "/console/channels?start=2020-01-01&end=2026-01-01",
    "/console/groups?end=2026-01-01&start=2026-02-01", "/console/today?store=12",
    "/console/today?store=0012%27%20OR%201=1", "/console/group?chat=../../etc/passwd",
    "/console/group?chat=" + "x" * 65, "/console/today?format=csv&table=nope",
    "/console/groups?health=bogus", "/console/channels?end=9999-01-01"])
async def test_absurd_parameters_are_400(world: World, query: str):
    world.sim.add_staff(OPERATOR, "韩梅梅")
    async with await signed_in(world, OPERATOR) as op:
        status, text = await _get(op, world.bot_url + query)
        assert status == 400, text
        assert "Traceback" not in text


async def test_operator_retries_a_failed_send_once_it_is_sent(world: World):
    chats = await store_day(world)
    send_id, store = failed_send(world)
    chat = chats["0015"] if store == "0015" else chats["0012-a"]
    base = world.bot_url
    async with await signed_in(world, OPERATOR) as op:
        _, html = await _get(op, f"{base}/console/group?chat={chat}")
        assert "60011" in html and "重试" in html  # WeCom's error, and the action
        token = html.split('name="csrf" value="')[1].split('"')[0]
        async with op.post(f"{base}/console/sends/{send_id}/retry",
                           data={"csrf": token, "back": f"/console/group?chat={chat}"},
                           allow_redirects=False) as resp:
            assert resp.status == 303
            assert resp.headers["Location"] == f"/console/group?chat={chat}"
        # a second retry finds it no longer failed: refused, nothing moves twice
        async with op.post(f"{base}/console/sends/{send_id}/retry", data={"csrf": token},
                           allow_redirects=False) as resp:
            assert resp.status == 409
    await until(lambda: world.rows("SELECT status FROM outbox_send WHERE id = ?", send_id)[0][0]
                in ("created", "done"))
    world.sim.confirm_pending_groupsends()
    await until(lambda: world.rows("SELECT status FROM outbox_delivery WHERE chat_id = ?",
                                   chat) == [("sent",)])
    assert len(world.sim.group_messages(chat)) == 1


class TestExpiredSession:
    """A session past its TTL is refused like a forged one (the cookie alone proves nothing)."""

    @pytest.fixture
    def bot_overrides(self) -> dict[str, dict[str, Any]]:
        return {**console_overrides(), "sidebar": {"session_ttl_s": 3}}

    async def test_an_expired_session_is_401_and_a_page_asks_to_sign_in_again(self,
                                                                              world: World):
        import asyncio

        world.sim.add_staff(OPERATOR, "韩梅梅")
        url = f"{world.bot_url}/console/today?format=csv&table=stores"
        async with await signed_in(world, OPERATOR) as op:
            assert (await _get(op, url))[0] == 200
            [cookie] = [c.value for c in op.cookie_jar if c.key == "ws_console"]
        await asyncio.sleep(4.1)
        # a browser drops it at max-age; a script that keeps sending it is refused anyway
        async with aiohttp.ClientSession(cookies={"ws_console": cookie}) as replay:
            assert (await _get(replay, url))[0] == 401
            assert (await _get(replay, f"{world.bot_url}/console/today"))[0] == 302


async def test_desktop_goes_to_web_login_and_the_client_to_oauth2(world: World):
    async with aiohttp.ClientSession() as browser:
        async with browser.get(f"{world.bot_url}/console/today", allow_redirects=False,
                               headers={"User-Agent": "Mozilla/5.0 Chrome/120"}) as resp:
            assert resp.status == 302
            assert "/wwlogin/sso/login?login_type=CorpApp&appid=" in resp.headers["Location"]
        async with browser.get(f"{world.bot_url}/console/today", allow_redirects=False,
                               headers={"User-Agent": "Mozilla/5.0 wxwork/4.1.22"}) as resp:
            assert resp.status == 302
            assert "/connect/oauth2/authorize?appid=" in resp.headers["Location"]


async def test_operator_cancels_a_queued_send_and_it_is_never_sent(world: World):
    from tests.outbox.test_owner_post import this_minute
    from tests.outbox.test_sop_delivery import make_groups, scheduler_for

    runtime = world.runtime
    assert runtime.outbox is not None
    world.sim.add_staff(OPERATOR, "韩梅梅")
    chats = await make_groups(world)
    await runtime.outbox.stop(grace_s=0)  # nothing is sent while the operator looks
    await scheduler_for(world).plan("morning-new-arrivals", this_minute(),
                                    now=this_minute().timestamp())
    [(send_id,)] = world.rows("SELECT id FROM outbox_send WHERE store_id = '0015'")
    async with await signed_in(world, OPERATOR) as op:
        _, html = await _get(op, f"{world.bot_url}/console/group?chat={chats['0015']}")
        assert "取消" in html
        token = html.split('name="csrf" value="')[1].split('"')[0]
        async with op.post(f"{world.bot_url}/console/sends/{send_id}/cancel",
                           data={"csrf": token}, allow_redirects=False) as resp:
            assert resp.status == 303
        async with op.post(f"{world.bot_url}/console/sends/{send_id}/cancel",
                           data={"csrf": token}, allow_redirects=False) as resp:
            assert resp.status == 409  # already cancelled: nothing moves twice
    [(status, error)] = world.rows("SELECT status, error FROM outbox_send WHERE id = ?", send_id)
    assert status == "failed" and "已由运营在控制台取消" in error and OPERATOR in error
    assert world.rows("SELECT status FROM outbox_delivery WHERE send_id = ?",
                      send_id) == [("failed",)]
    runtime.outbox.start()
    # 0012's send made (a lease on PostgreSQL marks it sending before the call is made)
    await until(lambda: world.rows("SELECT count(*) FROM outbox_send "
                                   "WHERE status IN ('queued', 'sending')")[0][0] == 0)
    assert world.sim.group_messages(chats["0015"]) == []
    assert world.sim.call_count("externalcontact/add_msg_template") == 1  # 0012's only
