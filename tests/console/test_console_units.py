"""The console's pure parts: health conditions, periods, CSV cells."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from bot.console.days import MAX_SPAN_DAYS, BadPeriod, period, zone
from bot.console.health import parse_condition
from bot.console.pages import Table
from bot.console.render import csv_response

TZ = zone("Asia/Shanghai")


def test_conditions_sum_signals_and_refuse_unknown_ones():
    burst = parse_condition("leaves + removals >= 5")
    assert burst.holds({"leaves": 3, "removals": 2}) and not burst.holds({"leaves": 4})
    assert parse_condition("owner_msg_per_member < 0.2").holds({"owner_msg_per_member": 0.1})
    with pytest.raises(ValueError, match="unknown signal 'messages'"):
        parse_condition("messages >= 3")
    with pytest.raises(ValueError, match="is not `signal >= number`"):
        parse_condition("joins >= lots")


def test_periods_are_checked():
    today = date.today()
    assert period(None, None, TZ, default_days=14)[1] >= today - timedelta(days=1)
    for start, end in (("2026-02-30", None), ("2026-03-01", "2026-02-01"),
                       (str(today - timedelta(days=MAX_SPAN_DAYS)), str(today)),
                       (None, str(today + timedelta(days=30))), ("1999-12-31", "2000-01-01")):
        with pytest.raises(BadPeriod):
            period(start, end, TZ)


def test_csv_cells_never_run_as_formulas():
    table = Table("t", "t", [("name", "群"), ("n", "人数")],
                  [{"name": "=HYPERLINK(\"http://x\")", "n": -3}, {"name": "@SUM(A1)", "n": 0}])
    text = csv_response(table, "t.csv").text or ""
    assert text.startswith("\ufeff群,人数")
    assert "'=HYPERLINK" in text and "'@SUM" in text and ",-3" in text
