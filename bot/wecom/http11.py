"""The lean transport's HTTP/1.1 connection: one request at a time, the answer framed as
its bytes arrive (bot.wecom.http says why the bot has its own transport at all).

Framing is by Content-Length, chunked encoding, or the end of the connection; anything else
(a second answer nobody asked for, a compressed body, a malformed head) fails the request
with `TransportError`, which the client treats as "no answer".
"""

from __future__ import annotations

import asyncio

import aiohttp

_MAX_HEAD = 64 * 1024
_MAX_BODY = 16 * 1024 * 1024  # the corp tag list is the largest answer: far below this
_NO_BODY_STATUS = frozenset({204, 304})


class TransportError(aiohttp.ClientConnectionError):
    """The connection failed, closed early, or the answer was not HTTP we understand."""


class Answer:
    """An HTTP answer, framed; only what the client needs of it."""

    __slots__ = ("body", "keep_alive", "status")

    def __init__(self, status: int, body: bytes, keep_alive: bool) -> None:
        self.status = status
        self.body = body
        self.keep_alive = keep_alive


class Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection carrying one request at a time.

    The answer is framed as its bytes arrive (`data_received`), so awaiting it costs one
    future per request and nothing per chunk.
    """

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._buf = bytearray()
        self._waiter: asyncio.Future[Answer] | None = None
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
        waiter.set_exception(TransportError(
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
        except TransportError as exc:
            self._fail(exc)

    # -- requests ------------------------------------------------------------------------

    def send(self, request: bytes, loop: asyncio.AbstractEventLoop) -> asyncio.Future[Answer]:
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
            waiter.set_result(Answer(self._status, body, self._keep_alive))

    def _parse(self) -> None:
        buf = self._buf
        while not self._head_done:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                if len(buf) > _MAX_HEAD:
                    raise TransportError("answer headers too long")
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
                raise TransportError("answer too large")

    def _read_head(self, head: str) -> None:
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise TransportError("not an HTTP/1.x answer")
        self._status = int(parts[1])
        self._keep_alive = parts[0] == "HTTP/1.1"
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise TransportError("malformed answer header")
            name = name.strip().lower()
            value = value.strip()
            if name == "content-length":
                if not value.isdigit() or int(value) > _MAX_BODY:
                    raise TransportError("bad Content-Length")
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
                raise TransportError(f"unexpected Content-Encoding {value!r}")
        if self._chunked:
            self._length = None

    def _parse_chunks(self) -> None:
        buf = self._buf
        while True:
            if self._chunk_left == -2:  # after the last chunk: trailers until an empty line
                end = buf.find(b"\r\n")
                if end < 0:
                    if len(buf) > _MAX_HEAD:
                        raise TransportError("chunk trailers too long")
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
                        raise TransportError("chunk size line too long")
                    return
                size_text = bytes(buf[:end]).split(b";", 1)[0].strip()
                try:
                    size = int(size_text, 16)
                except ValueError as exc:
                    raise TransportError("bad chunk size") from exc
                del buf[:end + 2]
                if size == 0:
                    self._chunk_left = -2
                    continue
                if len(self._body) + size > _MAX_BODY:
                    raise TransportError("answer too large")
                self._chunk_left = size
            if len(buf) < self._chunk_left + 2:
                return
            self._body += buf[:self._chunk_left]
            if buf[self._chunk_left:self._chunk_left + 2] != b"\r\n":
                raise TransportError("bad chunk framing")
            del buf[:self._chunk_left + 2]
            self._chunk_left = -1
