"""Journey files as operators write them: the shipped ones load; every kind of mistake is
reported by ``python -m bot journeys check`` at file:line with its reason; a bad edit
leaves the last good journeys running."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from bot.cli import main
from bot.journeys.cli import run_journeys_command
from tests.conftest import REPO

GOOD = """journeys:
  t:
    title: 测试
    entry: {event: staff_added}
    steps:
      - {id: a, day: 1, at: "10:00", text: "{{ store.name }}你好"}
"""


@pytest.fixture
def repo_copy(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "sop", tmp_path / "sop")
    shutil.copytree(REPO / "templates", tmp_path / "templates")
    (tmp_path / "bot.toml").write_text(
        f'[paths]\nsop_dir = "{tmp_path / "sop"}"\ntemplates_dir = "{tmp_path / "templates"}"\n'
        f'[database]\nurl = "sqlite:///{tmp_path / "bot.db"}"\n', encoding="utf-8")
    return tmp_path


def check(root: Path) -> tuple[int, str]:
    import argparse

    out = io.StringIO()
    code = run_journeys_command(argparse.Namespace(
        config=root / "bot.toml", journeys_command="check"), out)
    return code, out.getvalue()


def test_the_shipped_journeys_pass_the_check(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["journeys", "check"]) == 0
    printed = capsys.readouterr().out
    for name in ("sugar-control", "first-week", "repurchase-coupon", "win-back", "level-up"):
        assert f": {name}: " in printed


MISTAKES = {
    "unknown event": ("entry: {event: staff_added}", "entry: {event: bought_sth}",
                      "unknown event 'bought_sth'", 4),
    "unknown tag": ("entry: {event: staff_added}",
                    "entry: {event: tag_added, tag: 问卷/Z 不存在}",
                    "unknown tag '问卷/Z 不存在'", 4),
    "negative day": ("day: 1,", "day: -2,", "day -2 is before the entry", 6),
    "day 0": ("day: 1,", "day: 0,", "day 0 is the day of entry", 6),
    "undefined variable": ("{{ store.name }}你好", "{{ coupon_code }}你好",
                           "undefined variable 'coupon_code'", 6),
}


@pytest.mark.parametrize("mistake", sorted(MISTAKES))
def test_each_mistake_is_reported_at_its_line(repo_copy: Path, mistake: str) -> None:
    old, new, reason, line = MISTAKES[mistake]
    path = repo_copy / "sop" / "journeys" / "t.yaml"
    path.write_text(GOOD.replace(old, new), encoding="utf-8")
    settings = repo_copy / "sop" / "journeys" / "settings.yaml"
    settings.write_text(settings.read_text(encoding="utf-8").replace(
        "    - level-up ", "    - t\n    - level-up "), encoding="utf-8")
    code, out = check(repo_copy)
    assert code == 1, out
    found = [ln for ln in out.splitlines() if reason in ln]
    assert found and found[0].startswith(f"{path}:{line}:"), out


def test_two_journeys_sharing_the_allowance_without_precedence_are_refused(
        repo_copy: Path) -> None:
    path = repo_copy / "sop" / "journeys" / "t.yaml"
    path.write_text(GOOD, encoding="utf-8")
    code, out = check(repo_copy)
    assert code == 1
    assert f"{path}:2:1: journeys.t: shares each customer's daily 群发 allowance" in out
    assert "list it in allowance.precedence" in out


async def test_a_bad_edit_keeps_the_last_good_journeys(repo_copy: Path) -> None:
    from bot.config import Settings
    from bot.journeys.files import live_journeys

    settings = Settings().with_overrides(paths={"sop_dir": repo_copy / "sop",
                                                "templates_dir": repo_copy / "templates"})
    live = live_journeys(settings)
    live.load_now()
    first = repo_copy / "sop" / "journeys" / "first_week.yaml"
    first.write_text(first.read_text(encoding="utf-8").replace("day: 2", "day: -2"),
                     encoding="utf-8")
    assert await live.reload() is False
    assert live.last_error is not None and "first_week.yaml:" in live.last_error
    assert live.value.get("first-week") is not None  # still the good one
    first.write_text(first.read_text(encoding="utf-8").replace("day: -2", "day: 3"),
                     encoding="utf-8")
    assert await live.reload() is True
    step = live.value.get("first-week").step("tip-storage")  # type: ignore[union-attr]
    assert step is not None and step.day == 3
