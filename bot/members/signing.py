"""Who may call the till endpoints: HMAC-signed requests, fresh, never seen before.

The POS (or the CRM in front of it) signs each request with a secret shared out of band
(`BOT_POS_SECRET` in the bot's environment):

    X-Pos-Timestamp:  epoch seconds when the request was made
    X-Pos-Request-Id: unique per request (a UUID), 8..64 of [A-Za-z0-9_-]
    X-Pos-Signature:  hex HMAC-SHA256(secret,
                          METHOD \n PATH?QUERY \n TIMESTAMP \n REQUEST_ID \n BODY)

Everything is checked before anything is read or written (design note 3): the size, the
headers, the time window, then the signature in constant time. The request id is recorded
in `pos_request` (bot.members.replays), which is what refuses a replay: a captured request
sent again inside the window has the same id.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["POS_SECRET_ENV", "PosRefused", "RecentIds", "SignedRequest", "sign", "verify"]

POS_SECRET_ENV = "BOT_POS_SECRET"  # noqa: S105 (the variable's name, not a secret)
WINDOW_S = 300
_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")


class PosRefused(Exception):
    """A till request refused before any effect; `status` is the HTTP answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class SignedRequest:
    request_id: str
    timestamp: int


def sign(secret: str, method: str, path_qs: str, timestamp: int, request_id: str,
         body: bytes) -> str:
    head = f"{method.upper()}\n{path_qs}\n{timestamp}\n{request_id}\n".encode()
    return hmac.new(secret.encode(), head + body, hashlib.sha256).hexdigest()


def pos_secret() -> str | None:
    return os.environ.get(POS_SECRET_ENV) or None


def verify(headers: Mapping[str, str], method: str, path_qs: str, body: bytes, now: float,
           secret: str | None) -> SignedRequest:
    """The request's id and time if it is signed with `secret` and fresh; else raises."""
    if secret is None:
        raise PosRefused(403, f"till endpoints are off: {POS_SECRET_ENV} is not set")
    stamp, request_id = headers.get("X-Pos-Timestamp", ""), headers.get("X-Pos-Request-Id", "")
    given = headers.get("X-Pos-Signature", "")
    if not stamp.isdigit() or not _REQUEST_ID.fullmatch(request_id) or not given:
        raise PosRefused(401, "X-Pos-Timestamp, X-Pos-Request-Id and X-Pos-Signature are "
                              "required")
    timestamp = int(stamp)
    if abs(now - timestamp) > WINDOW_S:
        raise PosRefused(401, f"timestamp outside ±{WINDOW_S} s of the bot's clock")
    wanted = sign(secret, method, path_qs, timestamp, request_id, body)
    if not hmac.compare_digest(wanted, given.lower()):
        raise PosRefused(401, "bad signature")
    return SignedRequest(request_id, timestamp)


@dataclass
class RecentIds:
    """Request ids of signed reads seen by this process in the last two windows: the till
    lookup refuses a replay to this process from memory, before its id is in `pos_request`
    (bot.members.replays), which refuses it in another replica or after a restart."""

    keep_s: float = 2 * WINDOW_S
    _seen: set[str] = field(default_factory=set)
    _order: deque[tuple[float, str]] = field(default_factory=deque)

    def first_time(self, request_id: str, now: float) -> bool:
        while self._order and self._order[0][0] < now - self.keep_s:
            self._seen.discard(self._order.popleft()[1])
        if request_id in self._seen:
            return False
        self._seen.add(request_id)
        self._order.append((now, request_id))
        return True
