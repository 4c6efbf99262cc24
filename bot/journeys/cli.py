"""``python -m bot journeys check|preview``: the operator's commands for journey files.

``check`` prints every problem as file:line:col (exit 1) or what each journey does;
``preview --customer ID --days 14`` and ``preview --date D`` read the bot's database
read-only (`bot.journeys.preview`).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date, datetime
from pathlib import Path
from typing import TextIO

from sqlalchemy import create_engine
from sqlalchemy.exc import SQLAlchemyError

from bot.books.checks import print_check_failure, settings_for_check
from bot.books.errors import OperatorFileErrors
from bot.config import Settings
from bot.i18n import t
from bot.journeys.book import JourneyBook
from bot.journeys.files import load_journeys
from bot.journeys.preview import customer_preview, date_preview
from bot.journeys.sop_claims import member_sop_claims
from bot.outbox.report import read_only_url, safe_url
from bot.sop.book import SopBook


def add_journeys_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]
                          ) -> None:
    cmd = commands.add_parser("journeys", help="check and preview the customer journeys")
    sub = cmd.add_subparsers(dest="journeys_command", required=True)
    check = sub.add_parser("check", help="check sop/journeys/; exit 1 listing problems")
    check.add_argument("--config", type=Path, help="TOML settings file")
    check.add_argument("--online", action="store_true",
                       help="also look each tag up in WeCom's corp tag list (the API)")
    preview = sub.add_parser("preview", help="what a customer gets, or what a day sends")
    which = preview.add_mutually_exclusive_group(required=True)
    which.add_argument("--customer", help="external_userid of the customer")
    which.add_argument("--date", type=date.fromisoformat, help="local date, e.g. 2026-12-08")
    preview.add_argument("--days", type=int, default=14, help="--customer: days ahead")
    preview.add_argument("--config", type=Path, help="TOML settings file")


def run_journeys_command(args: argparse.Namespace, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    settings = settings_for_check(args.config, out)
    if settings is None:
        return 2
    sops = _sop_book(settings)
    try:
        book = load_journeys(settings, sop_names=sops.names() if sops else None)
    except OperatorFileErrors as exc:
        return print_check_failure(exc.errors, out)
    if args.journeys_command == "check":
        if getattr(args, "online", False) and (code := _check_online(settings, book, out)):
            return code
        return _summary(book, out)
    return _preview(args, settings, book, sops, out)


def _check_online(settings: Settings, book: JourneyBook, out: TextIO) -> int:
    """0 when WeCom has every tag the journeys name; else the check's failure."""
    from bot.config import ConfigError, load_secrets
    from bot.journeys.corp_tags import channel_tags, read_corp_tags, unknown_in_wecom
    from bot.operator_books import load_operator_files
    from bot.wecom.errors import WeComError

    try:
        groups = asyncio.run(read_corp_tags(settings, load_secrets()))
    except (ConfigError, WeComError, OSError) as exc:
        print(f"error: WeCom's corp tag list could not be read: {exc}", file=out)
        return 1
    try:  # tags a channel creates on first use are not missing
        created = channel_tags(load_operator_files(settings)[1])
    except OperatorFileErrors:
        created = None  # `python -m bot check` says why channels.yaml does not load
    unknown = unknown_in_wecom(book, groups, created)
    if unknown:
        return print_check_failure(unknown, out)
    print(f"WeCom has all {len({t for _, t in book.tag_uses})} tags the journeys name "
          "(get_corp_tag_list), or a channel creates them on first use", file=out)
    return 0


def _sop_book(settings: Settings) -> SopBook | None:
    """The SOP book, for ``sop:`` names in the precedence; None if it does not load (its own
    check, ``sop check``, says why)."""
    from bot.operator_books import load_sop_book

    try:
        return load_sop_book(settings)
    except OperatorFileErrors:
        return None


def _summary(book: JourneyBook, out: TextIO) -> int:
    for journey in book.journeys.values():
        state = "" if journey.enabled else t("journeys.disabled")
        print(t("journeys.summary", where=journey.where, name=journey.name, state=state,
                title=journey.title, entry=journey.entry.event, steps=len(journey.steps),
                days=journey.length_days, via=journey.via), file=out)
        for step in journey.steps:
            if step.personal and journey.via == "group_send":
                print(t("journeys.personal_note", step=step.id), file=out)
    print(t("journeys.ok", count=len(book.journeys),
            precedence=" > ".join(book.allowance.precedence) or "-"), file=out)
    return 0


def _preview(args: argparse.Namespace, settings: Settings, book: JourneyBook,
             sops: SopBook | None, out: TextIO) -> int:
    url = read_only_url(settings.database.url)
    if url is None:
        print(t("check.error", detail=t("journeys.no_database")), file=out)
        return 1
    zone = book.enabled()[0].timezone if book.enabled() else None
    today = datetime.now(zone).date()
    try:
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                if args.customer:
                    lines = customer_preview(conn, book, args.customer, today, args.days)
                else:
                    claims = member_sop_claims(conn, sops, args.date)
                    lines = date_preview(conn, book, args.date, claims)
        finally:
            engine.dispose()
    except SQLAlchemyError as exc:
        print(t("check.error", detail=t("journeys.database_unreadable",
                                        url=safe_url(settings.database.url),
                                        kind=type(exc).__name__)), file=out)
        return 1
    for line in lines:
        print(line, file=out)
    return 0
