"""Callbacks recorded from the first moments of `bot run`, before the bot is imported.

A restart answered WeCom only once Python had imported aiohttp, SQLAlchemy and the bot and
opened the database: one to two seconds (more on a busy machine) in which callbacks waited
and their WelcomeCodes' 20 s ran (docs/capacity.md). `bot run` now binds its port first
and, on SQLite, opens this front door on it: a small HTTP/1.1 server on a thread, with the
standard library and the callback's own checks only (bot.wecom.callback_checks, crypto,
events), that refuses, verifies, decrypts, parses and records each callback in the inbox
exactly as the bot does (bot.inbox's statement and row: same dedupe key, durable before
its 200) while the main thread imports and builds the bot. The door is closed before the
bot's start runs (`FrontDoor.close`); what it recorded is `pending`, unclaimed, and the
start takes it over and handles it like anything recorded before a restart
(`Dispatcher.replay_pending`), with its real receipt time.

Only what is safe without the bot is done: the database must exist and be at this code's
newest migration (otherwise the bot migrates first, with the door shut); on PostgreSQL
(replicas and their claims) there is no door. Every answer closes its connection, so no
client holds one to the door once it is gone. Anything but a callback gets a 503 with
`/readyz`'s "starting" report: `/healthz` answers 200 only once the bot itself serves, as
before (tools wait for it to mean "the bot is up").
"""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import sqlite3
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlsplit

from bot import inbox
from bot.db.revisions import known_head
from bot.wecom.callback_checks import CALLBACK_PATH, envelope_encrypt, signed_query
from bot.wecom.crypto import CallbackCrypto, CallbackRejected
from bot.wecom.events import Event, MalformedEvent, parse_event

if TYPE_CHECKING:
    from bot.config import Secrets, Settings

log = logging.getLogger("bot.frontdoor")
READ_TIMEOUT_S = 10.0  # a client that sends its request this slowly is dropped
CLOSE_GRACE_S = 2.0  # requests in flight at close may finish within this
_STARTING = json.dumps({"status": "not ready", "replica": None, "scheduler": "starting",
                        "sop": "off", "database": "starting"}).encode()
Answer = tuple[int, bytes, str]


def sqlite_path(url: str) -> Path | None:
    """The file of a `sqlite:///...` URL; None for anything else (and in-memory)."""
    if not url.startswith("sqlite:///") or ":memory:" in url:
        return None
    return Path(url.split("///", 1)[1])


def open_front_door(sock: socket.socket, settings: Settings, secrets: Secrets
                    ) -> FrontDoor | None:
    """Serve `sock` from a thread until `close`, if the database allows it (see above)."""
    path = sqlite_path(settings.database.url)
    if path is None or not path.is_file():
        return None
    try:
        conn = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        found = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error as exc:
        log.info("no front door: %s", exc)
        return None
    if found is None or found[0] != known_head():
        conn.close()  # a migration to run first: the bot does it, then serves
        return None
    door = FrontDoor(sock, conn, CallbackCrypto(secrets.token, secrets.aes_key, secrets.corp_id),
                     secrets.corp_id, settings.server.max_body_bytes,
                     settings.server.timestamp_window_s)
    door.start()
    return door


class FrontDoor:
    """The HTTP/1.1 server on its own thread and event loop; `close` hands the port over."""

    def __init__(self, sock: socket.socket, conn: sqlite3.Connection, crypto: CallbackCrypto,
                 corp_id: str, max_body: int, window_s: int) -> None:
        self._sock = sock.dup()  # closing the door's server closes this one, not the port
        self._conn = conn
        self._crypto = crypto
        self._corp_id = corp_id
        self._max_body = max_body
        self._window = window_s
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()
        self._thread = threading.Thread(target=self._serve, name="front-door", daemon=True)
        self._up = threading.Event()
        self.recorded = 0
        self.duplicates = 0

    def start(self) -> None:
        self._thread.start()
        self._up.wait(5.0)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._server = self._loop.run_until_complete(
                asyncio.start_server(self._handle, sock=self._sock))
        finally:
            self._up.set()
        try:
            self._loop.run_forever()
        finally:
            self._loop.close()

    def close(self) -> None:
        """Stop taking connections, let those in flight finish (`CLOSE_GRACE_S`), stop.
        Every callback answered 200 is in the inbox by then. Idempotent."""
        if not self._thread.is_alive():
            return
        done = asyncio.run_coroutine_threadsafe(self._shut(), self._loop)
        try:
            done.result(CLOSE_GRACE_S + 5.0)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5.0)
            self._conn.close()
        log.info("front door closed: %d callbacks recorded before the bot started, %d "
                 "redeliveries", self.recorded, self.duplicates)

    async def _shut(self) -> None:
        if self._server is not None:
            self._server.close()
        if self._handlers:
            _, late = await asyncio.wait(set(self._handlers), timeout=CLOSE_GRACE_S)
            for task in late:  # a client still sending: it sends again to the bot
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            async with asyncio.timeout(READ_TIMEOUT_S):
                status, body, ctype = await self._answer(reader)
            writer.write(_response(status, body, ctype))
            await writer.drain()
        except (TimeoutError, ConnectionError, asyncio.IncompleteReadError,
                asyncio.LimitOverrunError, ValueError):
            pass  # nothing recorded for it, or recorded and the client will send it again
        finally:
            self._handlers.discard(task)
            writer.close()

    async def _answer(self, reader: asyncio.StreamReader) -> Answer:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        request_line, *header_lines = head.split("\r\n")
        method, target, _version = request_line.split(" ", 2)
        headers = {k.strip().lower(): v.strip()
                   for k, _, v in (line.partition(":") for line in header_lines if line)}
        url = urlsplit(target)
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        if url.path != CALLBACK_PATH or method not in ("GET", "POST") \
                or "transfer-encoding" in headers:
            return 503, _STARTING, "application/json"
        try:
            if method == "GET":  # URL verification
                signature, timestamp, nonce = signed_query(query, self._window)
                if not query.get("echostr"):
                    raise CallbackRejected("missing echostr")
                plain = self._crypto.verify_and_decrypt(signature, timestamp, nonce,
                                                        query["echostr"])
                return 200, plain.encode(), "text/plain; charset=utf-8"
            return self._receive(query, await _body(reader, headers, self._max_body))
        except CallbackRejected as exc:
            log.warning("refused callback: %s", exc.reason)
            return exc.status, exc.reason.encode(), "text/plain; charset=utf-8"

    def _receive(self, query: dict[str, str], body: bytes | None) -> Answer:
        received_at = time.time()
        if body is None:
            raise CallbackRejected("body too large", 413)
        signature, timestamp, nonce = signed_query(query, self._window)
        xml = self._crypto.verify_and_decrypt(signature, timestamp, nonce,
                                              envelope_encrypt(body))
        try:
            event = parse_event(xml)
        except MalformedEvent as exc:
            raise CallbackRejected(f"malformed event: {exc}") from exc
        if event.corp_id and event.corp_id != self._corp_id:
            raise CallbackRejected("event for another corp")
        try:
            self._record(event, received_at)
        except sqlite3.Error as exc:  # not recorded: no 200, WeCom sends it again
            log.warning("front door could not record %s: %s", event.kind, exc)
            return 503, b"not recorded, send again", "text/plain; charset=utf-8"
        return 200, b"", "text/plain; charset=utf-8"

    def _record(self, event: Event, received_at: float) -> None:
        """The inbox row, committed before the answer; unclaimed (the bot's start takes it)."""
        self._conn.execute("BEGIN IMMEDIATE")
        try:
            found = self._conn.execute(inbox.RECORD, inbox.new_row(event, received_at, None))
            new = found.fetchone() is not None
            self._conn.execute("COMMIT")
        except BaseException:
            self._conn.execute("ROLLBACK")
            raise
        if new:
            self.recorded += 1
        else:
            self.duplicates += 1


async def _body(reader: asyncio.StreamReader, headers: dict[str, str],
                limit: int) -> bytes | None:
    """The body by Content-Length; None when it is over `limit` (never read)."""
    length = int(headers.get("content-length", "0"))
    if length < 0:
        raise ValueError("negative Content-Length")
    if length > limit:
        return None
    return await reader.readexactly(length)


def _response(status: int, body: bytes, ctype: str) -> bytes:
    reason = {200: "OK", 400: "Bad Request", 403: "Forbidden", 413: "Payload Too Large",
              503: "Service Unavailable"}.get(status, "Error")
    head = (f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n")
    return head.encode("latin-1") + body
