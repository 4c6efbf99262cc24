"""How a WeCom API call travels: one `Transport` protocol, two implementations.

WeCom's API is plain HTTP/1.1 + JSON: one short request, one short answer. aiohttp's client
costs about 0.16-0.2 ms of CPU per call (request and response objects, yarl URL and query
building, payload classes, timers, streams); a welcome makes three calls, so that was the
largest cost of a welcome (profiled in scripts/bench_callbacks.py). `LeanTransport` does
exactly what these calls need, about three times cheaper: keep-alive connections in a pool,
one request at a time on each, answers framed by Content-Length or chunked encoding (or the
end of the connection: bot.wecom.http11), TLS through the standard library. Failures are
raised as aiohttp's own `ClientConnectionError` and the built-in `TimeoutError`, the two
things `WeComClient._request` already treats as "no answer" (`NO_ANSWER`).

`AiohttpTransport` makes the same call through an aiohttp session, e.g. a caller's own.
"""

from __future__ import annotations

import asyncio
import functools
import json as jsonlib
import ssl
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

import aiohttp

from bot.wecom.errors import SYSTEM_BUSY
from bot.wecom.http11 import Answer, Connection, TransportError

# What a transport raises when no answer came back: the call may or may not have run.
NO_ANSWER: tuple[type[Exception], ...] = (aiohttp.ClientError, TimeoutError)


@dataclass(frozen=True, slots=True)
class Multipart:
    """A request body that is a file upload (media/upload, media/uploadimg), not JSON:
    built by `bot.wecom.media`, sent as it is by either transport."""

    body: bytes
    content_type: str  # multipart/form-data; boundary=...


Body = dict[str, Any] | Multipart | None  # what a call sends: JSON, an upload, or nothing


class Transport(Protocol):
    """One API call: the answer's JSON object, or one of `NO_ANSWER` raised."""

    async def exchange(self, method: str, api: str, query: dict[str, str],
                       json: Body, timeout_s: float) -> dict[str, Any]:
        """`api` is the path below the base URL; an answer that is not JSON (or not an
        object) comes back as WeCom's "busy" (errcode -1), to be retried like it."""

    async def close(self) -> None: ...


class HttpStatusError(aiohttp.ClientError):
    """An answer that is not WeCom's (HTTP 502 from a front end): the call may have run.

    It used to become errcode -1 and be retried like "busy", also for add_msg_template: a
    gateway error after WeCom had created the 群发 sent every group the message twice
    (tests/hostile/test_hostile_faults.py). Now it is "no answer", like a reset.
    """


class AiohttpTransport:
    """The same calls through an aiohttp session (a caller's own, or one made here)."""

    def __init__(self, base_url: str, session: aiohttp.ClientSession | None = None) -> None:
        self._base_url = base_url if base_url.endswith("/") else base_url + "/"
        self._session = session
        self._own_session = session is None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            # One keep-alive pool for every call: a new TCP (and TLS) handshake per call
            # would cost more than the call itself at fan-out rates.
            connector = aiohttp.TCPConnector(limit=200, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector)
        return self._session

    async def exchange(self, method: str, api: str, query: dict[str, str],
                       json: Body, timeout_s: float) -> dict[str, Any]:
        timeout = aiohttp.ClientTimeout(total=timeout_s)
        upload = json if isinstance(json, Multipart) else None
        async with self._http().request(
                method, self._base_url + api, params=query,
                json=None if upload else json, data=upload.body if upload else None,
                headers={"Content-Type": upload.content_type} if upload else None,
                timeout=timeout) as resp:
            if resp.status != 200:
                raise HttpStatusError(f"HTTP {resp.status}")
            body = await resp.json(content_type=None)
            if not isinstance(body, dict):
                return {"errcode": SYSTEM_BUSY, "errmsg": "non-object JSON"}
            return body

    async def close(self) -> None:
        """Closes the session only if it was made here: a caller's own is theirs to close."""
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None


class LeanTransport:
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
        self._idle: list[Connection] = []
        self._slots = asyncio.Semaphore(limit)
        self._closed = False

    async def exchange(self, method: str, api: str, query: dict[str, str],
                       json: Body, timeout_s: float) -> dict[str, Any]:
        target = self.path_prefix + api
        if query:
            target += "?" + _query_string(query)
        if isinstance(json, Multipart):
            answer = await self.request(method, target, json.body, timeout_s,
                                        content_type=json.content_type)
        else:
            body = None if json is None else jsonlib.dumps(
                json, ensure_ascii=False, separators=(",", ":")).encode()
            answer = await self.request(method, target, body, timeout_s)
        if answer.status != 200:
            raise HttpStatusError(f"HTTP {answer.status}")
        try:
            data = jsonlib.loads(answer.body)
        except ValueError:  # also UnicodeDecodeError: a proxy's error page, a cut answer
            return {"errcode": SYSTEM_BUSY, "errmsg": "non-JSON answer"}
        if not isinstance(data, dict):
            return {"errcode": SYSTEM_BUSY, "errmsg": "non-object JSON"}
        return data

    async def request(self, method: str, target: str, body: bytes | None,
                      timeout_s: float, *, content_type: str = "application/json") -> Answer:
        """`target` is the path and query, already encoded; raises TimeoutError or
        `TransportError`. A GET that fails on a reused connection before any answer byte
        came back (the server closed it while idle) is tried once more on a new one."""
        if self._closed:
            raise TransportError("client closed")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        head = f"{method} {target} HTTP/1.1\r\n{self._fixed_headers}"
        if body is None and method == "GET":
            request = (head + "\r\n").encode()
        else:
            body = body or b""
            request = (f"{head}Content-Type: {content_type}\r\n"
                       f"Content-Length: {len(body)}\r\n\r\n").encode() + body
        async with self._slots:
            while True:
                conn = self._take_idle(loop.time())
                reused = conn is not None
                if conn is None:
                    conn = await self._connect(loop, deadline)
                try:
                    answer = await self._round_trip(conn, request, loop, deadline)
                except TransportError:
                    if reused and method == "GET" and not conn.got_bytes:
                        continue  # a stale keep-alive connection; an idempotent call
                    raise
                if answer.keep_alive and not conn.closed and not self._closed:
                    conn.idle_since = loop.time()
                    self._idle.append(conn)
                else:
                    conn.abort()
                return answer

    def _take_idle(self, now: float) -> Connection | None:
        idle = self._idle
        while idle:
            conn = idle.pop()  # the most recently used: the least likely to be timed out
            if not conn.closed and now - conn.idle_since < self._idle_s:
                return conn
            conn.abort()
        return None

    async def _connect(self, loop: asyncio.AbstractEventLoop, deadline: float) -> Connection:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise TimeoutError
        try:
            async with asyncio.timeout(remaining):
                _, conn = await loop.create_connection(
                    Connection, self._host, self._port, ssl=self._ssl,
                    server_hostname=self._host if self._tls else None)
        except OSError as exc:  # refused, unreachable, DNS, TLS handshake (ssl.SSLError)
            raise TransportError(f"cannot connect: {type(exc).__name__}") from exc
        return conn

    async def _round_trip(self, conn: Connection, request: bytes,
                        loop: asyncio.AbstractEventLoop, deadline: float) -> Answer:
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

    async def close(self) -> None:
        self._closed = True
        for conn in self._idle:
            conn.abort()
        self._idle.clear()


def _expire(waiter: asyncio.Future[Answer]) -> None:
    if not waiter.done():
        waiter.set_exception(TimeoutError())


def _query_string(params: dict[str, str]) -> str:
    return "&".join(f"{_quoted(k)}={_quoted(str(v))}" for k, v in params.items())


@functools.lru_cache(maxsize=1024)
def _quoted(value: str) -> str:
    """Percent-encoded; the same few names and the same access_token for two hours make up
    nearly every query, so each is encoded once."""
    return quote(value, safe="")
