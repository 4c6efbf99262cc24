"""``python -m bot sop report --date D``: what each SOP slot of a day did, from the database.

It reads what the outbox recorded (read-only: a report never changes anything) and prints,
per slot of that day, 群发 deliveries by status, and for owner posts the groups due vs
posted and the owners reminded. It lives with the outbox because it reports the outbox's
rows; the ``sop`` command (`bot.sop.cli`) only dispatches to it.
"""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Sequence
from datetime import date, datetime, time
from pathlib import Path
from typing import TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine
from sqlalchemy.exc import SQLAlchemyError

from bot.config import ConfigError, Settings, load_settings
from bot.i18n import t
from bot.moments import records as moment_records
from bot.outbox import owner_posts
from bot.outbox import rows as outbox
from bot.sop.schedule import DEFAULT_TIMEZONE

__all__ = ["format_report", "read_only_url", "report", "safe_url"]


class _Unreadable(Exception):
    """The report cannot be made: the reason is printed as ``error: ...``."""


def report(day: date, *, config: Path | None = None, out: TextIO | None = None) -> int:
    """``sop report``: per slot of `day`, 群发 deliveries by status and owner posts due vs
    posted (with owners reminded). Exit 1 when the database cannot be read."""
    out = out or sys.stdout
    try:
        rows, posts, moments = _read_day(_settings(config), day)
    except (ConfigError, _Unreadable) as exc:
        print(t("check.error", detail=exc), file=out)
        return 1
    for line in format_report(day, rows, posts, moments):
        print(line, file=out)
    return 0


def _settings(config: Path | None) -> Settings:
    return Settings() if config is None else load_settings(config)


def _read_day(settings: Settings, day: date
              ) -> tuple[list[tuple[str, ...]], list[owner_posts.SlotPosts],
                         list[moment_records.SlotMoments]]:
    """The day's delivery rows and owner-post sums (local day in the SOPs' timezone)."""
    url = settings.database.url
    read_url = read_only_url(url)
    if read_url is None:
        path = Path(url.removeprefix("sqlite:///"))
        raise _Unreadable(t("report.no_database", path=path))
    start = datetime.combine(day, time(0), ZoneInfo(DEFAULT_TIMEZONE)).timestamp()
    end = start + 86400
    try:
        engine = create_engine(read_url)
        try:
            with engine.connect() as conn:
                return (outbox.delivery_report(conn, start, end),
                        owner_posts.report(conn, start, end),
                        moment_records.report(conn, start, end))
        finally:
            engine.dispose()
    except SQLAlchemyError as exc:
        raise _Unreadable(t("report.unreadable", url=safe_url(url),
                                 error=type(exc).__name__)) from exc


def _status_name(status: str) -> str:
    """A delivery status as operators read it (the stored word for one not listed here)."""
    names = {"queued": t("delivery.queued"), "held_quota": t("delivery.held_quota"),
             "submitted": t("delivery.submitted"), "sent": t("delivery.sent"),
             "quota_exceeded": t("delivery.quota_exceeded"), "failed": t("delivery.failed"),
             "unsent": t("delivery.unsent"), "uncertain": t("delivery.uncertain"),
             "cancelled": t("delivery.cancelled")}
    return names.get(status, status)


def format_report(day: date, rows: Sequence[tuple[str, ...]],
                  posts: Sequence[owner_posts.SlotPosts],
                  moments: Sequence[moment_records.SlotMoments] = ()) -> list[str]:
    """One line per slot: 群发 statuses, or owner posts due vs posted and reminders."""
    slots: dict[tuple[str, str], Counter[str]] = {}
    for sop, local, _chat, _via, status in rows:
        slots.setdefault((local, sop), Counter())[status] += 1
    lines = [t("report.heading", day=day.isoformat())]
    entries: list[tuple[str, str, str]] = []
    for (local, sop), counts in slots.items():
        parts = t("app.list_sep").join(t("report.status", count=n, status=_status_name(status))
                                       for status, n in sorted(counts.items()))
        entries.append((local, sop, t("report.group_send", count=sum(counts.values()),
                                      parts=parts)))
    for p in posts:
        open_ = t("report.reminders_open", count=p.reminders_open) if p.reminders_open else ""
        entries.append((p.slot_local, p.sop,
                        t("report.owner_post", groups=p.groups, posted=p.posted, due=p.due,
                          reminded=p.reminded, owners=p.owners, open=open_)))
    entries.extend((m.slot_local, m.sop, m.line()) for m in moments)  # 客户朋友圈
    if not entries:
        lines.append(t("report.nothing"))
    for local, sop, text in sorted(entries):
        lines.append(f"{local[-5:]}  {sop:<22} {text}")
    return lines


def read_only_url(url: str) -> str | None:
    """`url` opened read-only (SQLite: never creates the file); None when its SQLite file
    does not exist (or is in memory), so there is nothing to read."""
    if not url.startswith("sqlite:///"):
        return url
    path = Path(url.removeprefix("sqlite:///"))
    if ":memory:" in url or not path.is_file():
        return None
    return f"sqlite:///file:{path}?mode=ro&uri=true"


def safe_url(url: str) -> str:
    """The database URL without its password, for printing."""
    head, at, tail = url.rpartition("@")
    if not at or "://" not in head:
        return url
    scheme, _, credentials = head.partition("://")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{tail}"
