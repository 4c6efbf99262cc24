"""``python -m bot sop check|preview|report``: what operators run after editing sop/, and
what went out.

``check`` loads everything operators edit (stores.yaml, channels.yaml, the SOP files,
robots.yaml, groups.yaml, the data files and the templates), prints one line per file when
all is well and exits 0, or prints every problem as ``file:line:col: reason`` and exits 1.

``preview --date D`` prints what the SOPs will send on that date, to which groups, at what
time, rendered exactly as they will go out. Groups come from the bot's database when it
exists and has groups (opened read-only: a preview never changes anything); otherwise one
stand-in group per store, named as in stores.yaml, and the output says so.

``report --date D`` reads the bot's database (read-only) and prints, per slot of that day,
what happened (`bot.outbox.report`: it reports the outbox's rows).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TextIO

from sqlalchemy import create_engine
from sqlalchemy.exc import SQLAlchemyError

from bot.books.checks import print_check_failure, print_problems, print_warning
from bot.books.stores import StoreDirectory
from bot.books.templating import TemplateLibrary
from bot.books.yamlfile import OperatorFileError, OperatorFileErrors
from bot.channels import ChannelBook
from bot.config import ConfigError, Settings, load_settings
from bot.i18n import t
from bot.media.images import ImageRule
from bot.outbox.report import read_only_url, report, safe_url
from bot.sop.book import SopBook
from bot.sop.checks import CHECK_DAYS
from bot.sop.commands import add_sop_commands, run_sop_command
from bot.sop.dated import stale_warnings
from bot.sop.group_tags import GroupRow, GroupTags, nominal_groups, read_groups
from bot.sop.hours_check import hours_warnings
from bot.sop.preview import build_preview
from bot.sop.preview_text import as_json, format_text
from bot.sop.quota_check import quota_warnings

__all__ = ["add_sop_commands", "check", "main", "preview", "report", "run_sop_command"]
# the parser lives in bot.sop.commands (light to import: `python -m bot run` builds it too)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m bot.sop check|preview ...`` (the same as ``python -m bot sop ...``)."""
    parser = argparse.ArgumentParser(prog="python -m bot")
    add_sop_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["sop", *(sys.argv[1:] if argv is None else argv)])
    return run_sop_command(args)


# --------------------------------------------------------------------------- loading


class _Loaded:
    """Everything `check` and `preview` load, and every problem met on the way."""

    def __init__(self) -> None:
        self.settings = Settings()
        self.sop_dir = Path("sop")
        self.stores: StoreDirectory | None = None
        self.channels: ChannelBook | None = None
        self.book: SopBook | None = None
        self.errors: list[OperatorFileError] = []
        self.notes: list[str] = []  # problems that are not in a file (config, folders)


def _load(sop_dir: Path | None, config: Path | None, *, channels: bool,
          start: date | None = None, days: int = CHECK_DAYS) -> _Loaded:
    loaded = _Loaded()
    if config is not None:
        try:
            loaded.settings = load_settings(config)
        except ConfigError as exc:
            loaded.notes.append(str(exc))
            return loaded
    paths = loaded.settings.paths
    templates_dir = paths.templates_dir
    if sop_dir is not None and config is None:
        templates_dir = sop_dir.parent / "templates"  # the repository's layout
    sop_dir = sop_dir if sop_dir is not None else paths.sop_dir
    loaded.sop_dir = sop_dir
    if not sop_dir.is_dir():
        loaded.notes.append(t("check.folder_not_found", path=sop_dir))
        return loaded
    if not templates_dir.is_dir():
        loaded.notes.append(t("check.templates_folder_not_found", path=templates_dir))
        return loaded
    try:
        loaded.stores = StoreDirectory.load(sop_dir / "stores.yaml")
    except OperatorFileErrors as exc:
        loaded.errors.extend(exc.errors)
        loaded.notes.append(t("sop.cli.after_stores"))
        return loaded
    templates = TemplateLibrary(templates_dir, images=ImageRule(
        sop_dir, loaded.settings.wecom.api_base_url))
    channels_path = sop_dir / "channels.yaml"
    if channels and channels_path.exists():
        try:
            loaded.channels = ChannelBook.load(channels_path, templates, loaded.stores)
        except OperatorFileErrors as exc:
            loaded.errors.extend(exc.errors)
    try:
        loaded.book = SopBook.load(sop_dir, templates, loaded.stores, today=start, days=days)
    except OperatorFileErrors as exc:
        loaded.errors.extend(exc.errors)
    return loaded


# --------------------------------------------------------------------------- check


def check(sop_dir: Path | None = None, config: Path | None = None, *,
          out: TextIO | None = None, start: date | None = None, days: int = CHECK_DAYS) -> int:
    """``sop check``: 0 and a summary per file, or 1 and every problem as file:line:col.

    The templates are rendered for every date from `start` (default: today) for `days`
    days on which each SOP fires."""
    out = out or sys.stdout
    loaded = _load(sop_dir, config, channels=True, start=start, days=days)
    if loaded.errors or loaded.notes:
        return print_check_failure(loaded.errors, out, loaded.notes)
    assert loaded.stores is not None and loaded.book is not None
    for line in _summary(loaded):
        print(line, file=out)
    for warning in loaded.book.warnings:
        print_warning(warning, out)
    for note in _quota_warnings(loaded.book, loaded.stores, loaded.settings,
                                start or date.today(), days):
        print_warning(note, out)
    for note in stale_warnings(loaded.book, datetime.now(UTC)):
        print_warning(note, out)
    for note in hours_warnings(loaded.book):
        print_warning(note, out)
    return 0


def _summary(loaded: _Loaded) -> list[str]:
    stores, book, sop_dir = loaded.stores, loaded.book, loaded.sop_dir
    assert stores is not None and book is not None
    lines: list[str] = []
    others = len(stores.staff_rows()) - len({s.manager_userid for s in stores.all()})
    lines.append(t("sop.cli.ok_stores", path=sop_dir / "stores.yaml", stores=len(stores),
                   others=others))
    if loaded.channels is not None:
        lines.append(t("sop.cli.ok_channels", path=sop_dir / "channels.yaml",
                       count=len(loaded.channels.names())))
    if (sop_dir / "robots.yaml").exists():
        lines.append(t("sop.cli.ok_robots", path=sop_dir / "robots.yaml", count=len(book.robots)))
    if book.group_tags.path is not None:
        lines.append(t("sop.cli.ok_group_tags", path=book.group_tags.path,
                       count=len(book.group_tags), names=", ".join(book.group_tags.names())))
    for path, names in book.files.items():
        parts = []
        for name in names:
            sop = book.get(name)
            off = t("sop.cli.disabled") if not sop.enabled else ""
            parts.append(t("sop.cli.sop_part", name=name, when=sop.schedule.describe(),
                           via=sop.via, off=off))
        lines.append(t("sop.cli.ok_sops", path=path, count=len(names),
                       sops=t("sop.cli.sop_sep").join(parts)))
    for data in book.data_files:
        own = len(data.stores)
        lines.append(t("sop.cli.ok_data_default" if data.default is not None else "sop.cli.ok_data",
                       path=sop_dir / data.name, count=own, s="s" if own != 1 else ""))
    for path in book.skipped_files:
        lines.append(t("sop.cli.skipped", path=path))
    return lines


def _quota_warnings(book: SopBook, stores: StoreDirectory, settings: Settings,
                    start: date, days: int) -> list[str]:
    """群发 per group class against WeCom's per-group limit (bot.sop.quota_check), over the
    quota periods that meet the days checked (``--from``, ``--days``)."""
    rule = settings.sop.group_send_quota
    return quota_warnings(book, stores, rule, start, days)


# --------------------------------------------------------------------------- preview


def preview(day: date, *, store_id: str | None = None, as_json_output: bool = False,
            config: Path | None = None, out: TextIO | None = None) -> int:
    """``sop preview``: what is sent on `day`; exit 1 if files fail to load or a render fails."""
    out = out or sys.stdout
    loaded = _load(None, config, channels=False)
    if loaded.errors or loaded.notes:
        print_problems(loaded.errors, out, loaded.notes)
        print(t("sop.cli.preview_needs_files"), file=out)
        return 1
    assert loaded.stores is not None and loaded.book is not None
    if store_id is not None and store_id not in loaded.stores:
        print(t("check.error", detail=t("sop.cli.unknown_store", store=store_id)), file=out)
        return 1
    groups, kind, detail = _groups(loaded.settings, loaded.stores, loaded.book.group_tags)
    result = build_preview(loaded.book, day, groups, groups_kind=kind, groups_detail=detail,
                           store_id=store_id)
    if as_json_output:
        json.dump(as_json(result), out, ensure_ascii=False, indent=2)
        out.write("\n")
    else:
        print(format_text(result), file=out)
    return 1 if result.errors else 0


def _groups(settings: Settings, stores: StoreDirectory,
            tags: GroupTags) -> tuple[list[GroupRow], str, str]:
    """Live groups from the configured database, or one stand-in group per store."""
    url = settings.database.url
    read_url = read_only_url(url)  # read-only: never creates
    if read_url is None:
        path = Path(url.removeprefix("sqlite:///"))
        return nominal_groups(stores, tags), "nominal", t("report.no_database", path=path)
    try:
        engine = create_engine(read_url)
        try:
            with engine.connect() as conn:
                rows = read_groups(conn, tags)
        finally:
            engine.dispose()
    except SQLAlchemyError as exc:
        orig = getattr(exc, "orig", None)
        reason = str(orig) if orig is not None else type(exc).__name__
        return nominal_groups(stores, tags), "nominal", t("preview.db_unreadable", reason=reason)
    if not rows:
        return (nominal_groups(stores, tags), "nominal",
                t("preview.no_groups_yet", url=safe_url(url)))
    return rows, "database", safe_url(url)
