"""The operators read `sop preview`, `sop report` and the SOP files' errors in Chinese
(issue 17): the same outputs the English tests check, in the default language."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from bot.i18n import LANGUAGE_ENV
from bot.moments.records import SlotMoments
from bot.outbox.owner_posts import SlotPosts
from bot.outbox.report import format_report, report
from bot.sop import nominal_groups
from bot.sop.preview import build_preview
from bot.sop.preview_text import format_text
from tests.conftest import REPO
from tests.sop.test_sop_operator_messages import DAILY, loads, problems, world, write
from tests.sop.test_sop_preview import ROBOT_KEYS, write_config

pytestmark = pytest.mark.usefixtures("chinese")
__all__ = ["world"]  # the fixture, used by name

TUESDAY = date(2026, 11, 24)


def test_a_spec_error_is_in_chinese(world: Path) -> None:
    write(world, "templates/sop/hi.j2", "{{ store.name }}早上好\n")
    write(world, "sop/daily.yaml",
          DAILY.replace('at: "08:10"', 'at: "08:10"\n        cron: "0 9 * * *"'))
    (line,) = problems(world)
    assert line.startswith("sop/daily.yaml:")
    assert "at:（加 days:）和 cron: 只写一个；两个都写会互相矛盾" in line
    assert "not both" not in line


def test_a_data_file_error_is_in_chinese(world: Path) -> None:
    write(world, "templates/sop/hi.j2", "{{ store.name }}{{ data.fruit }}\n")
    write(world, "sop/daily.yaml", DAILY.replace(
        "template: sop/hi.j2", "template: sop/hi.j2\n        data: data/fruit.yaml"))
    write(world, "sop/data/fruit.yaml", 'default: {fruit: 青提}\n"9999": {fruit: 草莓}\n')
    assert problems(world) == [
        "sop/daily.yaml:6:11: sops.hi: data/fruit.yaml 有错误（已按它自己的行号列出）",
        "sop/data/fruit.yaml:2:1: 门店 '9999' 不在 stores.yaml 里"]


def test_the_preview_is_in_chinese(world: Path) -> None:
    write(world, "templates/sop/hi.j2", "{{ store.name }}早上好\n")
    write(world, "sop/daily.yaml", DAILY)
    book = loads(world, today=TUESDAY, days=7)
    text = format_text(build_preview(book, TUESDAY, nominal_groups(book.stores, book.group_tags),
                                     groups_kind="nominal", groups_detail="-"))
    assert text.startswith("果田鲜生 SOP 预览 · 2026-11-24 周二（会员日）\n群来源：每店一个示意群")
    assert f"08:10  hi  [群发 group_send] · {len(book.stores)} 家店 · " in text
    assert "群主 林晓雨 (linxiaoyu) 确认发送 1 个群：" in text
    assert "每个群今天收到的群发：1 条 × " in text
    assert "nominal" not in text and "groups" not in text


def test_the_report_is_in_chinese(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(LANGUAGE_ENV, "zh")  # the tests' en would win over the default
    out = io.StringIO()
    config = write_config(tmp_path, tmp_path / "sop", tmp_path / "missing.db")
    assert report(TUESDAY, config=config, out=out) == 1
    assert out.getvalue() == f"错误：{tmp_path / 'missing.db'} 不存在：还什么都没发过\n"
    lines = format_report(
        TUESDAY,
        [("member-day", "2026-11-24 08:30", "wr1", "group_send", "sent")] * 2,
        [SlotPosts("flash-sale", "2026-11-24 14:40", groups=3, posted=1, owners=2,
                   reminded=2, reminders_open=1)],
        [SlotMoments("tuesday-moment", "2026-11-24 10:00", tasks=2, staff=2, posted=1,
                     reminders=1)])
    assert lines == [
        "SOP 发送报告 · 2026-11-24（北京时间）",
        "08:30  member-day             2 个群：已送达 2 个",
        "10:00  tuesday-moment         朋友圈：任务 2 个；员工 2 人，已发表 1 人，"
        "还差 1 人；提醒 1 次",
        "14:40  flash-sale             群主发：应发 3 个群，已发 1 个，还差 2 个；"
        "已提醒 2/2 位群主，1 条提醒还没确认",
    ]
    assert format_report(TUESDAY, [], []) == ["SOP 发送报告 · 2026-11-24（北京时间）",
                                             "这一天没有发到群的 SOP"]


def test_the_commands_speak_chinese_with_no_language_set(tmp_path: Path) -> None:
    """What the demo and an operator's shell get: no BOT_OPERATOR_LANGUAGE, no setting."""
    config = write_config(tmp_path, REPO / "sop", tmp_path / "missing.db")
    env = {k: v for k, v in os.environ.items()
           if k != LANGUAGE_ENV and not k.startswith("WECOM_ROBOT_")}
    env.update(ROBOT_KEYS, PYTHONPATH=str(REPO))

    def run(*args: str) -> str:
        done = subprocess.run([sys.executable, "-m", "bot", "sop", *args, "--config",
                               str(config)], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=120, check=False)
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    checked = run("check", "--from", "2026-12-01", "--days", "7")
    assert f"{REPO / 'sop' / 'stores.yaml'}：正常，" in checked
    assert "ok" not in checked.split()
    previewed = run("preview", "--date", "2026-11-24", "--store", "0112")
    assert previewed.startswith("果田鲜生 SOP 预览 · 2026-11-24 周二（会员日）")
    assert "不存在：还什么都没发过" in previewed


def test_every_delivery_status_has_its_chinese_name_in_the_report() -> None:
    from bot.outbox.status import DeliveryStatus

    for status in DeliveryStatus:
        rows = [("member-day", "2026-11-24 08:30", "wr1", "group_send", status.value)]
        [_, line] = format_report(date(2026, 11, 24), rows, [], [])
        assert status.value not in line, line  # named in Chinese, not by the stored word
