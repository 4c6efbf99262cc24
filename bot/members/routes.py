"""HTTP routes for the till: purchases in, and "is this member in the store's group?".

Both are signed by the POS (bot.members.signing):

- ``POST /api/pos/purchases``: ``{"purchases": [...]}`` (fields: bot.members.purchases)
- ``GET /api/pos/member?member_code=&store_id=``: level, stage, whether the member is in
  one of the store's groups, and if not the store's join code to show
- ``GET|POST /q/<form>``: the questionnaire page (bot.members.q_routes), signed link
- ``GET|POST /api/questionnaire``: the codes for the sidebar (bot.members.staff_codes)

Refusals come first and write nothing: oversized 413, unsigned/forged/stale 401, secret
not configured 403, bad body 400, a replayed request id 409. Nothing else lives here.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.members import q_routes, staff_codes
from bot.members.questionnaire import Questionnaires
from bot.members.service import Members
from bot.members.signing import PosRefused, SignedRequest, pos_secret, verify

__all__ = ["MAX_BODY_BYTES", "routes"]
MAX_BODY_BYTES = 64 * 1024


def _refused(exc: PosRefused) -> web.Response:
    return web.json_response({"error": exc.reason}, status=exc.status)


async def _signed(request: web.Request) -> tuple[SignedRequest, bytes]:
    if (request.content_length or 0) > MAX_BODY_BYTES:
        raise PosRefused(413, f"body over {MAX_BODY_BYTES} bytes")
    body = await request.content.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        raise PosRefused(413, f"body over {MAX_BODY_BYTES} bytes")
    signed = verify(request.headers, request.method, request.path_qs, body, time.time(),
                    pos_secret())
    return signed, body


def routes(members: Callable[[], Members | None]) -> list[web.AbstractRouteDef]:
    """`members()` is the running bot's `Members` (None before the start: 503)."""

    def running() -> Members:
        found = members()
        if found is None:
            raise PosRefused(503, "the bot is starting")
        return found

    async def purchases(request: web.Request) -> web.Response:
        try:
            signed, body = await _signed(request)
            service = running()
            return web.json_response(await service.take_purchases(signed, service.parse(body)))
        except PosRefused as exc:
            return _refused(exc)

    async def member(request: web.Request) -> web.Response:
        try:
            signed, _ = await _signed(request)
            code, store = (request.query.get(k, "") for k in ("member_code", "store_id"))
            if not code or not store:
                raise PosRefused(400, "member_code and store_id are required")
            return web.json_response(await running().till_lookup(signed, code, store))
        except PosRefused as exc:
            return _refused(exc)

    def questionnaires() -> Questionnaires | None:
        found = members()
        return found.questionnaires if found is not None else None

    return [web.post("/api/pos/purchases", purchases), web.get("/api/pos/member", member),
            *q_routes.routes(questionnaires)]


def staff_routes(runtime: Any) -> list[web.AbstractRouteDef]:
    """The sidebar's questionnaire API (bot.members.staff_codes) for the running `runtime`
    (bot.app.BotRuntime): its members and its sidebar's session signer."""
    return staff_codes.routes(
        lambda: runtime.members.questionnaires if runtime.members is not None else None,
        lambda: runtime.sidebar.signer if runtime.sidebar is not None else None)
