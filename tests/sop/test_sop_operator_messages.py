"""What `sop check` and `sop preview` tell operators (issue 17): the template's own
file:line first, one error per mistake, real dates checked (`--from`, `--days`), skip dates
only where they apply, crontab's ``*/`` day-of-month, and all of it in Chinese by default."""

from __future__ import annotations

import shutil
import textwrap
from datetime import date
from pathlib import Path

import pytest

from bot.books.stores import StoreDirectory
from bot.books.templating import TemplateLibrary
from bot.books.yamlfile import OperatorFileErrors
from bot.i18n import speaking
from bot.sop import SopBook, nominal_groups
from bot.sop.cron import parse_cron
from bot.sop.preview import build_preview
from tests.conftest import REPO
from tests.sop.test_sop_preview import ROBOT_KEYS, cli, write_config

MONDAY = date(2026, 11, 23)


@pytest.fixture
def world(tmp_path: Path) -> Path:
    """A copy of the real sop/ with one SOP file of the test's own, and templates/."""
    sop = tmp_path / "sop"
    (sop / "data").mkdir(parents=True)
    for name in ("stores.yaml", "robots.yaml", "groups.yaml"):
        shutil.copy(REPO / "sop" / name, sop / name)
    (tmp_path / "templates" / "sop").mkdir(parents=True)
    return tmp_path


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def problems(root: Path, *, today: date = MONDAY, days: int = 35) -> list[str]:
    stores = StoreDirectory.load(root / "sop" / "stores.yaml")
    with pytest.raises(OperatorFileErrors) as caught:
        SopBook.load(root / "sop", TemplateLibrary(root / "templates"), stores,
                     environ=ROBOT_KEYS, today=today, days=days)
    return [str(e).replace(f"{root}/", "") for e in caught.value]


def loads(root: Path, *, today: date, days: int) -> SopBook:
    stores = StoreDirectory.load(root / "sop" / "stores.yaml")
    return SopBook.load(root / "sop", TemplateLibrary(root / "templates"), stores,
                        environ=ROBOT_KEYS, today=today, days=days)


DAILY = """
    sops:
      hi:
        at: "08:10"
        to: {groups: {stores: all}}
        template: sop/hi.j2
"""


def test_a_template_mistake_points_at_the_templates_own_line_first(world: Path) -> None:
    write(world, "templates/sop/hi.j2", "早上好\n{{ store.name }}\n今天{{ weekdya }}\n")
    write(world, "sop/daily.yaml", DAILY)
    (line,) = problems(world)
    assert line.startswith("templates/sop/hi.j2:3: ")  # where the editor should jump
    assert line == ("templates/sop/hi.j2:3: undefined variable 'weekdya' (did you mean "
                    "'weekday'?) [sops.hi, template: at sop/daily.yaml:5:15]")


def test_in_chinese_by_default(world: Path) -> None:
    write(world, "templates/sop/hi.j2", "早上好\n{{ store.name }}\n今天{{ weekdya }}\n")
    write(world, "sop/daily.yaml", DAILY)
    with speaking("zh"):
        assert problems(world) == [
            "templates/sop/hi.j2:3: 模板里用了未定义的变量 weekdya（是不是 weekday？）"
            "［SOP hi 在 sop/daily.yaml:5:15 用到这个模板］"
        ]


def test_a_misspelt_key_is_one_error(world: Path) -> None:
    write(world, "templates/sop/hi.j2", "{{ store.name }}早上好\n")
    write(world, "sop/daily.yaml", """
        sops:
          hi:
            at: "08:10"
            to: {groups: {stores: all}}
            tempalte: sop/hi.j2
    """)
    # not also "missing required key 'template'" (the echo of the same typo), before it
    assert problems(world) == [
        "sop/daily.yaml:5:15: sops.hi: unknown key 'tempalte' (did you mean 'template'?)"
    ]
    with speaking("zh"):
        assert problems(world) == [
            "sop/daily.yaml:5:15: sops.hi: 不认识的键 tempalte（是不是 template？）"
        ]


def test_a_missing_key_with_no_typo_beside_it_is_still_reported(world: Path) -> None:
    write(world, "sop/daily.yaml", """
        sops:
          hi:
            at: "08:10"
            to: {groups: {stores: all}}
            note: 早安
    """)
    assert problems(world) == ["sop/daily.yaml:2:3: sops.hi: missing required key 'template'"]


# a mistake that shows on the 29th only: sample weekdays from a Monday would not find it
ON_THE_29TH = "{% if date.day == 29 %}{{ store.nmae }}{% endif %}{{ store.name }}早上好\n"


def test_real_dates_are_checked_from_and_for_the_days_asked(world: Path) -> None:
    write(world, "templates/sop/hi.j2", ON_THE_29TH)
    write(world, "sop/daily.yaml", DAILY)
    loads(world, today=date(2026, 12, 1), days=20)  # Dec 1-20: no 29th, loads
    (line,) = problems(world, today=date(2026, 12, 20), days=14)
    assert line.startswith("templates/sop/hi.j2:1: undefined value: ")
    assert "has no attribute 'nmae'" in line and "2026-12-29 周二" in line
    (line,) = problems(world, today=MONDAY)  # 35 days from Nov 23 reach Nov 29 and Dec 29
    assert "2026-11-29 周日" in line


def test_check_cli_takes_from_and_days(world: Path) -> None:
    write(world, "templates/sop/hi.j2", ON_THE_29TH)
    write(world, "sop/daily.yaml", DAILY)
    config = write_config(world, world / "sop", world / "bot.db")
    config.write_text(config.read_text(encoding="utf-8").replace(
        f'templates_dir = "{REPO / "templates"}"', f'templates_dir = "{world / "templates"}"'),
        encoding="utf-8")
    ok = cli("check", "--config", str(config), "--from", "2026-12-01", "--days", "20",
             env=ROBOT_KEYS)
    assert ok.returncode == 0, ok.stdout
    bad = cli("check", "--config", str(config), "--from", "2026-12-20", "--days", "14",
              env={**ROBOT_KEYS, "BOT_OPERATOR_LANGUAGE": "zh"})
    assert bad.returncode == 1
    lines = bad.stdout.splitlines()
    assert lines[0].startswith(f"{world / 'templates/sop/hi.j2'}:1: 模板里用到的值不存在：")
    assert "门店 0012，2026-12-29 周二" in lines[0]
    assert lines[-1] == "共 1 处问题；改好后请再运行一次检查"
    refused = cli("check", "--config", str(config), "--days", "0")
    assert refused.returncode == 2 and "from 1 to 400" in refused.stderr


def test_preview_lists_a_skip_date_only_on_a_day_the_sop_fires(world: Path) -> None:
    write(world, "templates/sop/hi.j2", "{{ store.name }}会员日\n")
    write(world, "sop/daily.yaml", """
        sops:
          tuesdays:
            at: "08:10"
            days: [周二]
            skip_dates: [2026-11-23, 2026-11-24]
            to: {groups: {stores: all}}
            template: sop/hi.j2
    """)
    book = loads(world, today=MONDAY, days=35)
    groups = nominal_groups(book.stores, book.group_tags)
    monday = build_preview(book, date(2026, 11, 23), groups)
    assert monday.skipped == [] and monday.sends == []  # a Monday: it never sends anyway
    tuesday = build_preview(book, date(2026, 11, 24), groups)
    assert tuesday.skipped == [("tuesdays", "skip_dates: 2026-11-24")]
    assert tuesday.sends == []


def test_a_day_of_month_starting_with_a_star_is_not_crontabs_or_rule() -> None:
    spec = parse_cron("0 9 */2 * 1")  # crontab: odd days of the month that are Mondays
    assert spec.matches(date(2026, 11, 23))  # Monday the 23rd
    assert not spec.matches(date(2026, 11, 30))  # a Monday, but even
    assert not spec.matches(date(2026, 11, 25))  # odd, but a Wednesday
    assert parse_cron("0 9 1-31 * */2").matches(date(2026, 11, 24))  # dow */2 likewise
    with pytest.raises(ValueError, match="EITHER matches"):
        parse_cron("0 9 1 * 1")  # the OR rule does apply here: still refused
    with speaking("zh"), pytest.raises(ValueError, match="两者满足其一就发"):
        parse_cron("0 9 1 * 1")


def test_a_per_store_sop_is_checked_at_every_stores_own_time(world: Path) -> None:
    # 0107 closes at 23:00, the others at 22:00 or 22:30: only 0107 says goodnight at 22:30
    write(world, "templates/sop/hi.j2",
          "{% if time == '22:30' %}{{ store.nmae }}{% endif %}{{ store.name }}晚安\n")
    write(world, "sop/daily.yaml", DAILY.replace('"08:10"', '"store.closes - 30m"'))
    (line,) = problems(world)
    assert line.startswith("templates/sop/hi.j2:1: undefined value: ")
    assert "has no attribute 'nmae'" in line
    assert "(store 0107, 2026-11-" in line and " 22:30) [sops.hi" in line
    write(world, "templates/sop/hi.j2",
          "{% if time == '21:30' %}{{ store.nmae }}{% endif %}{{ store.name }}晚安\n")
    (line,) = problems(world)  # the first store's time: found before this change too
    assert "22:30" not in line and " 21:30" in line
