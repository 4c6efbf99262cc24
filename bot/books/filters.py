"""The filters the bot adds to Jinja's own: dates, weekdays and prices the way a Chinese shop
writes them in a message.

Its own module because the day context (`bot.books.context`) and the SOP preview need the
weekday names without the template machinery.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

__all__ = ["SHOP_FILTERS", "WEEKDAYS_CN", "cn_date", "cn_weekday", "yuan"]

WEEKDAYS_CN = ("周一", "周二", "周三", "周四", "周五", "周六", "周日")


def cn_date(value: date) -> str:
    """``date(2025, 3, 4)`` -> ``3月4日``, the way a Chinese shop writes a date in a message."""
    return f"{value.month}月{value.day}日"


def cn_weekday(value: date) -> str:
    """``date(2025, 3, 4)`` -> ``周二``."""
    return WEEKDAYS_CN[value.weekday()]


def yuan(value: float | int | str) -> str:
    """``19.9`` -> ``¥19.9``, ``29`` / ``29.0`` -> ``¥29``, ``12.5`` -> ``¥12.5``.

    Prices come from YAML data files as numbers; shops write them without trailing zeros.
    Text that is not a number (``时价``) is printed as it is.
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        return str(value)
    text = f"{number:.2f}".rstrip("0").rstrip(".")
    return f"¥{text}"


SHOP_FILTERS: dict[str, Callable[..., Any]] = {
    "cn_date": cn_date,
    "cn_weekday": cn_weekday,
    "yuan": yuan,
}
