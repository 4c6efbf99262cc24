"""Async WeCom server-API client (reference §4, §5), on its own lean HTTP/1.1 transport.

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
import json as jsonlib
import logging
import os
import ssl
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp

from bot.wecom import errors
from bot.wecom.errors import WeComError, WeComTransientError, WeComUnanswered, classify
from bot.wecom.ratelimit import Limits, RateLimits

log = logging.getLogger("bot.wecom")

MAX_TOKEN_RETRIES = 6  # per call; each one is bounded by the call's deadline too
OFFLINE_ENV = "WECOM_BOT_OFFLINE"  # set by the test suite: refuse any non-loopback API host


# -- the HTTP transport --------------------------------------------------------------------
#
# WeCom's API is plain HTTP/1.1 + JSON: one short request, one short answer. aiohttp's client
# costs about 0.16-0.2 ms of CPU per call (request and response objects, yarl URL and query
# building, payload classes, timers, streams); a welcome makes three calls, so that was the
# largest cost of a welcome (profiled in scripts/bench_callbacks.py). The transport below
# does exactly what these calls need, about three times cheaper: keep-alive connections in a
# pool, one request at a time on each, answers framed by Content-Length or chunked encoding
# (or the end of the connection), TLS through the standard library. Failures are raised as
# aiohttp's own `ClientConnectionError` and the built-in `TimeoutError`, the two things
# `WeComClient._request` already treats as "no answer".

_MAX_HEAD = 64 * 1024
_MAX_BODY = 16 * 1024 * 1024  # the corp tag list is the largest answer: far below this
_NO_BODY_STATUS = frozenset({204, 304})


class _TransportError(aiohttp.ClientConnectionError):
    """The connection failed, closed early, or the answer was not HTTP we understand."""


class _HttpStatusError(aiohttp.ClientError):
    """An answer that is not WeCom's (HTTP 502 from a front end): the call may have run.

    It used to become errcode -1 and be retried like "busy", also for add_msg_template: a
    gateway error after WeCom had created the 群发 sent every group the message twice
    (tests/test_hostile_faults.py). Now it is "no answer", like a reset.
    """


class _Answer:
    """An HTTP answer, framed; only what the client needs of it."""

    __slots__ = ("body", "keep_alive", "status")

    def __init__(self, status: int, body: bytes, keep_alive: bool) -> None:
        self.status = status
        self.body = body
        self.keep_alive = keep_alive


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying one request at a time.

    The answer is framed as its bytes arrive (`data_received`), so awaiting it costs one
    future per request and nothing per chunk.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._buf = bytearray()
        self._waiter: asyncio.Future[_Answer] | None = None
        self._got_bytes = False
        self._reset_answer()

    def _reset_answer(self) -> None:
        self._status = 0
        self._length: int | None = None
        self._chunked = False
        self._keep_alive = True
        self._body = bytearray()
        self._chunk_left = -1  # chunked: bytes left in the current chunk, -1 = size line next
        self._head_done = False

    # -- protocol callbacks ------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        waiter = self._waiter
        if waiter is None or waiter.done():
            return
        if self._head_done and self._length is None and not self._chunked:
            self._finish(bytes(self._body))  # framed by the end of the connection
            return
        waiter.set_exception(_TransportError(
            "connection closed before the answer was complete" if self._got_bytes
            else "connection closed without an answer"))

    def eof_received(self) -> bool | None:
        return False  # close our side too: connection_lost frames or fails the answer

    def data_received(self, data: bytes) -> None:
        if self._waiter is None or self._waiter.done():
            self.abort()  # bytes nobody asked for: this connection cannot be trusted
            return
        self._got_bytes = True
        self._buf += data
        try:
            self._parse()
        except _TransportError as exc:
            self._fail(exc)

    # -- requests ------------------------------------------------------------------------

    def send(self, request: bytes, loop: asyncio.AbstractEventLoop) -> asyncio.Future[_Answer]:
        assert self.transport is not None and self._waiter is None
        self._waiter = loop.create_future()
        self._got_bytes = False
        self._reset_answer()
        self.transport.write(request)
        return self._waiter

    def release(self) -> None:
        """The answer was taken: the connection is free for the next request."""
        self._waiter = None

    def abort(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.abort()

    @property
    def got_bytes(self) -> bool:
        return self._got_bytes

    # -- framing ---------------------------------------------------------------------------

    def _fail(self, exc: Exception) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_exception(exc)
        self.abort()

    def _finish(self, body: bytes) -> None:
        if self._buf:  # more than one answer to one request
            self._keep_alive = False
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(_Answer(self._status, body, self._keep_alive))

    def _parse(self) -> None:
        buf = self._buf
        while not self._head_done:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > _MAX_HEAD:
                    raise _TransportError("answer headers too long")
                return
            head = bytes(buf[:end]).decode("latin-1")
            del buf[:end + 4]
            self._read_head(head)
            if 100 <= self._status < 200:  # an interim answer (100 Continue): the real one follows
                self._reset_answer()
                continue
            self._head_done = True
            if self._status in _NO_BODY_STATUS:
                self._length = 0
        if self._chunked:
            self._parse_chunks()
        elif self._length is not None:
            if len(buf) >= self._length:
                body = bytes(buf[:self._length])
                del buf[:self._length]
                self._finish(body)
        else:
            self._body += buf
            buf.clear()
            if len(self._body) > _MAX_BODY:
                raise _TransportError("answer too large")

    def _read_head(self, head: str) -> None:
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise _TransportError("not an HTTP/1.x answer")
        self._status = int(parts[1])
        self._keep_alive = parts[0] == "HTTP/1.1"
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise _TransportError("malformed answer header")
            name = name.strip().lower()
            value = value.strip()
            if name == "content-length":
                if not value.isdigit() or int(value) > _MAX_BODY:
                    raise _TransportError("bad Content-Length")
                self._length = int(value)
            elif name == "transfer-encoding":
                self._chunked = value.lower().endswith("chunked")
            elif name == "connection":
                tokens = {t.strip().lower() for t in value.split(",")}
                if "close" in tokens:
                    self._keep_alive = False
                elif "keep-alive" in tokens:
                    self._keep_alive = True
            elif name == "content-encoding" and value.lower() not in ("", "identity"):
                raise _TransportError(f"unexpected Content-Encoding {value!r}")
        if self._chunked:
            self._length = None

    def _parse_chunks(self) -> None:
        buf = self._buf
        while True:
            if self._chunk_left == -2:  # after the last chunk: trailers until an empty line
                end = buf.find(b"\r\n")
                if end < 0:
                    if len(buf) > _MAX_HEAD:
                        raise _TransportError("chunk trailers too long")
                    return
                del buf[:end + 2]
                if end == 0:
                    self._finish(bytes(self._body))
                    return
                continue  # a trailer line: skipped
            if self._chunk_left == -1:
                end = buf.find(b"\r\n")
                if end < 0:
                    if len(buf) > _MAX_HEAD:
                        raise _TransportError("chunk size line too long")
                    return
                size_text = bytes(buf[:end]).split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError as exc:
                    raise _TransportError("bad chunk size") from exc
                del buf[:end + 2]
                if size == 0:
                    self._chunk_left = -2
                    continue
                if len(self._body) + size > _MAX_BODY:
                    raise _TransportError("answer too large")
                self._chunk_left = size
            if len(buf) < self._chunk_left + 2:
                return
            self._body += buf[:self._chunk_left]
            if buf[self._chunk_left:self._chunk_left + 2] != b"\r\n":
                raise _TransportError("bad chunk framing")
            del buf[:self._chunk_left + 2]
            self._chunk_left = -1


class _Transport:
    """Keep-alive connections to the one API host, at most `limit` open at a time."""

    def __init__(self, base_url: str, *, limit: int = 200, idle_s: float = 15.0) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"unsupported API base URL {base_url!r}")
        self._tls = parts.scheme == "https"
        self._host = parts.hostname
        self._port = parts.port or (443 if self._tls else 80)
        default_port = parts.port is None or parts.port == (443 if self._tls else 80)
        host = f"[{self._host}]" if ":" in self._host else self._host
        host_header = host if default_port else f"{host}:{self._port}"
        self.path_prefix = parts.path if parts.path.endswith("/") else parts.path + "/"
        # Everything after the request line that is the same for every request.
        self._fixed_headers = (f"Host: {host_header}\r\nUser-Agent: wecom-store-bot\r\n"
                               "Accept: application/json\r\nAccept-Encoding: identity\r\n")
        self._ssl: ssl.SSLContext | None = ssl.create_default_context() if self._tls else None
        self._idle_s = idle_s
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(limit)
        self._closed = False

    async def request(self, method: str, target: str, body: bytes | None,
                      timeout_s: float) -> _Answer:
        """`target` is the path and query, already encoded; raises TimeoutError or
        `_TransportError`. A GET that fails on a reused connection before any answer byte
        came back (the server closed it while idle) is tried once more on a new one."""
        if self._closed:
            raise _TransportError("client closed")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        head = f"{method} {target} HTTP/1.1\r\n{self._fixed_headers}"
        if body is None and method == "GET":
            request = (head + "\r\n").encode()
        else:
            body = body or b""
            request = (f"{head}Content-Type: application/json\r\n"
                       f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        async with self._slots:
            while True:
                conn = self._take_idle(loop.time())
                reused = conn is not None
                if conn is None:
                    conn = await self._connect(loop, deadline)
                try:
                    answer = await self._exchange(conn, request, loop, deadline)
                except _TransportError:
                    if reused and method == "GET" and not conn.got_bytes:
                        continue  # a stale keep-alive connection; an idempotent call
                    raise
                if answer.keep_alive and not conn.closed and not self._closed:
                    conn.idle_since = loop.time()
                    self._idle.append(conn)
                else:
                    conn.abort()
                return answer

    def _take_idle(self, now: float) -> _Connection | None:
        idle = self._idle
        while idle:
            conn = idle.pop()  # the most recently used: the least likely to be timed out
            if not conn.closed and now - conn.idle_since < self._idle_s:
                return conn
            conn.abort()
        return None

    async def _connect(self, loop: asyncio.AbstractEventLoop, deadline: float) -> _Connection:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise TimeoutError
        try:
            async with asyncio.timeout(remaining):
                _, conn = await loop.create_connection(
                    _Connection, self._host, self._port, ssl=self._ssl,
                    server_hostname=self._host if self._tls else None)
        except OSError as exc:  # refused, unreachable, DNS, TLS handshake (ssl.SSLError)
            raise _TransportError(f"cannot connect: {type(exc).__name__}") from exc
        return conn

    async def _exchange(self, conn: _Connection, request: bytes,
                        loop: asyncio.AbstractEventLoop, deadline: float) -> _Answer:
        remaining = deadline - loop.time()
        if remaining <= 0:
            conn.abort()
            raise TimeoutError
        waiter = conn.send(request, loop)
        timer = loop.call_at(deadline, _expire, waiter)
        try:
            return await waiter
        except BaseException:
            conn.abort()  # timed out, cancelled or broken: the answer may still be coming
            raise
        finally:
            timer.cancel()
            conn.release()

    def close(self) -> None:
        self._closed = True
        for conn in self._idle:
            conn.abort()
        self._idle.clear()


def _expire(waiter: asyncio.Future[_Answer]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


def _query_string(params: dict[str, str]) -> str:
    return "&".join(f"{quote(k, safe='')}={quote(str(v), safe='')}" for k, v in params.items())



class WeComClient:
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
        self._session = session  # given: calls go through it (aiohttp), else `_Transport`
        self._own_session = session is None
        self._transport: _Transport | None = None
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()
        # (api, errcode) of every answer, for the metrics; -1 also when nothing came back
        self.observer: Callable[[str, int], None] | None = None

    async def __aenter__(self) -> WeComClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            # One keep-alive pool for every call: a new TCP (and TLS) handshake per call
            # would cost more than the call itself at fan-out rates.
            connector = aiohttp.TCPConnector(limit=200, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    def _lean(self) -> _Transport:
        if self._transport is None:
            self._transport = _Transport(self.base_url)
        return self._transport

    async def close(self) -> None:
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None

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

    async def call(self, api: str, json: dict[str, Any] | None = None, *,
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
                       json: dict[str, Any] | None, deadline: float,
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
            except (aiohttp.ClientError, TimeoutError) as exc:
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
                    json: dict[str, Any] | None, deadline: float) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        if self._session is not None:
            return await self._send_aiohttp(method, api, query, json, remaining)
        transport = self._lean()
        target = transport.path_prefix + api
        if query:
            target += "?" + _query_string(query)
        body = None if json is None else jsonlib.dumps(
            json, ensure_ascii=False, separators=(",", ":")).encode()
        answer = await transport.request(method, target, body, min(self._timeout, remaining))
        if answer.status != 200:
            raise _HttpStatusError(f"HTTP {answer.status}")
        try:
            data = jsonlib.loads(answer.body)
        except ValueError:  # also UnicodeDecodeError: a proxy's error page, a cut answer
            return {"errcode": errors.SYSTEM_BUSY, "errmsg": "non-JSON answer"}
        if not isinstance(data, dict):
            return {"errcode": errors.SYSTEM_BUSY, "errmsg": "non-object JSON"}
        return data

    async def _send_aiohttp(self, method: str, api: str, query: dict[str, str],
                            json: dict[str, Any] | None, remaining: float) -> dict[str, Any]:
        """The same call through a caller's own aiohttp session (`session=`)."""
        timeout = aiohttp.ClientTimeout(total=min(self._timeout, remaining))
        async with self._http().request(method, self.base_url + api, params=query, json=json,
                                        timeout=timeout) as resp:
            if resp.status != 200:
                raise _HttpStatusError(f"HTTP {resp.status}")
            body = await resp.json(content_type=None)
            if not isinstance(body, dict):
                return {"errcode": errors.SYSTEM_BUSY, "errmsg": "non-object JSON"}
            return body

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

    async def get_jsapi_ticket(self) -> dict[str, Any]:
        """get_jsapi_ticket: the corp's JS-SDK ticket for wx.config (`ticket`, `expires_in`
        7200); WeCom allows a few hundred fetches an hour, so callers cache it."""
        return await self.call("get_jsapi_ticket", None, method="GET")

    async def get_agent_ticket(self) -> dict[str, Any]:
        """ticket/get?type=agent_config: the app's JS-SDK ticket for wx.agentConfig."""
        return await self.call("ticket/get", None, method="GET",
                               params={"type": "agent_config"})

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


async def _before(awaitable: Any, deadline: float, api: str) -> None:
    """Await our own quota, but not past the caller's deadline."""
    remaining = deadline - time.monotonic()
    try:
        await asyncio.wait_for(awaitable, timeout=max(remaining, 0.001))
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
