"""What every operator template may say about the day, in one place.

Welcomes, SOP messages and 话术 replies all talk about the chain's calendar: 今天周几, is it
the Tuesday member day (会员日), when is the next one. They must agree: a welcome that says
"下周二会员日" while the SOP of the same morning calls Wednesday the member day would lose
the customer's trust. So the day's variables are made here, and each capability adds its
own (customer, channel, data, ...) on top.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from bot.books.templating import WEEKDAYS_CN

MEMBER_WEEKDAY = 1  # Tuesday (Monday = 0): the chain's weekly fruit day / member day

__all__ = ["MEMBER_WEEKDAY", "WEEKDAYS_CN", "Person", "day_context", "next_member_day"]


@dataclass(frozen=True, slots=True)
class Person:
    """``customer`` and ``staff`` in templates: only a name, so templates can't leak ids."""

    name: str


def next_member_day(today: date, member_weekday: int = MEMBER_WEEKDAY) -> date:
    """Today on a member day, else the coming one: "下周二（3月11日）就能用"."""
    return today + timedelta(days=(member_weekday - today.weekday()) % 7)


def day_context(today: date, member_weekday: int = MEMBER_WEEKDAY) -> dict[str, Any]:
    """``today``, ``weekday``, ``is_member_day``, ``next_member_day`` and tomorrow's."""
    tomorrow = today + timedelta(days=1)
    return {
        "today": today,
        "weekday": WEEKDAYS_CN[today.weekday()],
        "is_member_day": today.weekday() == member_weekday,
        "next_member_day": next_member_day(today, member_weekday),
        "tomorrow": tomorrow,
        "tomorrow_weekday": WEEKDAYS_CN[tomorrow.weekday()],
        "tomorrow_is_member_day": tomorrow.weekday() == member_weekday,
    }
