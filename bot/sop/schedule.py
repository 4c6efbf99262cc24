"""What an SOP's schedule means: the local times it fires, and the APScheduler triggers for them.

Operators write either ``at`` + ``days`` (``at: "08:30"``, ``days: weekdays``) or a crontab
line (``cron: "30 8 * * 1-5"``), plus ``skip_dates``. Both become one `Schedule`, which
answers the questions the rest of the bot asks:

* `Schedule.slots_on` / `slots_between`: the exact aware datetimes of the slots, for the
  preview, for catching up missed slots after a restart, and for tests;
* `Schedule.triggers`: APScheduler 3 ``CronTrigger`` objects that fire at exactly those
  datetimes (the scheduler's timezone never matters: each trigger carries the SOP's own).

The crontab line is parsed in `bot.sop.cron` (why not by APScheduler is said there).
"""

from __future__ import annotations

import calendar
import difflib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from apscheduler.triggers.cron import CronTrigger  # type: ignore[import-untyped]  # APScheduler 3 ships no type hints

from bot.i18n import t
from bot.sop.cron import MAX_SLOTS_PER_DAY, CronSpec, parse_cron

__all__ = [
    "ALL_DAYS",
    "DEFAULT_TIMEZONE",
    "MAX_SLOTS_PER_DAY",
    "WEEKDAY_KEYS",
    "CronSpec",
    "Schedule",
    "SopTrigger",
    "parse_clock",
    "parse_cron",
    "parse_days",
    "parse_timezone",
]

DEFAULT_TIMEZONE = "Asia/Shanghai"
# Python's date.weekday() order; also APScheduler's day_of_week names
WEEKDAY_KEYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
ALL_DAYS = frozenset(range(7))

_DAY_WORDS: dict[str, frozenset[int]] = {
    "daily": ALL_DAYS,
    "everyday": ALL_DAYS,
    "weekdays": frozenset(range(5)),
    "weekends": frozenset({5, 6}),
}
_DAY_NAMES: dict[str, int] = {}
for _i, _key in enumerate(WEEKDAY_KEYS):
    _DAY_NAMES[_key] = _i
    _DAY_NAMES[calendar.day_name[_i].lower()] = _i  # monday ... sunday
for _i, _cn in enumerate("一二三四五六日"):
    _DAY_NAMES[f"周{_cn}"] = _i
    _DAY_NAMES[f"星期{_cn}"] = _i
_DAY_NAMES["周天"] = _DAY_NAMES["星期天"] = 6

_ALL_MONTHS = frozenset(range(1, 13))
_CLOCK_RE = re.compile(r"(\d{1,2}):(\d{2})")


# --------------------------------------------------------------------------- parsing


def parse_clock(value: str) -> time:
    """``"08:30"`` -> ``time(8, 30)``; ValueError with an operator-readable reason otherwise.

    One-digit hours (``"8:30"``) are accepted, minutes always have two digits, and the time
    must exist on a clock: ``"8:75"`` and ``"24:00"`` are refused.
    """
    found = _CLOCK_RE.fullmatch(value.strip())
    if found is None:
        raise ValueError(t("sop.time_format", value=repr(value)))
    hour, minute = int(found.group(1)), int(found.group(2))
    if hour > 23 or minute > 59:
        raise ValueError(t("sop.time_of_day", value=repr(value)))
    return time(hour, minute)


def parse_days(value: str | Iterable[str]) -> frozenset[int]:
    """``daily`` / ``weekdays`` / ``weekends`` / a day name / a list of day names.

    Returns Python weekday numbers (Monday = 0). Day names are ``mon`` … ``sun``, full
    English names, or ``周一`` … ``周日``; case does not matter.
    """
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _DAY_WORDS:
            return _DAY_WORDS[word]
        items: list[str] = [value]
    else:
        items = list(value)
    if not items:
        raise ValueError(t("sop.days_empty"))
    days: set[int] = set()
    for item in items:
        if not isinstance(item, str):
            raise ValueError(t("sop.days_names", value=repr(item)))
        key = item.strip().lower()
        if key not in _DAY_NAMES:
            known = [*WEEKDAY_KEYS, *_DAY_WORDS]
            close = difflib.get_close_matches(key, known, n=1)
            hint = (t("hint.did_you_mean", name=close[0]) if close
                    else t("hint.allowed", names=", ".join(known)))
            raise ValueError(t("sop.unknown_day", day=item, hint=hint))
        if _DAY_NAMES[key] in days:
            raise ValueError(t("sop.day_twice", day=item))
        days.add(_DAY_NAMES[key])
    return frozenset(days)


def parse_timezone(name: str) -> ZoneInfo:
    """An IANA zone (``Asia/Shanghai``, ``Europe/Berlin``); ValueError with a hint otherwise."""
    try:
        if not name or name.startswith(("/", ".")) or ".." in name:
            raise ZoneInfoNotFoundError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        close = difflib.get_close_matches(name, sorted(available_timezones()), n=1)
        hint = t("hint.did_you_mean", name=close[0]) if close else t("sop.timezone_example")
        raise ValueError(t("sop.unknown_timezone", name=name, hint=hint)) from None


# --------------------------------------------------------------------------- the schedule


class SopTrigger(CronTrigger):  # type: ignore[misc]  # CronTrigger is untyped (Any)
    """A ``CronTrigger`` that fires exactly at `Schedule.slots_on`'s datetimes.

    Two differences from a plain CronTrigger: it does not fire on the SOP's ``skip_dates``
    (local dates), and it fires once, not twice, when a daylight-saving change makes a wall
    time happen twice (02:30 on the last Sunday of October in Berlin): an operator who wrote
    "02:30" means one message. Still a CronTrigger, so APScheduler treats it as one (misfire
    grace, coalescing, job stores); pickles with its skip dates.
    """

    __slots__ = ("skip_dates",)

    def __init__(self, *, skip_dates: Iterable[date] = (), **fields: Any) -> None:
        super().__init__(**fields)
        self.skip_dates: frozenset[date] = frozenset(skip_dates)

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        fire = super().get_next_fire_time(previous_fire_time, now)
        while fire is not None:
            # a wall time skipped by DST comes back as written (02:30 that never happens);
            # as a real instant it is 03:30, which is what `Schedule.slots_on` says too
            fire = local = datetime.fromtimestamp(fire.timestamp(), self.timezone)
            if local.date() in self.skip_dates:
                # skip the whole local day: look again from the next day's midnight
                midnight = _local(local.date() + timedelta(days=1), time(0, 0), self.timezone)
                fire = super().get_next_fire_time(None, midnight)
            elif local.fold == 1:  # the repeated hour of a DST change: fired the first time
                fire = super().get_next_fire_time(fire, fire)
            else:
                return fire
        return None

    def __getstate__(self) -> dict[str, Any]:
        state: dict[str, Any] = super().__getstate__()
        state["skip_dates"] = sorted(self.skip_dates)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        skip = state.pop("skip_dates", ())
        super().__setstate__(state)
        self.skip_dates = frozenset(skip)

    def __repr__(self) -> str:
        base = str(super().__repr__())
        if not self.skip_dates:
            return base
        return base[:-1] + f", skip_dates={len(self.skip_dates)}>"


def _local(day: date, at: time, tz: tzinfo) -> datetime:
    """`at` on `day` in `tz`, as a real instant.

    A time that does not exist (skipped by a daylight-saving jump) moves forward by the
    jump, as the clock on the wall does (02:30 -> 03:30); a time that happens twice means
    its first occurrence. APScheduler's CronTrigger resolves times the same way.
    """
    naive = datetime.combine(day, at, tzinfo=tz)
    return datetime.fromtimestamp(naive.timestamp(), tz)


@dataclass(frozen=True, slots=True)
class Schedule:
    """When one SOP fires: local times on chosen days, or a crontab line; minus skip dates."""

    timezone: ZoneInfo
    times: tuple[time, ...] = ()  # with `weekdays`; empty when `cron` is set
    weekdays: frozenset[int] = ALL_DAYS  # Python numbering, Monday = 0
    cron: CronSpec | None = None
    skip_dates: frozenset[date] = frozenset()
    # per-store times (``at: "store.closes - 30m"``): each store's own times; `times` is
    # then their union, one slot per distinct time, and `stores_at` says whose slot it is
    per_store: tuple[tuple[str, tuple[time, ...]], ...] = ()
    rule: str = ""  # the operator's words for per-store times, for `describe`

    def __post_init__(self) -> None:
        if (self.cron is None) == (not self.times):
            raise ValueError("a schedule has either times or a cron line")

    # ------------------------------------------------------------------ days and slots

    def fires_on(self, day: date) -> bool:
        """Whether the SOP has any slot on the local date `day`."""
        return day not in self.skip_dates and self.would_fire_on(day)

    def would_fire_on(self, day: date) -> bool:
        """Whether `day` is one of the SOP's days, its ``skip_dates`` aside (a skip date
        matters only on such a day)."""
        if self.cron is not None:
            return self.cron.matches(day)
        return day.weekday() in self.weekdays

    def local_times(self) -> list[time]:
        """The wall-clock times of a firing day, in order."""
        return self.cron.times() if self.cron is not None else sorted(self.times)

    def slots_on(self, day: date) -> list[datetime]:
        """Every slot on the local date `day`: aware datetimes in the SOP's timezone."""
        if not self.fires_on(day):
            return []
        slots = {_local(day, at, self.timezone) for at in self.local_times()}
        return sorted(s for s in slots if s.date() == day)

    def stores_at(self, slot: datetime) -> frozenset[str] | None:
        """The stores whose own time `slot` is (per-store times), or None: every store.

        A time that is no store's own (a slot planned by hand, e.g. "send it now") goes to
        every store, as it would for an SOP with one fixed time; the scheduler only ever
        plans the stores' own times."""
        if not self.per_store:
            return None
        local = slot.astimezone(self.timezone)
        found = frozenset(store for store, times in self.per_store
                          if any(_local(local.date(), at, self.timezone) == slot
                                 for at in times))
        return found or None

    def slots_at(self, day: date, times: tuple[time, ...]) -> list[datetime]:
        """The slots on `day` at `times` (one store's own, per-store times), in order;
        a time the SOP has no slot for on `day` is left out. The load check asks once per
        day and distinct times, not per store (10,000 stores share a few times)."""
        on_day = set(self.slots_on(day))
        found = (_local(day, at, self.timezone) for at in sorted(times))
        return [slot for slot in found if slot in on_day]

    def times_for(self, store_id: str) -> list[time]:
        """The wall-clock times of `store_id` on a firing day (all times if not per store)."""
        for store, times in self.per_store:
            if store == store_id:
                return sorted(times)
        return [] if self.per_store else self.local_times()

    def slots_between(self, start: datetime, end: datetime) -> list[datetime]:
        """Slots in ``[start, end)``; both bounds must be aware (any timezone, UTC usual)."""
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("slots_between needs aware datetimes (e.g. in UTC)")
        first = start.astimezone(self.timezone).date() - timedelta(days=1)
        last = end.astimezone(self.timezone).date() + timedelta(days=1)
        return [
            slot
            for day in _days(first, last)
            for slot in self.slots_on(day)
            if start <= slot < end
        ]

    def next_slot(self, after: datetime, *, within_days: int = 400) -> datetime | None:
        """The first slot strictly after `after` (aware), looking at most `within_days` ahead."""
        if after.tzinfo is None:
            raise ValueError("next_slot needs an aware datetime")
        day = after.astimezone(self.timezone).date()
        for offset in range(within_days + 1):
            for slot in self.slots_on(day + timedelta(days=offset)):
                if slot > after:
                    return slot
        return None

    def sample_days(self, start: date, *, within_days: int = 400) -> list[date]:
        """One firing day per weekday the SOP fires on, from `start`: what `check` renders."""
        found: dict[int, date] = {}
        for offset in range(within_days):
            day = start + timedelta(days=offset)
            if day.weekday() not in found and self.fires_on(day):
                found[day.weekday()] = day
                if len(found) == 7:
                    break
        return sorted(found.values())

    # ------------------------------------------------------------------ APScheduler

    def triggers(self) -> list[CronTrigger]:
        """APScheduler triggers that together fire at exactly `slots_between`'s datetimes.

        One trigger per time of day for ``at``/``days``, one for a cron line; each carries
        the SOP's timezone explicitly and skips ``skip_dates``. Weekdays are passed by name
        (``mon,tue``), never by number, because APScheduler numbers them from Monday.
        """
        if self.cron is not None:
            spec = self.cron
            fields: dict[str, str] = {
                "minute": _join(spec.minutes),
                "hour": _join(spec.hours),
                "month": "*" if spec.months == _ALL_MONTHS else _join(spec.months),
                "day": "*" if spec.days is None else _join(spec.days),
                "day_of_week": _weekday_names(spec.weekdays),
            }
            return [self._trigger(fields)]
        return [
            self._trigger(
                {
                    "hour": str(at.hour),
                    "minute": str(at.minute),
                    "day_of_week": _weekday_names(self.weekdays),
                }
            )
            for at in sorted(self.times)
        ]

    def _trigger(self, fields: dict[str, str]) -> CronTrigger:
        return SopTrigger(skip_dates=self.skip_dates, second="0", timezone=self.timezone, **fields)

    # ------------------------------------------------------------------ words

    def describe(self) -> str:
        """For people: ``每天 08:30``, ``周二 10:10``, ``cron 30 8 * * 1-5 (周一至周五…)``."""
        clock = "、".join(t.strftime("%H:%M") for t in self.local_times()[:4])
        if len(self.local_times()) > 4:
            clock += f" …（每天 {len(self.local_times())} 次）"
        if self.rule:
            return f"{describe_days(self.weekdays)} {self.rule}（{clock}）"
        if self.cron is None:
            return f"{describe_days(self.weekdays)} {clock}"
        spec = self.cron
        if spec.days is None and spec.months == _ALL_MONTHS:
            return f"cron {spec.source} = {describe_days(spec.weekdays or ALL_DAYS)} {clock}"
        return f"cron {spec.source}"


def describe_days(days: frozenset[int]) -> str:
    """``{0..6}`` -> 每天, ``{0..4}`` -> 工作日, ``{1}`` -> 周二, ``{0, 2}`` -> 周一、周三."""
    if days == ALL_DAYS:
        return "每天"
    if days == _DAY_WORDS["weekdays"]:
        return "工作日"
    if days == _DAY_WORDS["weekends"]:
        return "周末"
    return "、".join("周" + "一二三四五六日"[d] for d in sorted(days))


def _weekday_names(days: frozenset[int] | None) -> str:
    if days is None or days == ALL_DAYS:
        return "*"
    return ",".join(WEEKDAY_KEYS[d] for d in sorted(days))


def _join(values: frozenset[int]) -> str:
    return ",".join(str(v) for v in sorted(values))


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def utc_now() -> datetime:
    """Now, aware, in UTC (one place to look when reading how "now" is taken)."""
    return datetime.now(UTC)
