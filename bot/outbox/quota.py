"""How many 群发 a customer group may still receive (reference §6).

WeCom limits group sends per customer group: by default as many per natural month as the
month has days, or, if the admin chose so in 群发助手, 7 per natural week or 1 per day.
Over the limit WeCom does not refuse the call: the group silently gets nothing and the send
result says status 3. So the bot counts before queuing and holds back, on its own record,
what WeCom would drop, and the operator sees it.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo


@dataclass(frozen=True, slots=True)
class QuotaPeriod:
    start: float  # UTC epoch seconds, inclusive
    end: float  # exclusive
    limit: int
    label: str  # "2026-11", "2026-W48", "2026-11-24": for operators

    def left(self, used: int) -> int:
        return max(self.limit - used, 0)


def quota_period(rule: str, slot: datetime, tz: ZoneInfo) -> QuotaPeriod:
    """The quota period (in the corp's local calendar) that contains `slot`."""
    day = slot.astimezone(tz).date()
    if rule == "day1":
        first, last, limit = day, day + timedelta(days=1), 1
        label = day.isoformat()
    elif rule == "week7":
        first = day - timedelta(days=day.weekday())  # natural week: Monday to Sunday
        last, limit = first + timedelta(days=7), 7
        iso = first.isocalendar()
        label = f"{iso.year}-W{iso.week:02d}"
    elif rule == "month":
        days = calendar.monthrange(day.year, day.month)[1]
        first = day.replace(day=1)
        last, limit = first + timedelta(days=days), days
        label = f"{day.year}-{day.month:02d}"
    else:
        raise ValueError(f"unknown group-send quota rule {rule!r}")
    return QuotaPeriod(_epoch(first, tz), _epoch(last, tz), limit, label)


def _epoch(day: date, tz: ZoneInfo) -> float:
    return datetime.combine(day, time(0), tzinfo=tz).timestamp()
