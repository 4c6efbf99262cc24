"""WeCom's web side for the sidebar: the OAuth2 authorize URL and JS-SDK config signatures.

`[wecom] api_base_url` retargets these too (design note 7): with the real API the browser
goes to ``open.weixin.qq.com`` and loads Tencent's JS-SDK; with the simulator (a loopback
API address) it goes to the simulator's ``/connect/oauth2/authorize`` and loads its bridge,
``/sim/jssdk.js``. The same loopback test is what "simulator mode" means for the sidebar
(`?customer=` accepted): with a simulated API, identities are simulated anyway.

Signatures (JS-SDK doc 90506): ``sha1("jsapi_ticket=T&noncestr=N&timestamp=TS&url=U")``
with the page URL up to, not including, ``#``. ``wx.config`` is signed with the corp's
ticket (`get_jsapi_ticket`), ``wx.agentConfig`` with the app's (`ticket/get?type=
agent_config`). Tickets live 7200 s and WeCom allows few fetches an hour, so each is cached
until shortly before it expires, one fetch at a time.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from bot.config import REAL_WECOM_API
from bot.wecom.client import WeComClient
from bot.wecom.errors import FREQUENCY_LIMITED, WeComError

REAL_AUTHORIZE_URL = "https://open.weixin.qq.com/connect/oauth2/authorize"
REAL_JSSDK_SCRIPTS = ("https://res.wx.qq.com/open/js/jweixin-1.2.0.js",
                      "https://open.work.weixin.qq.com/wwopen/js/jwxwork-1.0.0.js")
TICKET_MARGIN_S = 300  # fetch a new ticket this long before the old one expires
FETCH_BUDGET_S = 3.0  # a page waits at most this for a ticket fetch (45009 lasts the hour)
RETRY_AFTER_S = 60.0  # after a failed fetch, serve the ticket in hand; ask again after this
_API = {"corp": "get_jsapi_ticket", "agent": "ticket/get"}
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Cached:
    value: str
    refresh_at: float  # clock time to fetch a new one (TICKET_MARGIN_S before expiry)
    expires_at: float  # clock time WeCom stops accepting it


def is_simulated(api_base_url: str) -> bool:
    """A loopback API address is the local simulator; the real API never is."""
    if api_base_url.rstrip("/") == REAL_WECOM_API.rstrip("/"):
        return False
    host = urlsplit(api_base_url).hostname or ""
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def authorize_base(api_base_url: str) -> str:
    if is_simulated(api_base_url):
        return _origin(api_base_url) + "/connect/oauth2/authorize"
    return REAL_AUTHORIZE_URL


def jssdk_scripts(api_base_url: str) -> tuple[str, ...]:
    if is_simulated(api_base_url):
        return (_origin(api_base_url) + "/sim/jssdk.js",)
    return REAL_JSSDK_SCRIPTS


def authorize_url(api_base_url: str, corp_id: str, agent_id: int | None, redirect_uri: str,
                  state: str) -> str:
    """The silent (snsapi_base) login: WeCom comes back to `redirect_uri` with a code."""
    query = (f"appid={quote(corp_id, safe='')}&redirect_uri={quote(redirect_uri, safe='')}"
             f"&response_type=code&scope=snsapi_base&state={state}")
    if agent_id is not None:
        query += f"&agentid={agent_id}"
    return f"{authorize_base(api_base_url)}?{query}#wechat_redirect"


def signature(ticket: str, noncestr: str, timestamp: int, url: str) -> str:
    plain = f"jsapi_ticket={ticket}&noncestr={noncestr}&timestamp={timestamp}&url={url}"
    return hashlib.sha1(plain.encode(), usedforsecurity=False).hexdigest()


@dataclass(frozen=True, slots=True)
class JsConfig:
    """What the page passes to wx.config and wx.agentConfig."""

    corp_id: str
    agent_id: int | None
    timestamp: int
    nonce: str
    corp_signature: str
    agent_signature: str

    def as_json(self) -> dict[str, Any]:
        return {"corpid": self.corp_id, "agentid": self.agent_id, "timestamp": self.timestamp,
                "nonceStr": self.nonce, "signature": self.corp_signature,
                "agentSignature": self.agent_signature}


class Tickets:
    """The two JS-SDK tickets, cached; `config` signs a page URL with both.

    WeCom caps fetches per hour, per corp (400 for the corp ticket) and per app (100 for
    either ticket); past the cap it answers 45009 for the rest of the hour. A page must not
    wait that out, so a fetch gets `FETCH_BUDGET_S`, and when it fails the ticket in hand is
    served until it really expires (refreshing starts `TICKET_MARGIN_S` early, so there is
    time), with no new fetch for `RETRY_AFTER_S`: a burst of page loads costs one call, not
    one each, and does not dig the hole deeper.
    """

    def __init__(self, wecom: WeComClient, corp_id: str, agent_id: int | None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._wecom = wecom
        self._corp_id = corp_id
        self._agent_id = agent_id
        self._clock = clock
        self._cache: dict[str, _Cached] = {}
        self._retry_at: dict[str, float] = {}  # kind -> no fetch before (after a failure)
        self._lock = asyncio.Lock()
        self.fetches = 0
        self.failures = 0

    async def _ticket(self, kind: str) -> str:
        cached = self._cache.get(kind)
        if cached is not None and cached.refresh_at > self._clock():
            return cached.value
        async with self._lock:
            now = self._clock()
            cached = self._cache.get(kind)
            if cached is not None and cached.refresh_at > now:
                return cached.value
            usable = cached is not None and cached.expires_at > now
            if self._retry_at.get(kind, 0.0) > now:
                if cached is not None and usable:
                    return cached.value
                raise WeComError(_API[kind], FREQUENCY_LIMITED,
                                 "ticket fetch failed recently; not asking again yet")
            try:
                data = await self._fetch(kind)
            except WeComError as exc:
                self.failures += 1
                self._retry_at[kind] = self._clock() + RETRY_AFTER_S
                if cached is None or not usable:
                    raise
                log.warning("%s ticket not refreshed (%s): serving the current one until it "
                            "expires", kind, exc)
                return cached.value
            self.fetches += 1
            expires_in = int(data.get("expires_in", 7200))
            now = self._clock()
            ticket = _Cached(str(data["ticket"]),
                             now + max(expires_in - TICKET_MARGIN_S, expires_in / 2),
                             now + expires_in)
            self._cache[kind] = ticket
            return ticket.value

    async def _fetch(self, kind: str) -> dict[str, Any]:
        deadline = time.monotonic() + FETCH_BUDGET_S
        if kind == "corp":
            return await self._wecom.get_jsapi_ticket(deadline=deadline)
        return await self._wecom.get_agent_ticket(deadline=deadline)

    async def config(self, url: str, *, timestamp: int | None = None) -> JsConfig:
        url = url.split("#", 1)[0]
        stamp = int(time.time()) if timestamp is None else timestamp
        nonce = secrets.token_hex(8)
        corp = await self._ticket("corp")
        agent = await self._ticket("agent")
        return JsConfig(self._corp_id, self._agent_id, stamp, nonce,
                        signature(corp, nonce, stamp, url), signature(agent, nonce, stamp, url))
