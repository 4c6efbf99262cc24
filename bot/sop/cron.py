"""Crontab lines (``cron: "30 8 * * 1-5"``) parsed into explicit sets, with crontab's meaning.

Why the crontab is parsed here rather than handed to ``CronTrigger.from_crontab``:
APScheduler numbers weekdays from Monday (``0 = mon``), crontab from Sunday (``0`` and
``7 = Sunday``), so ``from_crontab("0 9 * * 0")`` would fire on Mondays. Every field is
parsed into explicit sets here, and the trigger is built from those sets with weekday
*names*, so the trigger and `slots_on` cannot disagree.

Crontab's "day-of-month OR day-of-week" rule (``0 9 1 * 1`` = the 1st *and* every Monday)
surprises nearly everyone and APScheduler does not implement it (it requires both), so a
line restricting both fields is refused with an explanation; see docs/sop.md.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, time

__all__ = ["MAX_SLOTS_PER_DAY", "CronSpec", "parse_cron"]

# more slots than this in one day is a typo (``* 8 * * *`` = every minute from 8 to 9),
# and would run into WeCom's per-group 群发 limits long before it helped anyone
MAX_SLOTS_PER_DAY = 24

_MONTH_NAMES = {name.lower(): i for i, name in enumerate(calendar.month_abbr) if name}
# crontab day-of-week names: Sunday is 0 (and 7)
_CRON_DOW_NAMES = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}


@dataclass(frozen=True, slots=True)
class CronSpec:
    """A crontab line as explicit sets. Weekdays use Python's numbers (Monday = 0)."""

    source: str
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int] | None  # None: every day of the month (``*``)
    months: frozenset[int]
    weekdays: frozenset[int] | None  # None: every day of the week (``*``)

    def matches(self, day: date) -> bool:
        """Whether the line fires at all on `day` (its hours and minutes aside)."""
        if day.month not in self.months:
            return False
        if self.days is not None and day.day not in self.days:
            return False
        return self.weekdays is None or day.weekday() in self.weekdays

    def times(self) -> list[time]:
        return [time(h, m) for h in sorted(self.hours) for m in sorted(self.minutes)]


def parse_cron(source: str) -> CronSpec:
    """Parse ``minute hour day-of-month month day-of-week`` with crontab's meaning.

    Each field takes ``*``, numbers, ``a-b`` ranges, ``,`` lists and ``/step`` (``*/15``,
    ``8-18/2``); months and weekdays also take names (``jan``, ``mon-fri``). Day-of-week
    ``0`` and ``7`` are both Sunday. Raises ValueError naming the field at fault.
    """
    fields = source.split()
    if source.strip().startswith("@"):
        raise ValueError(
            f"cron: '{source.strip()}' shortcuts are not supported; write five fields "
            '(e.g. "30 8 * * *") or use at: and days:'
        )
    if len(fields) != 5:
        raise ValueError(
            f"cron: expected 5 fields (minute hour day-of-month month day-of-week), "
            f"found {len(fields)} in '{source}'"
        )
    minute, hour, dom, month, dow = fields
    minutes = _cron_field(minute, "minute", 0, 59, {})
    hours = _cron_field(hour, "hour", 0, 23, {})
    days = _cron_field(dom, "day-of-month", 1, 31, {})
    months = _cron_field(month, "month", 1, 12, _MONTH_NAMES)
    raw_dow = _cron_field(dow, "day-of-week", 0, 7, _CRON_DOW_NAMES)
    weekdays = frozenset((d - 1) % 7 for d in raw_dow)  # crontab 1 = Monday, 0/7 = Sunday
    dom_any, dow_any = dom == "*", dow == "*"
    if not dom_any and not dow_any:
        raise ValueError(
            f"cron: '{source}' restricts both day-of-month ({dom}) and day-of-week ({dow}); "
            "crontab would fire when EITHER matches, which is rarely meant. Restrict only "
            "one of them, or write two SOPs"
        )
    if not dom_any and not any(
        d <= calendar.monthrange(2024, m)[1] for m in months for d in days
    ):
        raise ValueError(f"cron: '{source}' names days that none of its months has")
    spec = CronSpec(
        source=" ".join(fields),
        minutes=minutes,
        hours=hours,
        days=None if dom_any else days,
        months=months,
        weekdays=None if dow_any else weekdays,
    )
    per_day = len(minutes) * len(hours)
    if per_day > MAX_SLOTS_PER_DAY:
        raise ValueError(
            f"cron: '{source}' fires {per_day} times a day; an SOP may fire at most "
            f"{MAX_SLOTS_PER_DAY} times a day (check the minute and hour fields)"
        )
    return spec


def _cron_field(
    text: str, name: str, low: int, high: int, names: dict[str, int]
) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise ValueError(f"cron {name}: empty item in '{text}'")
        base, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(f"cron {name}: bad step '/{step_text}' in '{text}'")
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start = _cron_value(first, name, low, high, names)
            end = _cron_value(last, name, low, high, names)
            if start > end:
                raise ValueError(
                    f"cron {name}: range '{base}' runs backwards; write it from low to high "
                    "or as a list"
                )
        else:
            if step_text:
                raise ValueError(
                    f"cron {name}: '{item}' needs a range before the step (e.g. '{base}-{high}/"
                    f"{step_text}' or '*/{step_text}')"
                )
            start = end = _cron_value(base, name, low, high, names)
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _cron_value(text: str, name: str, low: int, high: int, names: dict[str, int]) -> int:
    key = text.lower()
    if key in names:
        return names[key]
    if not text.isdigit():
        allowed = f" or a name ({', '.join(names)})" if names else ""
        raise ValueError(f"cron {name}: '{text}' is not a number {low}-{high}{allowed}")
    value = int(text)
    if not low <= value <= high:
        raise ValueError(f"cron {name}: {value} is outside {low}-{high}")
    return value
