"""The ``sop`` subcommands' parser, apart from what they run (bot.sop.cli).

Why apart: `python -m bot run` builds the whole command line before it serves callbacks,
and importing the SOP book's modules to add three subcommands cost a restart a fifth of a
second (docs/capacity.md).
"""

from __future__ import annotations

import argparse
from datetime import date
from pathlib import Path


def add_sop_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``sop check`` and ``sop preview`` to a CLI's subcommands (see bot/cli.py)."""
    sop = commands.add_parser("sop", help="check and preview the SOP files in sop/")
    sub = sop.add_subparsers(dest="sop_command", required=True)

    check_cmd = sub.add_parser(
        "check", help="check every operator file; exit 1 listing all problems as file:line:col"
    )
    check_cmd.add_argument("dir", nargs="?", type=Path,
                           help="the sop/ folder (default: [paths] sop_dir, or ./sop)")
    check_cmd.add_argument("--config", type=Path, help="TOML settings file")
    check_cmd.add_argument("--from", dest="start", type=_date,
                           help="first date the templates are rendered for (default: today)")
    check_cmd.add_argument("--days", type=_days, default=35,
                           help="how many days from --from are rendered (default: 35)")

    preview_cmd = sub.add_parser("preview", help="show what the SOPs send on a date")
    preview_cmd.add_argument("--date", required=True, type=_date,
                             help="local date, e.g. 2026-11-24")
    preview_cmd.add_argument("--store", help="only this store id, e.g. 0012")
    preview_cmd.add_argument("--json", action="store_true", help="machine-readable output")
    preview_cmd.add_argument("--config", type=Path, help="TOML settings file")

    report_cmd = sub.add_parser("report", help="what the SOP slots of a date did, per slot")
    report_cmd.add_argument("--date", required=True, type=_date,
                            help="local date (Asia/Shanghai), e.g. 2026-11-24")
    report_cmd.add_argument("--config", type=Path, help="TOML settings file")


def run_sop_command(args: argparse.Namespace) -> int:
    """Run the ``sop`` subcommand parsed by a parser built with `add_sop_commands`."""
    from bot.sop.cli import check, preview, report  # the books: only when a command runs

    if args.sop_command == "check":
        return check(args.dir, args.config, start=args.start, days=args.days)
    if args.sop_command == "report":
        return report(args.date, config=args.config)
    return preview(args.date, store_id=args.store, as_json_output=args.json, config=args.config)


def _days(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 400:
        raise argparse.ArgumentTypeError(f"expected a number of days from 1 to 400, got {text!r}")
    return int(text)


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a date like 2026-11-24, got {text!r}") from None
