"""The shipped chain's consistency: per-store times, the 群发 quota per group class, dated data.

Per-store times (``at: "store.closes - 30m"``, ``at: "data.window.start - 20m"``) are
resolved when the files load (a store without the time is an error naming the store and
where its entry is) and shown in the preview per store. ``sop check`` counts the 群发 a
group of each class (store × the group tags the 群发 SOPs name) is due per quota period
and warns per class; and it warns when a dated data file goes out on another day.
"""

from __future__ import annotations

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

from bot.books.stores import StoreDirectory
from bot.books.templating import TemplateLibrary
from bot.sop import SopBook
from bot.sop.dated import stale_warnings
from bot.sop.group_tags import nominal_groups
from bot.sop.hours_check import hours_warnings
from bot.sop.preview import build_preview
from bot.sop.preview_text import format_text
from bot.sop.quota_check import quota_warnings
from tests.conftest import REPO
from tests.sop.test_sop_files import MONDAY, ROBOT_KEYS, at, problems, world, write
from tests.sop.test_sop_preview import cli, write_config

WEDNESDAY = date(2026, 12, 2)
__all__ = ["world"]  # the file tests' fixture: a sop/ + templates/ pair in tmp_path


def shipped(root: Path | None = None) -> SopBook:
    base = root or REPO
    stores = StoreDirectory.load(base / "sop" / "stores.yaml")
    return SopBook.load(base / "sop", TemplateLibrary(base / "templates"), stores,
                        environ=ROBOT_KEYS, today=MONDAY)


def copy_repo(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "sop", tmp_path / "sop")
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    return tmp_path


def weekend_as_group_send(tmp_path: Path) -> Path:
    """The shipped files with the weekend 宝妈 SOP as a 群发 (as it shipped before)."""
    root = copy_repo(tmp_path)
    weekly = root / "sop" / "weekly.yaml"
    text = weekly.read_text("utf-8")
    family = text.index("  weekend-family:")
    weekly.write_text(text[:family] + text[family:].replace("via: owner_post",
                                                            "via: group_send", 1), "utf-8")
    return root


# --------------------------------------------------------------------------- per-store times


def test_preview_shows_each_store_at_its_own_time() -> None:
    book = shipped()
    groups = nominal_groups(book.stores, book.group_tags)
    preview = build_preview(book, WEDNESDAY, groups, groups_kind="nominal", groups_detail="-")
    times = {(s.sop.name, s.store_id): f"{s.slot:%H:%M}" for s in preview.sends}
    assert times[("flash-sale", "0012")] == "14:40"
    assert times[("flash-sale", "0112")] == "16:40"  # its flash sale runs 17:00-19:00
    assert times[("goodnight", "0107")] == "22:30"  # open until 23:00
    assert times[("goodnight", "0015")] == "21:30"  # closes 22:00
    assert preview.errors == []
    text = format_text(preview)
    assert ("16:40  flash-sale  [owner_post] · 1 stores · 1 groups · "
            "per store: data.window.start - 20m") in text
    only = format_text(build_preview(book, WEDNESDAY, groups, groups_kind="nominal",
                                     groups_detail="-", store_id="0112"))
    assert "16:40  flash-sale" in only and "14:40  flash-sale" not in only
    assert "no group" not in only  # the other stores' slots are not "not sent" for it
    goodnight = book.get("goodnight")
    assert goodnight.schedule.describe() == "每天 store.closes - 30m（21:30、22:00、22:30）"
    assert goodnight.schedule.times_for("0107") == [at(WEDNESDAY, 22, 30).time()]


def test_tuesday_new_arrivals_go_out_as_the_managers_post_after_opening() -> None:
    book = shipped()
    tuesday = date(2026, 12, 8)
    groups = nominal_groups(book.stores, book.group_tags)
    preview = build_preview(book, tuesday, groups, groups_kind="nominal", groups_detail="-")
    new = {s.store_id: s for s in preview.sends if s.sop.name == "tuesday-new-arrivals"}
    assert len(new) == 6 and all(s.sop.via == "owner_post" for s in new.values())
    assert f"{new['0112'].slot:%H:%M}" == "11:00"  # opens 10:00
    assert new["0112"].message is not None
    assert "会员券早上已经发在群里" in new["0112"].message.text
    assert set(preview.sends_per_group.values()) == {1}  # the member day stays the one 群发


def test_a_store_without_the_named_time_is_an_error_naming_it(world: Path) -> None:
    write(world, "sop/data/sale.yaml", """
        default:
          item: 蓝莓
        "0112":
          window: {start: "17:00"}
        "0107":
          window: {start: 晚上}
        """)
    write(world, "sop/daily.yaml", """
        sops:
          sale:
            at: "data.window.start - 20m"
            to: {groups: {stores: ["0112", "0107", "0012"]}}
            template: sop/hello.j2
            data: data/sale.yaml
          bye:
            at: "store.closing - 30m"
            to: {groups: {stores: all}}
            template: sop/hello.j2
          robot:
            at: "store.closes - 30m"
            via: {robot: store-managers}
            template: sop/hello.j2
        """)
    found = problems(world)
    assert found == [
        "sop/daily.yaml:3:9: sops.sale: no time for every store: store 0012 has no "
        "window.start (sop/data/sale.yaml:1); store 0107 window.start is '晚上', not a time "
        "like \"17:00\" (sop/data/sale.yaml:5)",
        "sop/daily.yaml:8:9: sops.bye.at: 'store.closing - 30m': stores.yaml gives each "
        "store store.opens and store.closes",
        "sop/daily.yaml:12:9: sops.robot: a store's own time (store.…, data.…) needs to: "
        "groups or members; a robot posts once, for no store",
    ]


# --------------------------------------------------------------------------- quota per class


def test_quota_check_warns_per_group_class_and_the_shipped_chain_is_quiet(
        tmp_path: Path) -> None:
    book = shipped()
    assert quota_warnings(book, book.stores, "month", date(2026, 12, 1)) == []
    root = weekend_as_group_send(tmp_path)
    book = shipped(root)
    warned = quota_warnings(book, book.stores, "month", date(2026, 12, 1))
    assert warned[0] == (
        "群发 quota 2026-12: groups tagged 宝妈 get 39 群发, WeCom delivers at most 31 per "
        "group (group_send_quota = month, wecom-reference §6); the outbox holds the rest "
        "back. Stores: 0012, 0015, 0023, 0107, 0112, 0201. Send one of them via: "
        "owner_post, or on fewer days")
    assert len(warned) == 2 and "2027-01: groups tagged 宝妈 get 41 群发" in warned[1]
    assert not any("without" in w for w in warned)  # the other groups get 31: fine
    weekly_rule = quota_warnings(book, book.stores, "week7", date(2026, 12, 1))
    assert weekly_rule == [weekly_rule[0]] and "get 9 群发" in weekly_rule[0]


def test_check_cli_prints_the_class_warning_for_the_months_from_from(
        tmp_path: Path) -> None:
    root = weekend_as_group_send(tmp_path)
    config = write_config(tmp_path, root / "sop", tmp_path / "bot.db")
    for start, month, count, other in (("2026-12-01", "2026-12", 39, "2027-"),
                                       ("2027-03-01", "2027-03", 39, "2026-12")):
        result = cli("check", "--config", str(config), "--from", start, "--days", "20",
                     env=ROBOT_KEYS)
        assert result.returncode == 0, result.stdout
        warned = [line for line in result.stdout.splitlines()
                  if line.startswith("warning: 群发 quota ")]
        assert len(warned) == 1, result.stdout  # only the month the days checked meet
        assert f"quota {month}: groups tagged 宝妈 get {count} 群发" in warned[0]
        assert other not in warned[0]


# --------------------------------------------------------------------------- dated data


def test_dated_new_arrivals_warn_when_the_next_send_is_another_day() -> None:
    book = shipped()  # new_arrivals.yaml: date: 2026-12-04
    evening_before = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)  # 20:00 in Shanghai
    assert stale_warnings(book, evening_before) == []
    after_the_morning = datetime(2026, 12, 4, 1, 0, tzinfo=UTC)  # 09:00, sent already
    (warning,) = stale_warnings(book, after_the_morning)
    line = next(i for i, text in enumerate(
        (REPO / "sop" / "data" / "new_arrivals.yaml").read_text("utf-8").splitlines(), 1)
        if text.startswith("  date:"))
    assert warning == (
        f"{REPO}/sop/data/new_arrivals.yaml:{line}: data/new_arrivals.yaml is dated "
        "2026-12-04, but morning-new-arrivals sends it next on 2026-12-05 (stores 0012, "
        "0015, 0023, 0107, 0112, 0201): update date: and the products before then")
    early = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)  # 2026-12-03 08:30 still to come
    (warning,) = stale_warnings(book, early)
    assert "sends it earlier, on 2026-12-03" in warning


def test_the_morning_message_says_today_only_on_the_datas_day() -> None:
    book = shipped()
    fresh = book.render("morning-new-arrivals", "0012", at(date(2026, 12, 4), 8, 30)).text
    assert "· 今日新鲜到店：" in fresh
    old = book.render("morning-new-arrivals", "0012", at(date(2026, 12, 5), 8, 30)).text
    assert "· 这几天店里的新品：" in old and "今天" not in old and "今日" not in old


# --------------------------------------------------------------------------- opening hours


def test_an_owner_post_outside_a_stores_hours_is_warned_about(tmp_path: Path) -> None:
    assert hours_warnings(shipped()) == []  # every owner post at a time its store is open
    root = copy_repo(tmp_path)
    daily = root / "sop" / "daily.yaml"
    daily.write_text(daily.read_text("utf-8").replace('at: "store.opens + 1h"', 'at: "09:00"'),
                     "utf-8")
    book = shipped(root)
    (warning,) = hours_warnings(book)
    sop = book.get("tuesday-new-arrivals")
    assert warning == (
        f"{sop.where}: sops.tuesday-new-arrivals: 09:00 is outside the opening hours of "
        "stores 0112; their managers post it from the store. Use a store time such "
        "as \"store.closes - 30m\" or \"store.opens + 1h\" (docs/sop.md, Per-store times)")
