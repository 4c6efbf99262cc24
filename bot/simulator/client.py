"""The staff member's WeCom client, as a web page inside it sees it (the chat sidebar).

Real WeCom puts three things between a sidebar page and the staff member:

* **OAuth2 login** (doc 91022/91023): the page sends the browser to
  ``/connect/oauth2/authorize?appid=CORPID&redirect_uri=...&response_type=code
  &scope=snsapi_base&state=...#wechat_redirect``; the client, which knows who is logged in,
  comes back to ``redirect_uri?code=CODE&state=STATE``; the server trades the code for the
  member with ``GET /cgi-bin/auth/getuserinfo?access_token=&code=`` →
  ``{"userid": ...}`` (``user_ticket`` only for ``snsapi_privateinfo``). A code is single
  use and lives 5 minutes: 40029 afterwards (41008 when missing).
* **JS-SDK tickets** (doc 90506): ``GET /cgi-bin/get_jsapi_ticket`` (the corp's, for
  ``wx.config``) and ``GET /cgi-bin/ticket/get?type=agent_config`` (the app's, for
  ``wx.agentConfig``), each ``{"ticket", "expires_in": 7200}``, the same ticket while it is
  valid; at most 400 corp-ticket fetches an hour per corp, and per app at most 100 of
  each kind (the corp ticket counts against both: "且单个应用不能超过100次"; 45009 past
  them). The page's server signs ``sha1("jsapi_ticket=T&noncestr=N&timestamp=TS&url=U")``
  over the page URL without its ``#`` part.
* **The JS bridge**: ``wx.invoke('getCurExternalContact')`` answers the customer whose chat
  the sidebar sits beside (``{userId}``), ``wx.invoke('getCurExternalChat')`` the customer
  group whose chat it sits beside (``{chatId}``; each fails in the other kind of chat);
  ``wx.invoke('sendChatMessage', {msgtype, text: {content}})`` puts a message into that
  chat, as the staff member (``news`` = ``{link, title, desc, imgUrl}``; an image needs a
  ``mediaid``, there is no picture-by-URL).

Here the "client" is a cookie on the simulator's host: ``/sim/client/login?userid=U
[&external_userid=E | &chat_id=C][&next=URL]`` logs a member in and opens a customer's
chat or a customer group's chat, like picking up the phone. ``/sim/jssdk.js`` is the
bridge for the page (it replaces the real
``jweixin``/``jwxwork`` scripts): its ``wx.config``/``wx.agentConfig`` post the signature
here, where it is checked against the tickets this simulator issued, and
``sendChatMessage`` posts the message here, where it is recorded as the customer saw it
(`ChatMessage`, `Simulator.chat_messages_for`); a message into a customer group is also
recorded as a message the group received (`Simulator.group_messages`, via ``member``).

Not simulated: the 可信域名 check of ``redirect_uri`` and of the signed URL's domain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from aiohttp import web

from . import codes
from .api import ApiRequest, Handler
from .codes import ApiError
from .records import GroupMessage, Inbox
from .state import World

OAUTH_CODE_TTL_S = 300.0
TICKET_TTL_S = 7200
CORP_TICKETS_PER_HOUR = 400  # the corp's ticket, per corp ...
APP_TICKETS_PER_HOUR = 100  # ... and per app ("且单个应用不能超过100次"), as the app's ticket
INVALID_CODE = 40029  # "不合法的oauth_code", doc 90455
MISSING_CODE = 41008  # "缺少oauth code", doc 90455
SCOPES = ("snsapi_base", "snsapi_privateinfo")
USER_COOKIE = "wwsim_user"
CHAT_COOKIE = "wwsim_chat"
GROUP_COOKIE = "wwsim_group"
CHAT_MSGTYPES = ("text", "image", "video", "file", "news", "miniprogram")
_CORS = {"Access-Control-Allow-Origin": "*", "Access-Control-Allow-Methods": "GET, POST",
         "Access-Control-Allow-Headers": "Content-Type"}


@dataclass
class _Code:
    userid: str
    scope: str
    issued_at: float  # monotonic
    used: bool = False


@dataclass
class _Ticket:
    value: str
    expires_at: float  # monotonic


@dataclass(frozen=True, slots=True)
class ChatMessage:
    """A message a staff member put into a customer chat from the sidebar (sendChatMessage)."""

    userid: str
    external_userid: str
    msgtype: str
    content: str  # text.content, or the card's title for news / miniprogram
    payload: dict[str, Any]
    at: float
    chat_id: str = ""  # a customer group's chat (then external_userid is "")


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """One wx.config / wx.agentConfig the bridge asked the simulator to verify."""

    kind: str  # corp | agent
    url: str
    ok: bool
    reason: str


class ClientSim:
    def __init__(self, world: World, corp_id: str, agent_id: int, *,
                 monotonic: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time, inbox: Inbox | None = None) -> None:
        self.world = world
        self.inbox = inbox  # where a group records what it received
        self.corp_id = corp_id
        self.agent_id = agent_id
        self._mono = monotonic
        self._wall = wall
        self._codes: dict[str, _Code] = {}
        self._tickets: dict[str, _Ticket] = {}  # kind -> current ticket
        self._issued: dict[str, list[_Ticket]] = {"corp": [], "agent": []}
        self._fetches: dict[str, deque[float]] = {}  # counter -> fetch times in the hour
        self.chat_messages: list[ChatMessage] = []
        self.signature_checks: list[SignatureCheck] = []

    # -- OAuth2 ------------------------------------------------------------------------

    def issue_code(self, userid: str, scope: str = "snsapi_base") -> str:
        """What the client does when a logged-in member opens an authorize URL."""
        if userid not in self.world.staff:
            raise ValueError(f"unknown staff member {userid!r}")
        code = secrets.token_urlsafe(32)
        self._codes[code] = _Code(userid, scope, self._mono())
        return code

    def getuserinfo(self, req: ApiRequest) -> dict[str, Any]:
        code = req.query.get("code", "")
        if not code:
            raise ApiError(MISSING_CODE, "code missing")
        found = self._codes.get(code)
        if found is None or found.used or self._mono() - found.issued_at > OAUTH_CODE_TTL_S:
            raise ApiError(INVALID_CODE, "invalid code")
        found.used = True
        result: dict[str, Any] = {"userid": found.userid}
        if found.scope == "snsapi_privateinfo":
            result["user_ticket"] = secrets.token_urlsafe(48)
        return result

    async def authorize(self, request: web.Request) -> web.StreamResponse:
        """``/connect/oauth2/authorize``: redirect back with a code for the logged-in member."""
        q = request.query
        problems = []
        if q.get("appid") != self.corp_id:
            problems.append("appid is not this corp's CorpID")
        if q.get("response_type") != "code":
            problems.append("response_type must be code")
        if q.get("scope") not in SCOPES:
            problems.append(f"scope must be one of {', '.join(SCOPES)}")
        if q.get("scope") == "snsapi_privateinfo" and not q.get("agentid"):
            problems.append("snsapi_privateinfo needs agentid")
        problems += redirect_problems(q)
        if problems:
            return web.Response(status=400, text="; ".join(problems))
        userid = request.cookies.get(USER_COOKIE, "")
        if userid not in self.world.staff:
            return web.Response(status=401, text="no member is logged in to the simulated "
                                "WeCom client: open /sim/client/login?userid=... first")
        code = self.issue_code(userid, q["scope"])
        params = {"code": code}
        if "state" in q:
            params["state"] = q["state"]
        raise web.HTTPFound(_with_query(q["redirect_uri"], params))

    # -- JS-SDK tickets ----------------------------------------------------------------

    def _ticket(self, kind: str, caps: tuple[tuple[str, int], ...]) -> dict[str, Any]:
        """Issue (or repeat) the `kind` ticket; `caps`: (counter, fetches an hour) pairs,
        each a sliding hour, every one of which must have room (45009 otherwise)."""
        now = self._mono()
        for counter, per_hour in caps:
            fetches = self._fetches.setdefault(counter, deque())
            while fetches and fetches[0] <= now - 3600:
                fetches.popleft()
            if len(fetches) >= per_hour:
                raise ApiError(codes.FREQUENCY_LIMITED, f"{counter} ticket: {per_hour} an hour")
        for counter, _ in caps:
            self._fetches[counter].append(now)
        ticket = self._tickets.get(kind)
        if ticket is None or ticket.expires_at <= now:
            ticket = _Ticket(secrets.token_urlsafe(64), now + TICKET_TTL_S)
            self._tickets[kind] = ticket
            self._issued[kind].append(ticket)
        return {"ticket": ticket.value, "expires_in": max(1, int(ticket.expires_at - now))}

    def get_jsapi_ticket(self, req: ApiRequest) -> dict[str, Any]:
        return self._ticket("corp", (("corp", CORP_TICKETS_PER_HOUR),
                                     (f"corp@{self.agent_id}", APP_TICKETS_PER_HOUR)))

    def ticket_get(self, req: ApiRequest) -> dict[str, Any]:
        if req.query.get("type") != "agent_config":
            raise ApiError(codes.INVALID_PARAM, "type must be agent_config")
        return self._ticket("agent", ((f"agent@{self.agent_id}", APP_TICKETS_PER_HOUR),))

    def api_routes(self) -> dict[str, tuple[str, Handler]]:
        return {"auth/getuserinfo": ("GET", self.getuserinfo),
                "get_jsapi_ticket": ("GET", self.get_jsapi_ticket),
                "ticket/get": ("GET", self.ticket_get)}

    def check_signature(self, kind: str, body: dict[str, Any]) -> SignatureCheck:
        """Verify a wx.config (kind corp) or wx.agentConfig (kind agent) as WeCom would."""
        url = str(body.get("url", ""))
        reason = ""
        if kind not in self._issued:
            reason = "unknown config kind"
        elif str(body.get("corpid", "")) != self.corp_id:
            reason = "corpid/appId is not this corp's"
        elif kind == "agent" and str(body.get("agentid", "")) != str(self.agent_id):
            reason = "agentid is not this app's"
        elif "#" in url:
            reason = "the signed url must not contain '#'"
        else:
            now = self._mono()
            given = str(body.get("signature", ""))
            plain = (f"noncestr={body.get('nonceStr', '')}&timestamp={body.get('timestamp', '')}"
                     f"&url={url}")
            if not any(hmac.compare_digest(given, jsapi_signature(t.value, plain))
                       for t in self._issued[kind] if t.expires_at > now):
                reason = "invalid signature"
        check = SignatureCheck(kind, url, not reason, reason)
        self.signature_checks.append(check)
        return check

    # -- the bridge --------------------------------------------------------------------

    async def login(self, request: web.Request) -> web.StreamResponse:
        """``/sim/client/login?userid=U[&external_userid=E][&next=URL]``: sign the simulated
        client in as U, with E's chat open; then go to `next` (or say who is logged in)."""
        userid = request.query.get("userid", "")
        if userid not in self.world.staff:
            return web.Response(status=400, text=f"unknown staff member {userid!r}")
        chat = request.query.get("external_userid", "")
        group = request.query.get("chat_id", "")
        if chat and group:
            return web.Response(status=400, text="open one chat: external_userid or chat_id")
        nxt = request.query.get("next", "")
        response: web.StreamResponse
        if nxt:
            response = web.HTTPFound(nxt)
        else:
            response = web.json_response({"userid": userid, "external_userid": chat,
                                          "chat_id": group})
        response.set_cookie(USER_COOKIE, userid, httponly=True, samesite="Lax", path="/")
        response.set_cookie(CHAT_COOKIE, chat, httponly=True, samesite="Lax", path="/")
        response.set_cookie(GROUP_COOKIE, group, httponly=True, samesite="Lax", path="/")
        if isinstance(response, web.HTTPFound):
            raise response
        return response

    async def jssdk_js(self, request: web.Request) -> web.Response:
        state = {"origin": f"{request.scheme}://{request.host}",
                 "userid": request.cookies.get(USER_COOKIE, ""),
                 "chat": request.cookies.get(CHAT_COOKIE, ""),
                 "group": request.cookies.get(GROUP_COOKIE, "")}
        script = _BRIDGE_JS.replace("__STATE__", json.dumps(state))
        return web.Response(text=script, content_type="application/javascript",
                            headers={"Cache-Control": "no-store"})

    async def verify(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        check = self.check_signature(str(body.get("kind", "")), body)
        return web.json_response({"ok": check.ok, "reason": check.reason}, headers=_CORS)

    async def send_chat_message(self, request: web.Request) -> web.Response:
        body = await _json_body(request)
        if body.get("chat_id"):
            return self._send_group_message(body)
        userid = str(body.get("userid", ""))
        ext = str(body.get("external_userid", ""))
        msgtype = str(body.get("msgtype", ""))
        follow = self.world.follows.get((userid, ext))
        payload = body.get(msgtype)
        if follow is None or follow.half:
            err = "sendChatMessage:fail no chat with this customer"
        elif (bad := _payload_error(msgtype, payload)) is not None:
            err = bad
        else:
            self._keep(userid, ext, msgtype, payload)
            err = "sendChatMessage:ok"
        return web.json_response({"err_msg": err}, headers=_CORS)

    def _send_group_message(self, body: dict[str, Any]) -> web.Response:
        """sendChatMessage with a customer group's chat open: the group receives it from the
        staff member (who must be in the group to have its chat open)."""
        userid = str(body.get("userid", ""))
        chat_id = str(body.get("chat_id", ""))
        msgtype = str(body.get("msgtype", ""))
        payload = body.get(msgtype)
        chat = self.world.chats.get(chat_id)
        member = chat.members.get(userid) if chat is not None else None
        if chat is None or member is None or member.type != 1:
            err = "sendChatMessage:fail no chat with this group"
        elif (bad := _payload_error(msgtype, payload)) is not None:
            err = bad
        else:
            kept = self._keep(userid, "", msgtype, payload, chat_id)
            if self.inbox is not None:
                self.inbox.add(GroupMessage(chat_id, kept.at, "member", "sendChatMessage", userid,
                                            msgtype, kept.content if msgtype == "text" else "",
                                            () if msgtype == "text" else
                                            ({"msgtype": msgtype, msgtype: dict(kept.payload)},)))
            err = "sendChatMessage:ok"
        return web.json_response({"err_msg": err}, headers=_CORS)

    def _keep(self, userid: str, ext: str, msgtype: str, payload: Any,
              chat_id: str = "") -> ChatMessage:
        """Record a sendChatMessage whose payload passed `_payload_error`, now."""
        assert isinstance(payload, dict)
        content = str(payload.get("content") or payload.get("title") or "")
        kept = ChatMessage(userid, ext, msgtype, content, dict(payload), self._wall(), chat_id)
        self.chat_messages.append(kept)
        return kept

    async def messages(self, request: web.Request) -> web.Response:
        ext = request.query.get("external_userid")
        found = [asdict(m) for m in self.chat_messages if ext is None or m.external_userid == ext]
        return web.json_response(found, dumps=lambda d: json.dumps(d, ensure_ascii=False))

    async def preflight(self, _request: web.Request) -> web.Response:
        return web.Response(status=204, headers=_CORS)

    def register(self, app: web.Application) -> None:
        app.router.add_get("/connect/oauth2/authorize", self.authorize)
        app.router.add_get("/sim/client/login", self.login)
        app.router.add_get("/sim/jssdk.js", self.jssdk_js)
        app.router.add_post("/sim/client/verify", self.verify)
        app.router.add_post("/sim/client/chat_messages", self.send_chat_message)
        app.router.add_get("/sim/client/chat_messages", self.messages)
        for path in ("/sim/client/verify", "/sim/client/chat_messages"):
            app.router.add_route("OPTIONS", path, self.preflight)


def redirect_problems(q: Any) -> list[str]:
    """What WeCom's login pages (OAuth2 in the client, web login on a desktop) refuse in
    the redirect: a relative redirect_uri, a state over 128 bytes."""
    problems = []
    if not q.get("redirect_uri", "").startswith(("http://", "https://")):
        problems.append("redirect_uri must be an absolute http(s) URL")
    if len(q.get("state", "")) > 128:
        problems.append("state is longer than 128 bytes")
    return problems


def jsapi_signature(ticket: str, rest: str) -> str:
    """sha1 of ``jsapi_ticket=T&noncestr=N&timestamp=TS&url=U`` (keys in ASCII order)."""
    return hashlib.sha1(f"jsapi_ticket={ticket}&{rest}".encode(), usedforsecurity=False
                        ).hexdigest()


def _with_query(url: str, params: dict[str, str]) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.text())
    except ValueError:
        raise web.HTTPBadRequest(text="body is not JSON", headers=_CORS) from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="body must be a JSON object", headers=_CORS)
    return body


# The bridge: the subset of wx.* a sidebar uses, talking to this simulator. Bodies go as
# text/plain (a "simple" CORS request: no preflight from the bot's origin).
_BRIDGE_JS = r"""
(function () {
  "use strict";
  var SIM = __STATE__;
  var state = { config: null, agent: false, readyFns: [], errorFns: [] };
  function post(path, body) {
    return fetch(SIM.origin + path, { method: "POST", headers: { "Content-Type": "text/plain" },
      body: JSON.stringify(body) }).then(function (r) { return r.json(); });
  }
  function url() { return location.href.split("#")[0]; }
  window.wx = {
    simulated: true,
    config: function (c) {
      post("/sim/client/verify", { kind: "corp", corpid: c.appId, timestamp: c.timestamp,
        nonceStr: c.nonceStr, signature: c.signature, url: url() }).then(function (r) {
        state.config = r.ok;
        var fns = r.ok ? state.readyFns : state.errorFns;
        fns.forEach(function (f) { f(r.ok ? undefined : { errMsg: "config:fail " + r.reason }); });
      });
    },
    ready: function (f) { if (state.config === true) { f(); } else { state.readyFns.push(f); } },
    error: function (f) { state.errorFns.push(f); },
    agentConfig: function (c) {
      post("/sim/client/verify", { kind: "agent", corpid: c.corpid, agentid: c.agentid,
        timestamp: c.timestamp, nonceStr: c.nonceStr, signature: c.signature, url: url() })
        .then(function (r) {
          state.agent = r.ok;
          if (r.ok) { c.success && c.success({ errMsg: "agentConfig:ok" }); }
          else { c.fail && c.fail({ errMsg: "agentConfig:fail " + r.reason }); }
        });
    },
    invoke: function (name, args, cb) {
      cb = cb || function () {};
      if (!state.agent) {
        cb({ err_msg: name + ":fail no permission (agentConfig first)" });
        return;
      }
      if (name === "getCurExternalContact") {
        if (SIM.chat) { cb({ err_msg: name + ":ok", userId: SIM.chat }); }
        else { cb({ err_msg: name + ":fail not opened from a customer chat" }); }
        return;
      }
      if (name === "getCurExternalChat") {
        if (SIM.group) { cb({ err_msg: name + ":ok", chatId: SIM.group }); }
        else { cb({ err_msg: name + ":fail not opened from a customer group chat" }); }
        return;
      }
      if (name === "sendChatMessage") {
        var body = { userid: SIM.userid, external_userid: SIM.chat, msgtype: args.msgtype };
        if (SIM.group) { body = { userid: SIM.userid, chat_id: SIM.group, msgtype: args.msgtype }; }
        body[args.msgtype] = args[args.msgtype];
        post("/sim/client/chat_messages", body).then(cb, function () {
          cb({ err_msg: name + ":fail network" });
        });
        return;
      }
      cb({ err_msg: name + ":fail not simulated" });
    }
  };
})();
"""


def _payload_error(msgtype: str, payload: Any) -> str | None:
    """What the client answers for a sendChatMessage it cannot send, in any chat."""
    if msgtype not in CHAT_MSGTYPES or not isinstance(payload, dict):
        return "sendChatMessage:fail invalid msgtype"
    if msgtype == "text" and not str(payload.get("content", "")).strip():
        return "sendChatMessage:fail empty content"
    return None
