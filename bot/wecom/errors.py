"""Typed WeCom API errors (reference §5.1), so callers branch on classes, not numbers."""

from __future__ import annotations

from typing import Any

SYSTEM_BUSY = -1
INVALID_SECRET = 40001
INVALID_CORP_ID = 40013
INVALID_TOKEN = 40014
MISSING_TOKEN = 41001
WELCOME_CODE_MISSING = 41049
WELCOME_CODE_INVALID = 41050
WELCOME_ALREADY_SENT = 41051
WELCOME_BY_OTHER_APP = 41096
TOKEN_EXPIRED = 42001
FREQUENCY_LIMITED = 45009
CONCURRENCY_LIMITED = 45033
NO_RELATION = 84061
GROUPMSG_DISPATCHING = 41063  # 群发 just created, its task list is not ready yet

TOKEN_ERRORS = frozenset({INVALID_TOKEN, TOKEN_EXPIRED, MISSING_TOKEN})


class WeComError(Exception):
    """WeCom answered with a non-zero errcode (or could not be reached)."""

    def __init__(self, api: str, errcode: int, errmsg: str,
                 payload: dict[str, Any] | None = None) -> None:
        super().__init__(f"{api}: errcode {errcode}: {errmsg}")
        self.api = api
        self.errcode = errcode
        self.errmsg = errmsg
        self.payload = payload or {}


class WeComTransientError(WeComError):
    """Busy, rate-limited or unreachable after the client's own retries: try again later."""


class WeComUnanswered(WeComTransientError):
    """The call went out but no answer came back (timeout, reset): it may have taken effect."""


class WeComAuthError(WeComError):
    """Wrong corp id or secret: nothing will work until an operator fixes the credentials."""


def classify(api: str, errcode: int, errmsg: str,
             payload: dict[str, Any] | None = None) -> WeComError:
    if errcode in (SYSTEM_BUSY, FREQUENCY_LIMITED, CONCURRENCY_LIMITED):
        return WeComTransientError(api, errcode, errmsg, payload)
    if errcode in (INVALID_SECRET, INVALID_CORP_ID):
        return WeComAuthError(api, errcode, errmsg, payload)
    return WeComError(api, errcode, errmsg, payload)
