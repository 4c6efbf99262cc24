"""What refuses a callback before anything is written: the signed query and the POST
envelope. Apart from the endpoint (bot.wecom.callback, aiohttp) because `bot run` applies
the same checks before it has imported aiohttp (bot.frontdoor)."""

from __future__ import annotations

import time
from collections.abc import Mapping

from bot.wecom.crypto import CallbackRejected
from bot.wecom.events import MalformedEvent, parse_xml

CALLBACK_PATH = "/wecom/callback"


def signed_query(query: Mapping[str, str], window_s: int) -> tuple[str, str, str]:
    """(msg_signature, timestamp, nonce) of a callback's URL-decoded query, or
    CallbackRejected: missing, malformed, or a timestamp outside the window."""
    try:
        signature, timestamp, nonce = (query["msg_signature"], query["timestamp"],
                                       query["nonce"])
    except KeyError as exc:
        raise CallbackRejected("missing or malformed msg_signature/timestamp/nonce") from exc
    # Seconds as ASCII digits, 1..12 of them. `int()` alone also took "１７００…" and
    # "1_700_000_000", and a 400-digit value passed it only to overflow the float
    # subtraction below: a 500 (tests/hostile/test_hostile_callbacks.py).
    if not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12):
        raise CallbackRejected("missing or malformed msg_signature/timestamp/nonce")
    if abs(time.time() - int(timestamp)) > window_s:
        raise CallbackRejected(f"timestamp outside the {window_s}s window")
    return signature, timestamp, nonce


def envelope_encrypt(body: bytes) -> str:
    """The <Encrypt> value of the POST envelope (the same expat reader as the event itself:
    a DOCTYPE is refused, so entities are never declared, let alone expanded)."""
    try:
        value = parse_xml(body).get("Encrypt")
    except MalformedEvent as exc:  # expat errors, DOCTYPE, wrong shape
        raise CallbackRejected("body is not a WeCom callback envelope") from exc
    if not isinstance(value, str) or not value:
        raise CallbackRejected("empty Encrypt")
    return value
