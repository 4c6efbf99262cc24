"""``python -m bot members check|preview|import|recompute``: the member rules and data.

- ``check [FILE]``: sop/members.yaml (and sop/questionnaires.yaml beside it) checked as the
  running bot checks them; exit 1 with every problem as ``file:line:col: reason``.
- ``preview [FILE]``: how many members would move from which level (stage) to which under
  the rules in FILE, against the database; writes nothing.
- ``import CSV``: a till export (bot.members.importer); bad rows by line number, the good
  ones imported; exit 1 if any row was bad.
- ``recompute``: every member's level and stage now (the running bot does it every 6 h);
  the tag sync of a running bot picks up the changes.
- ``link FORM EXTERNAL_USERID USERID --base-url URL``: a customer's signed questionnaire link.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from sqlalchemy.engine import Engine

from bot.books.checks import print_check_failure, settings_for_check
from bot.books.yamlfile import OperatorFileErrors
from bot.config import Settings
from bot.i18n import t
from bot.members.rules import MemberRules, load_rules

__all__ = ["add_members_commands", "run_members_command"]


def add_members_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    members = commands.add_parser("members", help="member levels, stages and purchases")
    sub = members.add_subparsers(dest="members_command", required=True)
    for name, text in (("check", "check sop/members.yaml; exit 1 listing every problem"),
                       ("preview", "how many members move where under these rules")):
        cmd = sub.add_parser(name, help=text)
        cmd.add_argument("file", nargs="?", type=Path,
                         help="the rules file (default: [paths] sop_dir/members.yaml)")
        cmd.add_argument("--config", type=Path, help="TOML settings file")
    imp = sub.add_parser("import", help="import a till CSV export (order id is the key)")
    imp.add_argument("csv", type=Path)
    imp.add_argument("--config", type=Path, help="TOML settings file")
    again = sub.add_parser("recompute", help="recompute every member's level and stage")
    again.add_argument("--config", type=Path, help="TOML settings file")
    link = sub.add_parser("link", help="a customer's signed questionnaire link (BOT_LINK_KEY)")
    link.add_argument("form")
    link.add_argument("external_userid")
    link.add_argument("userid", help="the staff member whose customer they are")
    link.add_argument("--base-url", required=True, help="the bot's public https:// address")
    link.add_argument("--days", type=float, default=7.0, help="valid this many days")


def run_members_command(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    if args.members_command == "link":
        return _link(args, out)
    settings = settings_for_check(args.config, out)
    if settings is None:
        return 1
    path = getattr(args, "file", None) or settings.paths.sop_dir / "members.yaml"
    try:
        rules = load_rules(path)
    except OperatorFileErrors as exc:
        return print_check_failure(exc, out)
    command = args.members_command
    if command == "check":
        print(t("members.ok_rules", path=path, levels=len(rules.levels),
                level_names=t("app.list_sep").join(lv.name for lv in rules.levels),
                stages=len(rules.stages),
                stage_names=t("app.list_sep").join(st.name for st in rules.stages)), file=out)
        return _check_forms(Path(path).parent / "questionnaires.yaml", out)
    if command == "preview":
        return _preview(settings, rules, out)
    if command == "import":
        return _import(settings, rules, args.csv, out)
    return _recompute(settings, rules, out)


def _link(args: argparse.Namespace, out: TextIO) -> int:
    from bot.members.links import LinkRefused, make_link

    try:
        print(make_link(args.base_url, args.form, args.external_userid, args.userid,
                        ttl_s=args.days * 86_400), file=out)
    except LinkRefused as exc:
        print(t("check.error", detail=exc), file=out)
        return 1
    return 0


def _check_forms(path: Path, out: TextIO) -> int:
    """sop/questionnaires.yaml beside the rules, when there is one."""
    from bot.members.forms import load_forms

    if not path.is_file():
        return 0
    try:
        forms = load_forms(path)
    except OperatorFileErrors as exc:
        return print_check_failure(exc, out)
    print(t("members.ok_forms", path=path, count=len(forms),
            names=t("app.list_sep").join(forms)), file=out)
    return 0


@contextlib.contextmanager
def _engine(settings: Settings) -> Iterator[Engine]:
    """The database at this code's schema, for one command; its connections closed after."""
    from bot.db.engine import make_engine, migrate

    engine = make_engine(settings.database.url)
    try:
        migrate(engine)
        yield engine
    finally:
        engine.dispose()


def _preview(settings: Settings, rules: MemberRules, out: TextIO) -> int:
    from bot.members.compute import preview

    with _engine(settings) as engine, engine.connect() as conn:
        moves = preview(conn, rules, time.time())
    for title, rows in ((t("members.levels"), moves.levels), (t("members.stages"), moves.stages)):
        moving = [(a, b, n) for a, b, n in rows if a != b]
        staying = sum(n for a, b, n in rows if a == b)
        print(t("members.moves", title=title, move=sum(n for *_, n in moving), stay=staying),
              file=out)
        for before, after, n in moving:
            print(f"  {before or t('members.none_yet')} → {after}: {n}", file=out)
    return 0


def _import(settings: Settings, rules: MemberRules, csv_path: Path, out: TextIO) -> int:
    from bot.members.importer import HeaderError, import_csv

    if not csv_path.is_file():
        print(t("check.error", detail=t("members.file_not_found", path=csv_path)), file=out)
        return 1
    try:
        with _engine(settings) as engine:
            report = import_csv(engine, csv_path, rules)
    except HeaderError as exc:
        print(f"{csv_path}:{exc}", file=out)
        return 1
    for line in report.lines():
        print(f"{csv_path}: {line}" if line.startswith("line ") else line, file=out)
    return 1 if report.bad else 0


def _recompute(settings: Settings, rules: MemberRules, out: TextIO) -> int:
    from bot.members.compute import recompute

    started = time.perf_counter()
    with _engine(settings) as engine, engine.begin() as conn:
        dirty = recompute(conn, rules, time.time())
    print(t("members.recomputed", seconds=f"{time.perf_counter() - started:.1f}", count=dirty),
          file=out)
    return 0
