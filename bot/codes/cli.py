"""``python -m bot codes check|sync``: what operators run after editing sop/codes.yaml,
channels.yaml or stores.yaml.

``check`` reports every problem as ``file:line:col: reason`` (exit 1) and touches nothing.
``sync`` checks the same way first (nothing is made in WeCom while any file is wrong),
prints the plan, and unless ``--dry-run`` applies it; ``--prune`` also deletes the codes
no file asks for any more. Exit 1 when a step failed: run it again, it carries on.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TextIO

from bot.books.checks import print_check_failure, settings_for_check
from bot.books.yamlfile import OperatorFileErrors
from bot.codes import records
from bot.codes.book import CodesBook, load_codes, load_stores
from bot.codes.plan import Plan
from bot.codes.sync import CodeSync, SyncReport
from bot.config import ConfigError, Secrets, Settings, load_secrets
from bot.db import repo
from bot.db.engine import Database
from bot.i18n import t
from bot.media.cache import MediaCache
from bot.media.fetch import qr_fetcher
from bot.wecom.client import WeComClient
from bot.wecom.ratelimit import RateLimits


def run_codes_command(args: argparse.Namespace, out: TextIO | None = None) -> int:
    if args.codes_command == "cards":
        from bot.cards.cli import run_cards

        return run_cards(args)
    out = out or sys.stdout
    settings = settings_for_check(args.config, out)
    if settings is None:
        return 1
    if args.codes_command == "check":
        return check(settings, out)
    try:
        secrets = load_secrets()
    except ConfigError as exc:
        print(t("check.error", detail=exc), file=out)
        return 2
    return asyncio.run(sync(settings, secrets, dry_run=args.dry_run, prune=args.prune,
                            verify=args.verify, out=out))


def check(settings: Settings, out: TextIO) -> int:
    try:
        book = load_codes(settings, rooms={})
    except OperatorFileErrors as exc:
        return print_check_failure(exc, out)
    kinds = [c.kind for c in book.codes]
    welcomes = kinds.count("group_welcome")
    print(t("codes.ok", contacts=kinds.count("contact"), welcomes=welcomes,
            s="s" if welcomes != 1 else ""), file=out)
    return 0


async def sync(settings: Settings, secrets: Secrets, *, dry_run: bool, prune: bool,
               out: TextIO, verify: bool = False) -> int:
    db = Database(settings.database.url)
    try:
        await asyncio.get_running_loop().run_in_executor(None, db.migrate)
        try:
            stores = load_stores(settings)
            await db.write(lambda c: repo.sync_directory(c, stores.store_rows(),
                                                         stores.staff_rows()))
            book = load_codes(settings, await db.read(records.store_rooms), stores)
        except OperatorFileErrors as exc:
            print(t("codes.nothing_changed"), file=out)
            return print_check_failure(exc, out)
        async with WeComClient(settings.wecom.api_base_url, secrets.corp_id, secrets.secret,
                               limits=RateLimits(settings.wecom.per_api_per_minute,
                                                 settings.wecom.per_api_per_hour),
                               request_timeout_s=settings.wecom.request_timeout_s,
                               max_retries=settings.wecom.max_retries) as client:
            syncer = CodeSync(db, client, agent_id=secrets.agent_id,
                              host_picture=picture_host(settings, db, client))
            if dry_run:
                print_plan(await syncer.plan(book.codes), book, prune, out)
                return 0
            started = time.monotonic()
            report = await syncer.run(book.codes, prune=prune, verify=verify)
            print_plan(report.plan, book, prune, out)
            print_report(report, time.monotonic() - started, out)
            return 1 if report.failed else 0
    finally:
        await db.close()


def picture_host(settings: Settings, db: Database,
                 client: WeComClient) -> Callable[[str], Awaitable[str]]:
    """A code's QR image URL -> the URL of its copy uploaded with media/uploadimg."""
    media = MediaCache(db, client, settings.paths.sop_dir)
    fetch = qr_fetcher(settings.wecom.api_base_url)

    async def host(qr_code: str) -> str:
        return await media.pic_url(await fetch(qr_code), "join-code.png")

    return host


def print_plan(plan: Plan, book: CodesBook, prune: bool, out: TextIO) -> None:
    for step in plan.steps:
        if step.action != "unchanged":
            print("  " + step.describe(), file=out)
    for code in plan.notices:
        print(t("codes.notify", count=len(code.notify), channel=code.channel), file=out)
    for note in book.notes:
        print(t("codes.note", note=note), file=out)
    counts = plan.counts()
    orphans = t("codes.orphans_pruned") if prune else t("codes.orphans_listed")
    print(t("codes.plan", create=counts["create"], update=counts["update"],
            unchanged=counts["unchanged"], orphan=counts["orphan"], orphans=orphans), file=out)
    calls = plan.api_calls(prune)
    detail = ", ".join(f"{api.rsplit('/', 1)[-1]} {n}" for api, n in calls.items())
    print(t("codes.calls_detail" if calls else "codes.calls", count=sum(calls.values()),
            detail=detail), file=out)


def print_report(report: SyncReport, elapsed_s: float, out: TextIO) -> None:
    done = ", ".join(f"{n} {what}" for what, n in sorted(report.done.items()))
    print(t("codes.done", seconds=f"{elapsed_s:.1f}", done=done or t("codes.nothing")), file=out)
    for key in report.recovered:
        print(t("codes.recovered", key=key), file=out)
    for key in report.recreated:
        print(t("codes.recreated", key=key), file=out)
    for line in report.strays:
        print("  " + t("check.warning", detail=line), file=out)
    for line in report.failed:
        print(t("codes.failed", line=line), file=out)
    if report.failed:
        print(t("codes.some_failed"), file=out)
