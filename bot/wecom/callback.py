"""The HTTP edge: `GET/POST /wecom/callback`, as WeCom calls it (reference §1.2, §1.3).

Everything that can refuse a request happens before anything is written or called: size,
query parameters, timestamp window, signature (constant time), decryption, parsing. Only a
callback that passes all of them reaches `accept`, which records it; the 200 goes out after
the record is durable and before any handler runs. Nothing here imports the domain beyond
the typed event: the handler gets a parsed `Event` and returns nothing.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

from bot.wecom.callback_checks import CALLBACK_PATH, envelope_encrypt, signed_query
from bot.wecom.crypto import CallbackCrypto, CallbackRejected
from bot.wecom.events import Event, MalformedEvent, parse_event

log = logging.getLogger("bot.wecom.callback")
__all__ = ["CALLBACK_PATH", "Accept", "CallbackEndpoint"]
Accept = Callable[[Event, float], Awaitable[None]]


class CallbackEndpoint:
    """Verifies, decrypts and parses callbacks; hands accepted events to `accept`.

    With `accept=None` it only answers: the "bare handler" the benchmark compares against.
    """

    def __init__(self, crypto: CallbackCrypto, corp_id: str, accept: Accept | None, *,
                 max_body_bytes: int, timestamp_window_s: int) -> None:
        self._crypto = crypto
        self._corp_id = corp_id
        self._accept = accept
        self._max_body = max_body_bytes
        self._window = timestamp_window_s
        self.refused = 0

    def routes(self) -> list[web.RouteDef]:
        return [web.get(CALLBACK_PATH, self.verify_url), web.post(CALLBACK_PATH, self.receive)]

    def _refuse(self, status: int, reason: str, request: web.Request) -> web.Response:
        self.refused += 1
        log.warning("refused callback from %s: %s", request.remote, reason)
        return web.Response(status=status, text=reason)

    def _signed_query(self, request: web.Request) -> tuple[str, str, str]:
        # aiohttp has already URL-decoded the values (echostr has +/=)
        return signed_query(request.query, self._window)

    async def verify_url(self, request: web.Request) -> web.Response:
        """URL verification when the callback URL is saved in the admin console (1 s budget)."""
        try:
            signature, timestamp, nonce = self._signed_query(request)
            echostr = request.query.get("echostr", "")
            if not echostr:
                raise CallbackRejected("missing echostr")
            plain = self._crypto.verify_and_decrypt(signature, timestamp, nonce, echostr)
        except CallbackRejected as exc:
            return self._refuse(exc.status, exc.reason, request)
        return web.Response(text=plain)  # the bare plaintext: no quotes, BOM or newline

    async def receive(self, request: web.Request) -> web.Response:
        received_at = time.time()
        if request.content_length is not None and request.content_length > self._max_body:
            return self._refuse(413, "body too large", request)
        try:
            signature, timestamp, nonce = self._signed_query(request)
            body = await self._read_body(request)
            if body is None:
                return self._refuse(413, "body too large", request)
            encrypted = envelope_encrypt(body)
            xml = self._crypto.verify_and_decrypt(signature, timestamp, nonce, encrypted)
            event = parse_event(xml)
        except CallbackRejected as exc:
            return self._refuse(exc.status, exc.reason, request)
        except MalformedEvent as exc:
            return self._refuse(400, f"malformed event: {exc}", request)
        if event.corp_id and event.corp_id != self._corp_id:
            return self._refuse(400, "event for another corp", request)
        if self._accept is not None:
            await self._accept(event, received_at)
        return web.Response()  # 200, empty body: "received" (§1.3)

    async def _read_body(self, request: web.Request) -> bytes | None:
        """The whole body, or None once it passes the limit (the rest is never buffered).

        A loop, not one `content.read(n)`: that returns whatever has arrived so far, so a
        genuine callback whose body came in several TCP segments was cut short and refused
        (tests/hostile/test_hostile_callbacks.py, the trickled callback).
        """
        parts: list[bytes] = []
        size = 0
        while True:
            chunk = await request.content.read(self._max_body + 1 - size)
            if not chunk:
                return b"".join(parts)
            size += len(chunk)
            if size > self._max_body:
                return None
            parts.append(chunk)
