"""Staff sessions for the sidebar: an HMAC-signed cookie, and a CSRF token bound to it.

Why a signed cookie and not a session table: the bot may run as several replicas, and a
session only has to carry the staff member's userid and an expiry; HMAC-SHA256 with a key
from the environment (`BOT_SESSION_KEY`, never in git) makes it unforgeable. Without that
variable a random key is made at start: sessions then end at every restart, which is safe,
only a little annoying.

CSRF: state-changing requests carry ``X-CSRF-Token``, an HMAC of the session's own random
id under a separate derived key. A page on another site can make the browser send the
cookie, but cannot read the token out of our page. Every comparison is constant time.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)
COOKIE = "ws_session"
STATE_COOKIE = "ws_oauth"
STATE_TTL_S = 600  # the OAuth round trip: WeCom's code itself lives 5 minutes


@dataclass(frozen=True, slots=True)
class Session:
    userid: str
    sid: str  # random per login: what the CSRF token is bound to
    expires: float


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    def __init__(self, key: str | None, ttl_s: int,
                 clock: Callable[[], float] = time.time) -> None:
        if not key:
            log.warning("BOT_SESSION_KEY is not set: sidebar sessions use a random key and "
                        "end when the bot restarts (set it, the same on every replica)")
            key = secrets.token_urlsafe(32)
        master = key.encode()
        # separate keys per purpose: a token of one kind never verifies as another
        self._cookie_key = hmac.new(master, b"sidebar-session", hashlib.sha256).digest()
        self._csrf_key = hmac.new(master, b"sidebar-csrf", hashlib.sha256).digest()
        self._state_key = hmac.new(master, b"sidebar-oauth-state", hashlib.sha256).digest()
        self.ttl_s = ttl_s
        self._clock = clock

    # -- sessions ------------------------------------------------------------------------

    def issue(self, userid: str) -> tuple[str, Session]:
        session = Session(userid, secrets.token_urlsafe(16), self._clock() + self.ttl_s)
        payload = _b64(json.dumps({"u": session.userid, "s": session.sid,
                                   "e": int(session.expires)}, separators=(",", ":")).encode())
        return f"{payload}.{self._mac(self._cookie_key, payload)}", session

    def verify(self, value: str | None) -> Session | None:
        """The session in a cookie value, or None (missing, forged, malformed, expired)."""
        data = self._open(self._cookie_key, value)
        if data is None:
            return None
        try:
            session = Session(str(data["u"]), str(data["s"]), float(data["e"]))
        except (KeyError, TypeError, ValueError):
            return None
        if not session.userid or session.expires <= self._clock():
            return None
        return session

    # -- CSRF ------------------------------------------------------------------------------

    def csrf_token(self, session: Session) -> str:
        return self._mac(self._csrf_key, f"{session.userid}|{session.sid}")

    def check_csrf(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf_token(session), token or "")

    # -- OAuth state -------------------------------------------------------------------------

    def oauth_state(self, return_to: str) -> tuple[str, str]:
        """(state for the authorize URL, cookie value): the callback must bring back the
        state this browser was given, or it is someone else's login being forced on us."""
        state = secrets.token_hex(16)  # [a-zA-Z0-9], ≤128 bytes as WeCom asks
        payload = _b64(json.dumps({"s": state, "r": return_to,
                                   "e": int(self._clock() + STATE_TTL_S)}).encode())
        return state, f"{payload}.{self._mac(self._state_key, payload)}"

    def check_oauth_state(self, cookie: str | None, state: str | None) -> str | None:
        """Where to go back to, if the state matches the browser's cookie; else None."""
        data = self._open(self._state_key, cookie)
        if data is None or not state or float(data.get("e", 0)) <= self._clock():
            return None
        if not hmac.compare_digest(str(data.get("s", "")), state):
            return None
        return str(data.get("r", ""))

    # -- helpers ---------------------------------------------------------------------------

    @staticmethod
    def _mac(key: bytes, payload: str) -> str:
        return _b64(hmac.new(key, payload.encode(), hashlib.sha256).digest())

    def _open(self, key: bytes, value: str | None) -> dict[str, Any] | None:
        if not value or value.count(".") != 1:
            return None
        payload, mac = value.split(".")
        if not hmac.compare_digest(self._mac(key, payload), mac):
            return None
        try:
            data = json.loads(_unb64(payload))
        except ValueError:
            return None
        return data if isinstance(data, dict) else None
