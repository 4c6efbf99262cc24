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
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from bot.config import REAL_WECOM_API
from bot.wecom.client import WeComClient

REAL_AUTHORIZE_URL = "https://open.weixin.qq.com/connect/oauth2/authorize"
REAL_JSSDK_SCRIPTS = ("https://res.wx.qq.com/open/js/jweixin-1.2.0.js",
                      "https://open.work.weixin.qq.com/wwopen/js/jwxwork-1.0.0.js")
TICKET_MARGIN_S = 300  # fetch a new ticket this long before the old one expires


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
    """The two JS-SDK tickets, cached; `config` signs a page URL with both."""

    def __init__(self, wecom: WeComClient, corp_id: str, agent_id: int | None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._wecom = wecom
        self._corp_id = corp_id
        self._agent_id = agent_id
        self._clock = clock
        self._cache: dict[str, tuple[str, float]] = {}
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def _ticket(self, kind: str) -> str:
        cached = self._cache.get(kind)
        if cached is not None and cached[1] > self._clock():
            return cached[0]
        async with self._lock:
            cached = self._cache.get(kind)
            if cached is not None and cached[1] > self._clock():
                return cached[0]
            data = await (self._wecom.get_jsapi_ticket() if kind == "corp"
                          else self._wecom.get_agent_ticket())
            self.fetches += 1
            expires_in = int(data.get("expires_in", 7200))
            ticket = str(data["ticket"])
            self._cache[kind] = (ticket, self._clock() + max(expires_in - TICKET_MARGIN_S,
                                                             expires_in / 2))
            return ticket

    async def config(self, url: str, *, timestamp: int | None = None) -> JsConfig:
        url = url.split("#", 1)[0]
        stamp = int(time.time()) if timestamp is None else timestamp
        nonce = secrets.token_hex(8)
        corp = await self._ticket("corp")
        agent = await self._ticket("agent")
        return JsConfig(self._corp_id, self._agent_id, stamp, nonce,
                        signature(corp, nonce, stamp, url), signature(agent, nonce, stamp, url))
