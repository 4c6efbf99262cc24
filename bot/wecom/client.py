"""Async WeCom server-API client (reference §4, §5), on its own lean HTTP/1.1 transport
(bot.wecom.http says why it has one).

What it takes care of, so that callers only see results or typed errors:
- the access token: fetched once, cached until shortly before `expires_in`, refetched once
  when WeCom says it is invalid or expired (40014 / 42001 / 41001), one fetch at a time;
- errcode -1 and network failures: retried with exponential backoff (at most `max_retries`);
- 45009 / 45033 (frequency / concurrency limits): waited out, never surfaced as a failure
  unless the caller's deadline or `max_wait_s` runs out first;
- our own per-API quota (`RateLimits`) so that WeCom's limit is rarely reached at all.

`[wecom] api_base_url` is the only thing that differs between the real service and the
local simulator. The token never appears in logs or exception messages.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from bot.wecom import errors
from bot.wecom.errors import WeComError, WeComTransientError, WeComUnanswered, classify
from bot.wecom.http import NO_ANSWER, AiohttpTransport, Body, LeanTransport, Transport
from bot.wecom.ratelimit import Limits, RateLimits

log = logging.getLogger("bot.wecom")

MAX_TOKEN_RETRIES = 6  # per call; each one is bounded by the call's deadline too
OFFLINE_ENV = "WECOM_BOT_OFFLINE"  # set by the test suite: refuse any non-loopback API host


class WeComClient:
    """The token cache, retries and quotas around each API call; the bytes go through a
    `Transport` (bot.wecom.http)."""

    def __init__(
        self,
        base_url: str,
        corp_id: str,
        secret: str,
        *,
        limits: Limits | None = None,
        request_timeout_s: float = 10.0,
        max_retries: int = 3,
        backoff_s: float = 0.2,
        max_wait_s: float = 180.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        _refuse_real_host_when_offline(self.base_url)
        self._corp_id = corp_id
        self._secret = secret
        self._limits: Limits = limits or RateLimits(per_minute=10_000, per_hour=150_000)
        self._timeout = request_timeout_s
        self._max_retries = max_retries
        self._backoff_s = backoff_s
        self._max_wait_s = max_wait_s
        # A session given: calls go through it (aiohttp), else through `LeanTransport`.
        self._given: Transport | None = (None if session is None
                                         else AiohttpTransport(self.base_url, session))
        self._transport: LeanTransport | None = None
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()
        # (api, errcode) of every answer, for the metrics; -1 also when nothing came back
        self.observer: Callable[[str, int], None] | None = None

    async def __aenter__(self) -> WeComClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _lean(self) -> LeanTransport:
        if self._transport is None:
            self._transport = LeanTransport(self.base_url)
        return self._transport

    async def close(self) -> None:
        """Closes our own connections; a session given to us is the caller's to close."""
        if self._transport is not None:
            await self._transport.close()
            self._transport = None

    # -- token -----------------------------------------------------------------------

    async def _access_token(self) -> str:
        if self._token and time.monotonic() < self._token_expires:
            return self._token
        async with self._token_lock:
            if self._token and time.monotonic() < self._token_expires:
                return self._token
            data = await self._request(
                "GET", "gettoken", params={"corpid": self._corp_id, "corpsecret": self._secret},
                json=None, deadline=time.monotonic() + self._max_wait_s, with_token=False,
            )
            expires_in = int(data.get("expires_in", 7200))
            self._token = str(data["access_token"])
            # Refresh a little early (WeCom may also invalidate it early: see 40014 below).
            self._token_expires = time.monotonic() + max(expires_in - 300, expires_in / 2)
            return self._token

    def _drop_token(self, token: str | None) -> None:
        if token is not None and self._token == token:
            self._token = None

    # -- calls -----------------------------------------------------------------------

    async def call(self, api: str, json: Body = None, *,
                   params: dict[str, str] | None = None, method: str = "POST",
                   deadline: float | None = None, with_token: bool = True,
                   retry_unanswered: bool = True) -> dict[str, Any]:
        """Call `api` (path below cgi-bin/) and return its JSON; raise WeComError on failure.

        `deadline` is a `time.monotonic()` instant after which the call gives up (e.g. the
        20-second life of a WelcomeCode); without one, waits are bounded by `max_wait_s`.
        `retry_unanswered=False` is for calls that must never be made twice (a 群发, a robot
        post): a call whose answer was lost raises `WeComUnanswered` instead of being
        repeated, and the caller finds out what happened before trying again.
        """
        deadline = deadline if deadline is not None else time.monotonic() + self._max_wait_s
        return await self._request(method, api, params=params, json=json, deadline=deadline,
                                   with_token=with_token, retry_unanswered=retry_unanswered)

    async def _request(self, method: str, api: str, *, params: dict[str, str] | None,
                       json: Body, deadline: float,
                       with_token: bool, retry_unanswered: bool = True) -> dict[str, Any]:
        busy_retries = 0
        token_refreshes = 0
        limit_wait = 1.0
        quota = self._limits.for_api(api)
        while True:
            if not quota.try_acquire():
                await _before(quota.acquire(), deadline, api)
            token = await self._access_token() if with_token else None
            query = dict(params or {})
            if token is not None:
                query["access_token"] = token
            try:
                data = await self._send(method, api, query, json, deadline)
            except NO_ANSWER as exc:
                if not retry_unanswered:
                    raise WeComUnanswered(api, errors.SYSTEM_BUSY,
                                          f"transport: {type(exc).__name__}") from exc
                # Reached WeCom or not, we cannot tell: retry like "busy" (callers of
                # non-idempotent APIs handle the "already done" answer, e.g. 41051).
                data = {"errcode": errors.SYSTEM_BUSY, "errmsg": f"transport: {type(exc).__name__}"}
            code = int(data.get("errcode", 0) or 0)
            if self.observer is not None:
                self.observer(api, code)
            if code == 0:
                return data
            errmsg = str(data.get("errmsg", ""))
            if (code in errors.TOKEN_ERRORS and with_token
                    and token_refreshes < MAX_TOKEN_RETRIES and time.monotonic() < deadline):
                # Why more than one or two: the token is shared by every call in flight, so
                # one invalidation fails them all at once, and under load a call can meet
                # several in a row. The soak lost welcomes to "refresh twice, then give up"
                # (status failed with 42001) while WeCom would have taken a fresh token.
                token_refreshes += 1
                self._drop_token(token)
                log.info("wecom %s: token rejected (%s), fetching a new one", api, code)
                continue
            if code == errors.SYSTEM_BUSY and busy_retries < self._max_retries:
                delay = self._backoff_s * (2**busy_retries)
                busy_retries += 1
                if time.monotonic() + delay < deadline:
                    log.info("wecom %s: busy (%s), retry %d in %.1fs", api, errmsg, busy_retries,
                             delay)
                    await asyncio.sleep(delay)
                    continue
            # The block lasts the rest of WeCom's window: wait, doubling up to 30 s.
            if (code in (errors.FREQUENCY_LIMITED, errors.CONCURRENCY_LIMITED)
                    and time.monotonic() + limit_wait < deadline):
                log.warning("wecom %s: rate limited (%s), waiting %.1fs", api, code, limit_wait)
                await asyncio.sleep(limit_wait)
                limit_wait = min(limit_wait * 2, 30.0)
                continue
            raise classify(api, code, errmsg, data)

    async def _send(self, method: str, api: str, query: dict[str, str],
                    json: Body, deadline: float) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        transport: Transport = self._given if self._given is not None else self._lean()
        return await transport.exchange(method, api, query, json, min(self._timeout, remaining))

    # -- the APIs the bot uses (one wrapper each; names follow the API paths) ----------

    async def get_external_contact(self, external_userid: str) -> dict[str, Any]:
        """externalcontact/get: the customer and the staff who follow them (with tags)."""
        return await self.call("externalcontact/get", None, method="GET",
                               params={"external_userid": external_userid})

    async def send_welcome_msg(self, welcome_code: str, text: str,
                               attachments: list[dict[str, Any]], deadline: float) -> None:
        """externalcontact/send_welcome_msg: must land within the WelcomeCode's 20 s."""
        body: dict[str, Any] = {"welcome_code": welcome_code}
        if text:
            body["text"] = {"content": text}
        if attachments:
            body["attachments"] = attachments
        await self.call("externalcontact/send_welcome_msg", body, deadline=deadline)

    async def get_corp_tag_list(self) -> list[dict[str, Any]]:
        """externalcontact/get_corp_tag_list: every corp tag group with its tags."""
        data = await self.call("externalcontact/get_corp_tag_list", {})
        return list(data.get("tag_group", []))

    async def add_corp_tag(self, group_name: str, names: list[str]) -> dict[str, Any]:
        """externalcontact/add_corp_tag: an existing group_name reuses that group."""
        body = {"group_name": group_name, "tag": [{"name": name} for name in names]}
        data = await self.call("externalcontact/add_corp_tag", body)
        return dict(data.get("tag_group", {}))

    async def mark_tag(self, userid: str, external_userid: str, add: list[str],
                       remove: list[str] | None = None) -> None:
        """externalcontact/mark_tag: tags as seen by this staff member's follow record."""
        body = {"userid": userid, "external_userid": external_userid, "add_tag": add,
                "remove_tag": remove or []}
        await self.call("externalcontact/mark_tag", body)

    async def get_group_chat(self, chat_id: str) -> dict[str, Any]:
        """externalcontact/groupchat/get: members with join_scene 1 invite / 2 link / 3 QR."""
        data = await self.call("externalcontact/groupchat/get",
                               {"chat_id": chat_id, "need_name": 1})
        return dict(data.get("group_chat", {}))

    async def list_group_chats(self, owners: list[str]) -> list[str]:
        """externalcontact/groupchat/list: the chat ids of these owners' groups (≤100 owners;
        WeCom refuses an unfiltered list when more than 1000 staff are visible)."""
        body = {"status_filter": 0, "owner_filter": {"userid_list": owners}}
        found = await self._all_pages("externalcontact/groupchat/list", body, "group_chat_list")
        return [str(g["chat_id"]) for g in found if g.get("chat_id")]

    async def send_app_text(self, agent_id: int, touser: list[str], content: str) -> dict[str, Any]:
        """message/send: a text from the bot app to staff members."""
        body = {"touser": "|".join(touser), "msgtype": "text", "agentid": agent_id,
                "text": {"content": content}}
        return await self.call("message/send", body)

    async def send_app_message(self, body: dict[str, Any]) -> dict[str, Any]:
        """message/send with a body built by the caller (an owner-post reminder, with
        ``enable_duplicate_check``). Never repeated on a lost answer (`WeComUnanswered`):
        the outbox decides, and resends only within the duplicate-check interval."""
        return await self.call("message/send", body, retry_unanswered=False)

    # -- the chat sidebar (bot.sidebar): who is looking, and the JS-SDK tickets -----------

    async def get_user_info(self, code: str) -> dict[str, Any]:
        """auth/getuserinfo: the member (`userid`) behind an OAuth2 code. A code is single-use
        and lives 5 minutes (40029 after); a non-member gets `openid` and no `userid`."""
        return await self.call("auth/getuserinfo", None, method="GET", params={"code": code},
                               retry_unanswered=False)

    async def get_jsapi_ticket(self, *, deadline: float | None = None) -> dict[str, Any]:
        """get_jsapi_ticket: the corp's JS-SDK ticket for wx.config (`ticket`, `expires_in`
        7200); 400 fetches an hour per corp and 100 per app, so callers cache it."""
        return await self.call("get_jsapi_ticket", None, method="GET", deadline=deadline)

    async def get_agent_ticket(self, *, deadline: float | None = None) -> dict[str, Any]:
        """ticket/get?type=agent_config: the app's JS-SDK ticket for wx.agentConfig (100
        fetches an hour per app)."""
        return await self.call("ticket/get", None, method="GET",
                               params={"type": "agent_config"}, deadline=deadline)

    # -- 群发 (group send) and group robots: used by the SOP outbox (bot.outbox.worker) ----

    async def add_msg_template(self, body: dict[str, Any]) -> dict[str, Any]:
        """externalcontact/add_msg_template: creates a 群发 task for `sender` to confirm.

        Never repeated on a lost answer (WeComUnanswered): a second call would be a second
        task, and a group would get the message twice.
        """
        return await self.call("externalcontact/add_msg_template", body, retry_unanswered=False)

    async def get_groupmsg_list_v2(self, start_time: int, end_time: int, *,
                                   chat_type: str = "group") -> list[dict[str, Any]]:
        """externalcontact/get_groupmsg_list_v2: the corp's 群发 created in a time window.

        Messages created through the API carry no `creator` (doc: "API接口创建的群发消息不返回
        该字段"), so callers look for theirs by time and content, then ask get_groupmsg_task
        whose task it is.
        """
        found: list[dict[str, Any]] = []
        cursor = ""
        while True:
            body = {"chat_type": chat_type, "start_time": start_time, "end_time": end_time,
                    "filter_type": 0, "limit": 100, "cursor": cursor}
            data = await self.call("externalcontact/get_groupmsg_list_v2", body)
            found.extend(data.get("group_msg_list", []))
            cursor = str(data.get("next_cursor") or "")
            if not cursor:
                return found

    async def get_groupmsg_task(self, msgid: str) -> list[dict[str, Any]]:
        """externalcontact/get_groupmsg_task: per member, has the task been sent (status 2)."""
        return await self._all_pages("externalcontact/get_groupmsg_task", {"msgid": msgid},
                                     "task_list")

    async def get_groupmsg_send_result(self, msgid: str, userid: str) -> list[dict[str, Any]]:
        """externalcontact/get_groupmsg_send_result: per group, 1 sent / 3 over its quota."""
        return await self._all_pages("externalcontact/get_groupmsg_send_result",
                                     {"msgid": msgid, "userid": userid}, "send_list")

    async def remind_groupmsg_send(self, msgid: str) -> None:
        """externalcontact/remind_groupmsg_send: at most 3 times per 群发 per 24 h."""
        await self.call("externalcontact/remind_groupmsg_send", {"msgid": msgid})

    async def robot_send(self, key: str, body: dict[str, Any]) -> None:
        """webhook/send?key=: a group robot's message (20 a minute per robot; no token)."""
        await self.call("webhook/send", body, params={"key": key}, with_token=False,
                        retry_unanswered=False)

    async def _all_pages(self, api: str, body: dict[str, Any], field: str
                         ) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        cursor = ""
        while True:
            data = await self.call(api, {**body, "limit": 1000, "cursor": cursor})
            items.extend(data.get(field, []))
            cursor = str(data.get("next_cursor") or "")
            if not cursor:
                return items


async def _before(awaitable: Awaitable[None], deadline: float, api: str) -> None:
    """Await our own quota, but not past the caller's deadline."""
    remaining = deadline - time.monotonic()
    try:
        async with asyncio.timeout(max(remaining, 0.001)):
            await awaitable
    except TimeoutError as exc:
        raise WeComTransientError(api, errors.FREQUENCY_LIMITED,
                                  "local quota: no slot before the deadline") from exc


def _refuse_real_host_when_offline(base_url: str) -> None:
    """The guard that keeps tests from reaching the real WeCom (design note 8)."""
    if not os.environ.get(OFFLINE_ENV):
        return
    host = urlsplit(base_url).hostname or ""
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = host == "localhost"
    if not loopback:
        raise WeComError("config", -1, f"{OFFLINE_ENV} is set: refusing API host {host!r}")
