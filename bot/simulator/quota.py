"""The 群发 receive quota: how many group sends one customer or customer group may receive.

Reference §6 (doc 92135, 2025): at most *days in the month* per natural month, corp and
personal sends combined; the admin may switch to 7 per week or 1 per day. Periods are
natural ones in China time (UTC+8, no DST), because that is the calendar WeCom counts in;
weeks start on Monday (UNCONFIRMED). Only messages actually delivered use the quota, so an
over-quota recipient (send_result status 3) does not use it up further.
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from .options import QuotaMode

CHINA = timezone(timedelta(hours=8))
_KEEP_S = 40 * 86_400  # longer than any period: older stamps can never count again


def period(mode: QuotaMode, at: float) -> tuple[float, int]:
    """(start of the period containing `at`, receive limit in it) for the quota mode."""
    local = datetime.fromtimestamp(at, CHINA)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if mode == "day1":
        return day.timestamp(), 1
    if mode == "week7":
        return (day - timedelta(days=local.weekday())).timestamp(), 7
    if mode == "month":
        days = calendar.monthrange(local.year, local.month)[1]
        return day.replace(day=1).timestamp(), days
    raise ValueError(f"groupsend_quota must be month, week7 or day1, not {mode!r}")


class Quota:
    """Delivery stamps per recipient; O(sends in the period) per check, at most ~31."""

    def __init__(self, mode: Callable[[], QuotaMode]) -> None:
        self._mode = mode  # read per check: a test may switch the admin setting mid-run
        self._stamps: dict[str, list[float]] = {}
        self._cached: tuple[QuotaMode, float, float, int] | None = None  # mode, start, end, limit

    def _period(self, at: float) -> tuple[float, int]:
        """`period`, cached: every recipient of one send asks about the same instant."""
        mode = self._mode()
        cached = self._cached
        if cached is not None and cached[0] == mode and cached[1] <= at < cached[2]:
            return cached[1], cached[3]
        start, limit = period(mode, at)
        days = {"day1": 1, "week7": 7}.get(mode, limit)  # a month's limit is its day count
        self._cached = (mode, start, start + days * 86_400, limit)  # UTC+8 has no DST
        return start, limit

    def take(self, recipient: str, at: float) -> bool:
        """Use one receive for `recipient` at `at`; False (and nothing used) when over."""
        start, limit = self._period(at)
        stamps = self._stamps.setdefault(recipient, [])
        used = 0
        for stamp in reversed(stamps):  # stamps are appended in time order
            if stamp < start:
                break
            used += 1
        if used >= limit:
            return False
        stamps.append(at)
        if len(stamps) > 64 and stamps[0] < at - _KEEP_S:
            stamps[:] = [s for s in stamps if s >= at - _KEEP_S]
        return True

    def used(self, recipient: str, at: float) -> int:
        """Receives used in the period containing `at` (for tests and the control route)."""
        start, _ = self._period(at)
        return sum(1 for s in self._stamps.get(recipient, ()) if s >= start)
