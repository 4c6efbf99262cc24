"""WeCom's desktop web login (企业微信Web登录) as the simulator serves it.

``GET /wwlogin/sso/login?login_type=CorpApp&appid=CORPID&agentid=AGENTID&redirect_uri=URI
&state=STATE``: on the real page the member scans the QR code with their WeCom client (or
confirms in the desktop client); WeCom then sends the browser to ``URI?code=CODE&state=
STATE``. The code is traded by ``auth/getuserinfo`` like an OAuth2 code (single use, 5 min).
Here the member is whoever is logged in to the simulated client (``/sim/client/login``),
as with OAuth2. ``login_type`` is ``CorpApp`` for a corp's own app (``ServiceApp`` is a
third-party app's login, which this simulator does not serve).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aiohttp import web

from .client import USER_COOKIE, ClientSim, redirect_problems


def _back_to(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def register_web_login(app: web.Application, client: ClientSim) -> None:
    async def sso_login(request: web.Request) -> web.StreamResponse:
        q = request.query
        problems = []
        if q.get("login_type") != "CorpApp":
            problems.append("login_type must be CorpApp for a corp's own app")
        if q.get("appid") != client.corp_id:
            problems.append("appid is not this corp's CorpID")
        if q.get("agentid") and q.get("agentid") != str(client.agent_id):
            problems.append("agentid is not this corp's app")
        problems += redirect_problems(q)
        if problems:
            return web.Response(status=400, text="; ".join(problems))
        userid = request.cookies.get(USER_COOKIE, "")
        if userid not in client.world.staff:
            return web.Response(status=401, text="nobody has confirmed the login: open "
                                "/sim/client/login?userid=... first (the member's client)")
        params = {"code": client.issue_code(userid)}
        if "state" in q:
            params["state"] = q["state"]
        raise web.HTTPFound(_back_to(q["redirect_uri"], params))

    app.router.add_get("/wwlogin/sso/login", sso_login)
