"""Who may see what: the OAuth2 login, the session cookie, CSRF, and the follow relation."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import aiohttp

from tests.conftest import World
from tests.replies_support import MANAGER_0012, MANAGER_0015, Browser, customer


async def test_nothing_without_a_session(world: World):
    ext = await customer(world, "王丽")
    async with aiohttp.ClientSession() as http:
        for path in (f"/api/replies?customer={ext}", f"/sidebar/panel?customer={ext}",
                     "/api/jssdk-config?url=x"):
            async with http.get(world.bot_url + path) as resp:
                assert resp.status == 401, path
                assert ext not in await resp.text()
        async with http.post(world.bot_url + "/api/replies/sent",
                             json={"reply_id": "not-sweet", "customer": ext}) as resp:
            assert resp.status == 401
        forged = {"ws_session": "eyJ1IjoibGlueGlhb3l1In0.AAAA"}
        async with http.get(world.bot_url + "/api/replies", params={"customer": ext},
                            cookies=forged) as resp:
            assert resp.status == 401
    assert world.count("reply_send") == 0


async def test_the_page_sends_an_unknown_visitor_to_wecom_login(world: World):
    async with aiohttp.ClientSession() as http, http.get(
            world.bot_url + "/sidebar", allow_redirects=False) as resp:
        assert resp.status == 302
        location = resp.headers["Location"]
    parts = urlsplit(location)
    assert location.startswith(f"{world.sim.url}/connect/oauth2/authorize?")
    assert parts.fragment == "wechat_redirect"
    query = parse_qs(parts.query)
    assert query["appid"] == [world.secrets.corp_id]
    assert query["scope"] == ["snsapi_base"] and query["response_type"] == ["code"]
    assert query["redirect_uri"] == [f"{world.bot_url}/sidebar/oauth"]
    assert query["state"][0].isalnum()


async def test_oauth_login_uses_the_code_once(world: World):
    async with Browser(world, MANAGER_0012) as browser:
        await browser.login()
        assert world.sim.call_count("auth/getuserinfo") == 1
        # a code replayed by someone else (no state cookie) or twice is refused
        code = world.sim.oauth_code(MANAGER_0012)
        async with aiohttp.ClientSession() as other, other.get(
                world.bot_url + "/sidebar/oauth", params={"code": code, "state": "x"},
                allow_redirects=False) as resp:
            assert resp.status == 400
    api = await world.api("auth/getuserinfo", params={"code": code})
    assert api["userid"] == MANAGER_0012 and "user_ticket" not in api
    async with aiohttp.ClientSession() as http:
        base = world.sim.base_url
        async with http.get(base + "gettoken", params={
                "corpid": world.secrets.corp_id, "corpsecret": world.secrets.secret}) as r:
            access = (await r.json())["access_token"]
        async with http.get(base + "auth/getuserinfo",
                            params={"access_token": access, "code": code}) as r:
            assert (await r.json())["errcode"] == 40029  # single use
        async with http.get(base + "auth/getuserinfo", params={"access_token": access}) as r:
            assert (await r.json())["errcode"] == 41008


async def test_staff_cannot_see_another_staff_members_customer(world: World):
    mine = await customer(world, "王丽", staff=MANAGER_0012)
    theirs = await customer(world, "赵敏", staff=MANAGER_0015, state="store-0015-counter")
    async with Browser(world, MANAGER_0012) as browser:
        await browser.login()
        status, data = await browser.replies(mine)
        assert status == 200 and data["customer"]["name"] == "王丽"
        for ext in (theirs, "wm-does-not-exist"):
            status, data = await browser.replies(ext)
            assert status == 403 and "赵敏" not in str(data)
            status, html = await browser.get("/sidebar/panel", customer=ext)
            assert status == 403 and "赵敏" not in html
            status, html = await browser.get("/sidebar", customer=ext)
            assert status == 403 and "赵敏" not in html
            status, _ = await browser.sent(ext, "not-sweet")
            assert status == 403
    assert world.count("reply_send") == 0


async def test_a_customer_who_deleted_the_staff_member_is_no_longer_theirs(world: World):
    ext = await customer(world, "王丽")
    async with Browser(world, MANAGER_0012) as browser:
        await browser.login()
        assert (await browser.replies(ext))[0] == 200
        world.sim.customer_deletes_staff(MANAGER_0012, ext)
        await world.settle()
        assert (await browser.replies(ext))[0] == 403


async def test_send_record_needs_the_sessions_csrf_token(world: World):
    ext = await customer(world, "王丽")
    async with Browser(world, MANAGER_0012) as browser:
        await browser.login()
        assert (await browser.sent(ext, "not-sweet", csrf=""))[0] == 403
        assert (await browser.sent(ext, "not-sweet", csrf=browser.csrf[:-2] + "xx"))[0] == 403
        async with Browser(world, MANAGER_0015) as other:
            await other.login()
            # another session's token does not fit this session
            assert (await browser.sent(ext, "not-sweet", csrf=other.csrf))[0] == 403
        assert world.count("reply_send") == 0
        assert await browser.sent(ext, "not-sweet") == (200, {"ok": True})
        assert (await browser.sent(ext, "no-such-reply"))[0] == 404
        assert (await browser.sent(ext, "not-sweet", via="carrier-pigeon"))[0] == 400
    assert world.rows("SELECT reply_id, userid, external_userid, via FROM reply_send") == [
        ("not-sweet", MANAGER_0012, ext, "sidebar")]


async def test_jssdk_config_signatures_verify_against_wecoms_tickets(world: World):
    async with Browser(world, MANAGER_0012) as browser:
        await browser.login()
        page = f"{world.bot_url}/sidebar?customer=x"
        status, config = await browser.get("/api/jssdk-config", url=page + "#frag")
        assert status == 200
        client = world.sim.client
        body = {"corpid": config["corpid"], "agentid": config["agentid"],
                "timestamp": config["timestamp"], "nonceStr": config["nonceStr"], "url": page}
        assert client.check_signature("corp", {**body, "signature": config["signature"]}).ok
        assert client.check_signature("agent", {**body,
                                                "signature": config["agentSignature"]}).ok
        assert not client.check_signature("agent", {**body, "signature": config["signature"]}).ok
        assert not client.check_signature("corp", {**body, "url": page + "&x=1",
                                                   "signature": config["signature"]}).ok
        await browser.get("/api/jssdk-config", url=page)
        # cached: one fetch of each ticket for any number of pages
        assert world.sim.call_count("get_jsapi_ticket") == 1
        assert world.sim.call_count("ticket/get") == 1
        status, _ = await browser.get("/api/jssdk-config", url="https://evil.example/sidebar")
        assert status == 400


def test_simulator_mode_only_for_a_loopback_api():
    from bot.config import REAL_WECOM_API, Settings
    from bot.sidebar import wecom_web
    from bot.sidebar.routes import Sidebar
    from tests.conftest import make_secrets

    assert not wecom_web.is_simulated(REAL_WECOM_API)
    assert not wecom_web.is_simulated("http://10.1.2.3:9100/cgi-bin/")
    assert wecom_web.is_simulated("http://127.0.0.1:9100/cgi-bin/")
    url = wecom_web.authorize_url(REAL_WECOM_API, "ww1", 1000002, "https://bot.example/sidebar/oauth",
                                  "abc123")
    assert url == ("https://open.weixin.qq.com/connect/oauth2/authorize?appid=ww1&redirect_uri="
                   "https%3A%2F%2Fbot.example%2Fsidebar%2Foauth&response_type=code"
                   "&scope=snsapi_base&state=abc123&agentid=1000002#wechat_redirect")
    assert wecom_web.jssdk_scripts(REAL_WECOM_API) == wecom_web.REAL_JSSDK_SCRIPTS
    assert not Sidebar(Settings(), make_secrets()).simulated  # ?customer= is ignored


def test_sessions_expire_and_cannot_be_altered():
    from bot.sidebar.session import SessionSigner

    now = [1000.0]
    signer = SessionSigner("k" * 32, ttl_s=60, clock=lambda: now[0])
    cookie, session = signer.issue("linxiaoyu")
    assert signer.verify(cookie) == session
    _, mac = cookie.split(".")
    other, _ = SessionSigner("k" * 32, ttl_s=60, clock=lambda: now[0]).issue("zhoujianguo")
    assert signer.verify(other.split(".")[0] + "." + mac) is None  # someone else's payload
    assert SessionSigner("another-key", ttl_s=60).verify(cookie) is None
    assert signer.check_csrf(session, signer.csrf_token(session))
    now[0] += 61
    assert signer.verify(cookie) is None
