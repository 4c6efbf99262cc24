"""access_token issue and checks (gettoken, 41001 / 40014 / 42001).

Within its life a token is handed out again by gettoken (the 2020 text of doc 91039 says
"有效期内重复获取返回相同结果"; the current text dropped the sentence, so this is a choice), with
`expires_in` the seconds it has left. Tokens can be expired or invalidated early, as WeCom
may do "出于运营需要": `expire_all` for tests, `invalidate` for injected token faults.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from . import codes
from .codes import ApiError
from .options import SimOptions


@dataclass
class _Token:
    value: str
    issued_at: float  # monotonic
    ttl_s: float
    expires_at: float  # monotonic
    revoked: bool = False  # invalidated early: 40014 from now on


class TokenStore:
    def __init__(self, corp_id: str, secret: str, options: SimOptions,
                 new_token: Callable[[], str],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._corp_id = corp_id
        self._secret = secret
        self._options = options
        self._new_token = new_token
        self._clock = clock
        self._tokens: dict[str, _Token] = {}
        self._current: _Token | None = None
        self.issued = 0  # distinct tokens handed out

    def issue(self, corp_id: str | None, secret: str | None) -> tuple[str, int]:
        """(access_token, expires_in) for gettoken, or the errcode WeCom gives."""
        if not corp_id:
            raise ApiError(codes.MISSING_CORP_ID)
        if corp_id != self._corp_id:
            raise ApiError(codes.INVALID_CORP_ID)
        if not secret:
            raise ApiError(codes.MISSING_SECRET)
        if secret != self._secret:
            raise ApiError(codes.INVALID_SECRET)
        now = self._clock()
        current = self._current
        if current is None or current.revoked or current.expires_at <= now:
            ttl = self._options.token_ttl_s
            current = _Token(self._new_token(), now, ttl, now + ttl)
            self._tokens[current.value] = current
            self._current = current
            self.issued += 1
        # Whole seconds left, counted from issue (a fresh token says exactly token_ttl_s).
        return current.value, max(1, math.ceil(current.ttl_s - math.floor(now - current.issued_at)))

    def check(self, token: str | None) -> None:
        if not token:
            raise ApiError(codes.MISSING_TOKEN)
        found = self._tokens.get(token)
        if found is None or found.revoked:
            raise ApiError(codes.INVALID_TOKEN)
        if found.expires_at <= self._clock():
            raise ApiError(codes.TOKEN_EXPIRED)

    def expire_all(self) -> None:
        """Every issued token expires now (42001); the next gettoken issues a new one."""
        now = self._clock()
        for token in self._tokens.values():
            token.expires_at = min(token.expires_at, now)

    def invalidate(self, token: str | None, errcode: int) -> None:
        """An injected token fault also breaks the token, so retrying with it fails again."""
        found = self._tokens.get(token or "")
        if found is None:
            return
        if errcode == codes.TOKEN_EXPIRED:
            found.expires_at = min(found.expires_at, self._clock())
        else:
            found.revoked = True
