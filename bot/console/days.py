"""The chain's days: a local date ↔ the UTC epoch seconds the tables store.

Every rollup row is one local day (``2026-12-03`` in `[console] timezone`), so a store
manager's "today" starts at their midnight, not UTC's. Periods asked for in a URL are
checked here: a bad date or a span longer than `MAX_SPAN_DAYS` is the caller's error (400).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

MAX_SPAN_DAYS = 92  # a quarter and a bit: the history the rollups keep is 90 days


class BadPeriod(ValueError):
    """A period in a request that is not a pair of dates within `MAX_SPAN_DAYS`."""


def zone(name: str) -> tzinfo:
    return ZoneInfo(name)


def bounds(day: date, tz: tzinfo) -> tuple[float, float]:
    """[start, end) of a local day, as UTC epoch seconds."""
    start = datetime.combine(day, time.min, tz)
    end = datetime.combine(day + timedelta(days=1), time.min, tz)
    return start.timestamp(), end.timestamp()


def today(tz: tzinfo, now: float | None = None) -> date:
    moment = datetime.now(tz) if now is None else datetime.fromtimestamp(now, tz)
    return moment.date()


def day_of(at: float, tz: tzinfo) -> date:
    return datetime.fromtimestamp(at, tz).date()


def parse_day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise BadPeriod(f"not a date (YYYY-MM-DD): {text[:20]!r}") from None


def period(start: str | None, end: str | None, tz: tzinfo, *,
           default_days: int = 14) -> tuple[date, date]:
    """The inclusive period a page shows: `end` defaults to today, `start` to
    `default_days` before it. Reversed, future or over-long spans are refused."""
    last = parse_day(end) if end else today(tz)
    first = parse_day(start) if start else last - timedelta(days=default_days - 1)
    if first > last:
        raise BadPeriod("the period starts after it ends")
    if (last - first).days + 1 > MAX_SPAN_DAYS:
        raise BadPeriod(f"a period is at most {MAX_SPAN_DAYS} days")
    if last > today(tz) + timedelta(days=1) or first.year < 2000:
        raise BadPeriod("the period lies outside the bot's history")
    return first, last


def one_day(text: str | None, tz: tzinfo) -> date:
    """A day a page is about (``?day=``): today when not given; never in the future."""
    current = today(tz)
    if not text:
        return current
    day = parse_day(text)
    if day > current or day.year < 2000:
        raise BadPeriod("day must be a day of the bot's history, not the future")
    return day


def days_between(first: date, last: date) -> list[date]:
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]
