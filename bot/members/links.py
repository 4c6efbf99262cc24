"""Per-customer questionnaire links: signed, expiring, for one customer of one staff member.

    /q/<form>?c=<external_userid>&u=<userid>&e=<expiry epoch>&s=<signature>

The signature is HMAC-SHA256 over form, customer, staff member and expiry with
`BOT_LINK_KEY` from the environment, so a link cannot be made for another customer or
stretched past its expiry; a forged or expired link gets 403 and writes nothing. The
staff member is in the link because WeCom marks tags per staff–customer relation
(mark_tag's userid).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from dataclasses import dataclass
from urllib.parse import urlencode

__all__ = ["LINK_KEY_ENV", "CustomerLinks", "LinkRefused", "QuestionnaireLink", "make_link",
           "no_link", "sample_link", "verify_link"]

LINK_KEY_ENV = "BOT_LINK_KEY"
DEFAULT_TTL_S = 7 * 86_400  # a week: the customer answers when they have a minute


class LinkRefused(Exception):
    """Forged, expired or incomplete: the page answers 403."""


@dataclass(frozen=True)
class QuestionnaireLink:
    form: str
    external_userid: str
    userid: str
    expires: int


def _key() -> bytes:
    key = os.environ.get(LINK_KEY_ENV, "")
    if not key:
        raise LinkRefused(f"questionnaire links are off: {LINK_KEY_ENV} is not set")
    return key.encode()


def _signature(key: bytes, form: str, external_userid: str, userid: str, expires: int) -> str:
    message = "\n".join((form, external_userid, userid, str(expires))).encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()[:32]


def make_link(base_url: str, form: str, external_userid: str, userid: str, *,
              ttl_s: float = DEFAULT_TTL_S, now: float | None = None) -> str:
    expires = int((now if now is not None else time.time()) + ttl_s)
    query = {"c": external_userid, "u": userid, "e": str(expires),
             "s": _signature(_key(), form, external_userid, userid, expires)}
    return f"{base_url.rstrip('/')}/q/{form}?{urlencode(query)}"


def verify_link(form: str, params: dict[str, str], now: float | None = None
                ) -> QuestionnaireLink:
    customer, userid = params.get("c", ""), params.get("u", "")
    stamp, given = params.get("e", ""), params.get("s", "")
    if not (customer and userid and stamp.isdigit() and given):
        raise LinkRefused("incomplete link")
    wanted = _signature(_key(), form, customer, userid, int(stamp))
    if not hmac.compare_digest(wanted, given):
        raise LinkRefused("forged link")
    if int(stamp) < (now if now is not None else time.time()):
        raise LinkRefused("expired link")
    return QuestionnaireLink(form, customer, userid, int(stamp))


class CustomerLinks:
    """`questionnaire` in a welcome's or a journey step's template: the customer's own link.

        {% set q = questionnaire("welcome") %}{% if q %}填个小问卷：{{ q }}{% endif %}

    "" when links are off (no `BOT_LINK_KEY`, or no public address of the bot: `[sidebar]
    public_url`), so a template guards it and the welcome still goes out."""

    def __init__(self, base_url: str, external_userid: str, userid: str) -> None:
        self._base, self._customer, self._userid = base_url, external_userid, userid

    def __call__(self, form: str = "welcome") -> str:
        if not self._base:
            return ""
        try:
            return make_link(self._base, form, self._customer, self._userid)
        except LinkRefused:
            return ""


def no_link(form: str = "welcome") -> str:
    """`questionnaire` where a template renders without a customer (links off): ""."""
    return ""


def sample_link(form: str = "welcome") -> str:
    """What templates get when they are checked at load: a link of a real link's length."""
    return (f"https://bot.example.com/q/{form}?c=wmSampleCustomer0000000000000000&"
            f"u=linxiaoyu&e=1767225600&s={'0' * 32}")
