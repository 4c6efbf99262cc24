"""Crontab lines (``cron: "30 8 * * 1-5"``) parsed into explicit sets, with crontab's meaning.

Why the crontab is parsed here rather than handed to ``CronTrigger.from_crontab``:
APScheduler numbers weekdays from Monday (``0 = mon``), crontab from Sunday (``0`` and
``7 = Sunday``), so ``from_crontab("0 9 * * 0")`` would fire on Mondays. Every field is
parsed into explicit sets here, and the trigger is built from those sets with weekday
*names*, so the trigger and `slots_on` cannot disagree.

Crontab's "day-of-month OR day-of-week" rule (``0 9 1 * 1`` = the 1st *and* every Monday)
surprises nearly everyone and APScheduler does not implement it (it requires both), so a
line restricting both fields is refused with an explanation; see docs/sop.md. Crontab
applies that rule only when neither field starts with ``*``: ``0 9 */2 * 1`` fires on the
Mondays that are odd days of the month (both must match), and so it does here.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, time

from bot.i18n import t

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
        raise ValueError(t("cron.shortcut", source=source.strip()))
    if len(fields) != 5:
        raise ValueError(t("cron.field_count", count=len(fields), source=source))
    minute, hour, dom, month, dow = fields
    minutes = _cron_field(minute, "minute", 0, 59, {})
    hours = _cron_field(hour, "hour", 0, 23, {})
    days = _cron_field(dom, "day-of-month", 1, 31, {})
    months = _cron_field(month, "month", 1, 12, _MONTH_NAMES)
    raw_dow = _cron_field(dow, "day-of-week", 0, 7, _CRON_DOW_NAMES)
    weekdays = frozenset((d - 1) % 7 for d in raw_dow)  # crontab 1 = Monday, 0/7 = Sunday
    dom_any, dow_any = dom == "*", dow == "*"
    # crontab's OR rule holds only when neither field starts with "*" (``*/2`` included):
    # otherwise both must match, which is what `CronSpec.matches` does
    if not dom.startswith("*") and not dow.startswith("*"):
        raise ValueError(t("cron.dom_or_dow", source=source, dom=dom, dow=dow))
    if not dom_any and not any(
        d <= calendar.monthrange(2024, m)[1] for m in months for d in days
    ):
        raise ValueError(t("cron.no_such_day", source=source))
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
        raise ValueError(t("cron.too_often", source=source, count=per_day,
                           limit=MAX_SLOTS_PER_DAY))
    return spec


def _cron_field(
    text: str, name: str, low: int, high: int, names: dict[str, int]
) -> frozenset[int]:
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise ValueError(t("cron.empty_item", field=_field(name), text=text))
        base, _, step_text = item.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise ValueError(t("cron.bad_step", field=_field(name), step=step_text, text=text))
            step = int(step_text)
        if base == "*":
            start, end = low, high
        elif "-" in base:
            first, _, last = base.partition("-")
            start = _cron_value(first, name, low, high, names)
            end = _cron_value(last, name, low, high, names)
            if start > end:
                raise ValueError(t("cron.backwards", field=_field(name), range=base))
        else:
            if step_text:
                raise ValueError(t("cron.step_needs_range", field=_field(name), item=item,
                                   base=base, high=high, step=step_text))
            start = end = _cron_value(base, name, low, high, names)
        values.update(range(start, end + 1, step))
    return frozenset(values)


def _cron_value(text: str, name: str, low: int, high: int, names: dict[str, int]) -> int:
    key = text.lower()
    if key in names:
        return names[key]
    if not text.isdigit():
        if names:
            raise ValueError(t("cron.not_a_number_or_name", field=_field(name), text=text, low=low,
                               high=high, names=", ".join(names)))
        raise ValueError(t("cron.not_a_number", field=_field(name), text=text, low=low, high=high))
    value = int(text)
    if not low <= value <= high:
        raise ValueError(t("cron.outside", field=_field(name), value=value, low=low, high=high))
    return value


def _field(name: str) -> str:
    """A field's name as operators call it (``day-of-week`` is 星期 in Chinese)."""
    return {
        "minute": t("cron.field.minute"),
        "hour": t("cron.field.hour"),
        "day-of-month": t("cron.field.day_of_month"),
        "month": t("cron.field.month"),
        "day-of-week": t("cron.field.day_of_week"),
    }.get(name, name)
