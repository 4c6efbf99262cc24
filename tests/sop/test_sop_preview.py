"""`sop preview` and `sop check`: what a day sends, and the command line as operators run it.

The command-line tests run the real command in a subprocess, against the real sop/ and
templates/ through a config file, so exit codes and output are what an operator sees.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine
from sqlmodel import SQLModel

from bot.books.stores import StoreDirectory
from bot.books.templating import TemplateLibrary
from bot.db.tables import CustomerGroup
from bot.sop import GroupRow, SopBook, nominal_groups
from bot.sop.preview import build_preview, group_send_counts
from bot.sop.preview_text import format_text
from tests.conftest import REPO

TUESDAY = date(2026, 11, 24)
SATURDAY = date(2026, 11, 28)
SPRING_FESTIVAL = date(2027, 2, 6)  # in the daily SOPs' skip_dates
ROBOT_KEYS = {"WECOM_ROBOT_STORE_MANAGERS": "k1", "WECOM_ROBOT_HQ_OPS": "k2"}


@pytest.fixture(scope="module")
def book() -> SopBook:
    stores = StoreDirectory.load(REPO / "sop" / "stores.yaml")
    return SopBook.load(REPO / "sop", TemplateLibrary(REPO / "templates"), stores,
                        environ=ROBOT_KEYS, today=date(2026, 11, 23))


def real_groups(book: SopBook) -> list[GroupRow]:
    """Groups as the bot would have recorded them: two owners share store 0012."""
    rows = [
        GroupRow("wrA1", "果田鲜生·天钥桥路店福利群", "linxiaoyu", "0012"),
        GroupRow("wrA2", "果田鲜生·天钥桥路店福利2群", "linxiaoyu", "0012"),
        GroupRow("wrA3", "天钥桥路店宝妈群", "xiaoxian", "0012"),
        GroupRow("wrB1", "果田鲜生·文三路店福利群", "wangtingting", "0107"),
        GroupRow("wrZ9", "小鲜的水果群", "xiaoxian", None),
    ]
    return [book.group_tags.apply(row) for row in rows]


# --------------------------------------------------------------------------- building


def test_a_tuesday_with_nominal_groups(book: SopBook) -> None:
    groups = nominal_groups(book.stores, book.group_tags)
    preview = build_preview(book, TUESDAY, groups, groups_kind="nominal",
                            groups_detail="no database")
    order = [(f"{s.slot:%H:%M}", s.sop.name) for s in preview.sends]
    # Tuesday's 08:30 群发 is the member day: it replaces the morning new arrivals
    assert order[:7] == [("08:30", "member-day")] * 6 + [("08:40", "manager-reminder")]
    assert {name for _, name in order} == {
        "manager-reminder", "member-day", "tuesday-new-arrivals", "flash-sale", "goodnight",
        "tuesday-moment",  # the new arrivals in 客户朋友圈 too: no 群发 quota
    }  # no weekend SOP on a Tuesday, no Monday robot post; new arrivals as an owner post
    moments = [s for s in preview.sends if s.sop.via == "moment"]
    assert len(moments) == len(book.stores) and all(not s.owners[0].groups for s in moments)
    [call] = moments[0].requests()
    assert call["api"] == "externalcontact/add_moment_task"
    assert call["body"]["visible_range"] == {
        "sender_list": {"user_list": [moments[0].owners[0].owner]}}
    assert ("10:00  tuesday-moment  [moment: posted by the store's staff, seen by all "
            "customers]") in format_text(preview)
    assert "each confirm the post in 客户朋友圈" in format_text(preview)
    assert preview.errors == []
    assert ("member-day-gold", "enabled: false") in preview.skipped
    # the member day is each group's one 群发; the flash sale and goodnight are owner posts
    assert set(preview.sends_per_group.values()) == {1}
    text = format_text(preview)
    assert text.startswith("SOP preview · 2026-11-24 Tue (member day)")
    assert "one nominal group per store" in text
    assert "    │ 【周二会员日】11月24日，天钥桥路店会员专享券：" in text
    assert ("owner 林晓雨 (linxiaoyu) confirms the send to 1 groups: "
            "果田鲜生·天钥桥路店福利群") in text
    assert "14:40  flash-sale  [owner_post]" in text
    assert ("owner 林晓雨 (linxiaoyu) is reminded and posts from the sidebar to 1 groups: "
            "果田鲜生·天钥桥路店福利群") in text


def test_one_add_msg_template_per_owner_and_store(book: SopBook) -> None:
    preview = build_preview(book, TUESDAY, real_groups(book), store_id="0012")
    morning = [s for s in preview.sends if s.sop.name == "member-day"]
    assert len(morning) == 1  # rendered once for the store
    requests = morning[0].requests()
    assert [r["body"]["sender"] for r in requests] == ["linxiaoyu", "xiaoxian"]
    assert requests[0]["body"]["chat_id_list"] == ["wrA1", "wrA2"]
    assert requests[1]["body"]["chat_id_list"] == ["wrA3"]
    assert all(r["api"] == "externalcontact/add_msg_template" for r in requests)
    assert requests[0]["body"]["text"]["content"] == morning[0].message.text  # type: ignore[union-attr]
    assert "wrZ9" not in preview.sends_per_group  # a group with no store gets no SOP


def test_a_saturday_reaches_the_tagged_groups_only(book: SopBook) -> None:
    preview = build_preview(book, SATURDAY, real_groups(book))
    family = [s for s in preview.sends if s.sop.name == "weekend-family"]
    assert [(s.store_id, [g.chat_id for b in s.owners for g in b.groups]) for s in family] == [
        ("0012", ["wrA3"]),
    ]
    assert "阳光玫瑰青提" in family[0].message.text  # type: ignore[union-attr]
    assert not any(s.sop.name == "member-day" for s in preview.sends)
    nominal = build_preview(book, SATURDAY, nominal_groups(book.stores, book.group_tags))
    assert ("weekend-family", "10:40: no group with group tags 宝妈 matches") in nominal.skipped


def test_skip_dates_show_as_not_sent(book: SopBook) -> None:
    preview = build_preview(book, SPRING_FESTIVAL, nominal_groups(book.stores))
    assert ("morning-new-arrivals", "skip_dates: 2027-02-06") in preview.skipped
    assert ("manager-reminder", "skip_dates: 2027-02-06") in preview.skipped
    assert preview.sends == []  # a Saturday: only weekend-family, and no group is tagged 宝妈


def test_group_send_counts_over_a_week(book: SopBook) -> None:
    groups = nominal_groups(book.stores, book.group_tags)
    week = [date(2026, 11, 23 + i) for i in range(7)]
    counts = group_send_counts(book, groups, week)
    # one 群发 a day (Tuesday's is the member day); flash sale and goodnight are owner posts,
    # which use none of the quota
    assert counts["nominal-0012"] == 7


# --------------------------------------------------------------------------- command line


def cli(*args: str, cwd: Path = REPO, env: dict[str, str] | None = None,
        ) -> subprocess.CompletedProcess[str]:
    """Run ``python -m bot sop ...`` (``python -m bot.sop`` until bot/cli.py wires it)."""
    wired = "add_sop_commands" in (REPO / "bot" / "cli.py").read_text(encoding="utf-8")
    entry = ["-m", "bot", "sop"] if wired else ["-m", "bot.sop"]
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("WECOM_ROBOT_")}
    full_env.update(env or {})
    full_env["PYTHONPATH"] = str(REPO)
    return subprocess.run(
        [sys.executable, *entry, *args], cwd=cwd, env=full_env, capture_output=True,
        text=True, timeout=60, check=False,
    )


def write_config(tmp_path: Path, sop_dir: Path, db: Path) -> Path:
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\nurl = "sqlite:///{db}"\n\n'
        f'[paths]\nsop_dir = "{sop_dir}"\ntemplates_dir = "{REPO / "templates"}"\n',
        encoding="utf-8",
    )
    return config


def make_group_db(path: Path, rows: list[tuple[Any, ...]]) -> None:
    engine = create_engine(f"sqlite:///{path}")
    try:
        SQLModel.metadata.create_all(engine, tables=[CustomerGroup.__table__])  # type: ignore[list-item]
    finally:
        engine.dispose()
    with sqlite3.connect(path) as conn:
        conn.executemany(
            "INSERT INTO customer_group (chat_id, name, owner, store_id, dismissed_at, "
            "member_version) VALUES (?, ?, ?, ?, ?, '')",
            rows,
        )


def test_preview_cli_with_nominal_groups(tmp_path: Path) -> None:
    config = write_config(tmp_path, REPO / "sop", tmp_path / "missing.db")
    result = cli("preview", "--date", "2026-11-24", "--store", "0112", "--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "SOP preview · 2026-11-24 Tue" in out
    assert f"{tmp_path / 'missing.db'} does not exist" in out
    assert "08:30  member-day  [group_send] · 1 stores · 1 groups" in out
    assert "    │ 【限时秒杀】11月24日 周二 17:00-19:00" in out  # 0112's own window
    assert ("    + link 《周二会员日｜领本周会员券》 "
            "https://m.guotian.example/member-day/coupons?store=0112") in out
    assert "08:40  manager-reminder  [robot store-managers" in out
    assert "天钥桥路店" not in out  # --store 0112 only
    assert not (tmp_path / "missing.db").exists()  # a preview never creates the database


def test_preview_cli_json_with_database_groups(tmp_path: Path) -> None:
    db = tmp_path / "bot.db"
    make_group_db(db, [
        ("wrA1", "果田鲜生·天钥桥路店福利群", "linxiaoyu", "0012", None),
        ("wrA3", "天钥桥路店宝妈群", "xiaoxian", "0012", None),
        ("wrOld", "已解散", "linxiaoyu", "0012", 1_700_000_000.0),
    ])
    config = write_config(tmp_path, REPO / "sop", db)
    keys = {"WECOM_ROBOT_STORE_MANAGERS": "sekrit-key-1", "WECOM_ROBOT_HQ_OPS": "sekrit-key-2"}
    result = cli("preview", "--date", "2026-11-28", "--json", "--config", str(config), env=keys)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["groups"] == {"source": "database", "detail": f"sqlite:///{db}", "count": 2}
    family = [s for s in data["sends"] if s["sop"] == "weekend-family"]
    assert [(s["store_id"], s["time"]) for s in family] == [("0012", "10:40")]
    (request,) = family[0]["requests"]  # the weekend 宝妈 post is the owner's: no 群发
    assert request == {"api": "message/send", "reminds": "xiaoxian", "groups": ["wrA3"]}
    assert family[0]["slot"] == "2026-11-28T10:40:00+08:00"
    morning = next(s for s in data["sends"] if s["sop"] == "morning-new-arrivals")
    assert [o["owner"] for o in morning["owners"]] == ["linxiaoyu", "xiaoxian"]
    robot = next(s for s in data["sends"] if s["via"] == "robot")
    assert robot["requests"][0]["body"]["text"]["mentioned_list"] == ["@all"]
    assert "sekrit" not in result.stdout  # webhook keys are never printed
    # the morning 群发, one per group; owner posts (the 宝妈 weekend post too) are not 群发
    assert data["group_sends_per_group"] == {"wrA1": 1, "wrA3": 1}
    flash = next(s for s in data["sends"] if s["sop"] == "flash-sale")
    assert flash["via"] == "owner_post" and flash["text"].startswith("【限时秒杀】")
    assert {r["api"] for r in flash["requests"]} == {"message/send"}


def test_check_cli_ok_on_the_real_files(tmp_path: Path) -> None:
    config = write_config(tmp_path, REPO / "sop", tmp_path / "bot.db")
    result = cli("check", "--config", str(config), env=ROBOT_KEYS)
    assert result.returncode == 0, result.stdout
    lines = result.stdout.splitlines()
    sop = REPO / "sop"
    assert f"{sop / 'stores.yaml'}: ok, 6 stores, 2 other staff" in lines
    assert f"{sop / 'channels.yaml'}: ok, 6 channels" in lines
    assert f"{sop / 'robots.yaml'}: ok, 2 robots" in lines
    assert any(line.startswith(f"{sop / 'daily.yaml'}: ok, 5 SOPs: morning-new-arrivals")
               for line in lines)
    assert f"{sop / 'data/new_arrivals.yaml'}: ok, default + 5 stores" in lines
    assert not any("is not set" in line for line in lines)


def test_check_cli_warns_about_unset_robot_keys(tmp_path: Path) -> None:
    result = cli("check", "sop")  # the folder as an argument, from the repository
    assert result.returncode == 0, result.stdout
    assert ("warning: sop/robots.yaml:24:14: robots.store-managers.key_env: "
            "WECOM_ROBOT_STORE_MANAGERS is not set") in result.stdout


def test_check_cli_lists_every_problem_and_exits_1(tmp_path: Path) -> None:
    sop = tmp_path / "sop"
    shutil.copytree(REPO / "sop", sop)
    daily = sop / "daily.yaml"
    text = daily.read_text(encoding="utf-8")
    text = text.replace('at: "08:40"', 'at: "14:75"').replace(
        "template: sop/goodnight.j2", "template: sop/good_night.j2")
    daily.write_text(text, encoding="utf-8")
    channels = sop / "channels.yaml"
    original = channels.read_text(encoding="utf-8")
    channels.write_text(original.replace("    tags:\n", "    tagz:\n", 1), encoding="utf-8")
    config = write_config(tmp_path, sop, tmp_path / "bot.db")
    result = cli("check", "--config", str(config), env=ROBOT_KEYS)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    tagz = 1 + channels.read_text(encoding="utf-8").splitlines().index("    tagz:")
    line_of = {n: i + 1 for i, line in enumerate(text.splitlines())
               for n in ("14:75", "good_night") if n in line}
    assert lines[:3] == [
        f"{channels}:{tagz}:5: channels.store-counter: unknown key 'tagz' (did you mean 'tags'?)",
        f"{daily}:{line_of['14:75']}:9: sops.manager-reminder.at: '14:75' is not a time of day: "
        "hours are 00-23 and minutes 00-59",
        f"{daily}:{line_of['good_night']}:15: sops.goodnight: sop/good_night.j2: template not "
        f"found under {REPO / 'templates'}",
    ]
    assert lines[-1] == "3 problems; fix them and run the check again"


def test_preview_cli_refuses_broken_files_and_unknown_stores(tmp_path: Path) -> None:
    sop = tmp_path / "sop"
    shutil.copytree(REPO / "sop", sop)
    (sop / "weekly.yaml").write_text("sops:\n  x:\n    at: '25:00'\n", encoding="utf-8")
    config = write_config(tmp_path, sop, tmp_path / "bot.db")
    result = cli("preview", "--date", "2026-11-24", "--config", str(config))
    assert result.returncode == 1
    assert f"{sop / 'weekly.yaml'}:3:9: sops.x.at: '25:00' is not a time of day" in result.stdout
    good = write_config(tmp_path, REPO / "sop", tmp_path / "bot.db")
    result = cli("preview", "--date", "2026-11-24", "--store", "9999", "--config", str(good))
    assert result.returncode == 1 and "store '9999' is not in stores.yaml" in result.stdout
    result = cli("preview", "--date", "24.11.2026", "--config", str(good))
    assert result.returncode == 2 and "expected a date like 2026-11-24" in result.stderr
