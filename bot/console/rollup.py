"""Build a day's rollup rows from the raw tables: per group, and per store and channel.

A day is rebuilt whole, in one transaction (delete its rows, insert the new ones), so the
periodic job can run it as often as it likes and a replay or a late event changes nothing
but the counts. The job (`RollupJob`) rebuilds today and yesterday every few minutes, and the
channel cohorts that have just turned 7 and 30 days old, whose retention is only known then.

What the funnel counts (docs/console.md): a *scan* is an ``add_external_contact`` event
carrying the channel's state (WeCom reports no scan that did not end in an add, so this is
the honest floor of scans); *welcomed* is a welcome WeCom accepted; *tagged* a customer
carrying any corp tag; *joined* one who joined any customer group after adding; *stayed*
one whose relation with that staff member still stood 7 / 30 days after the add.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from datetime import date, timedelta, tzinfo
from typing import Any

from sqlalchemy.engine import Connection

from bot.config import Settings
from bot.console.classify import build_health
from bot.console.days import bounds, today, zone
from bot.console.digest import due
from bot.console.health import HealthBook
from bot.console.journey_rollup import build_journey_days, cohorts_to_refresh
from bot.console.member_rollup import build_answer_day, follow_members
from bot.console.wecom_figures import fetch_missing
from bot.db.engine import Database, sql
from bot.wecom.client import WeComClient

log = logging.getLogger(__name__)
DAY_S = 86400.0
GROUP_COLUMNS = ("chat_id", "day", "store_id", "owner", "members", "joins", "leaves",
                 "removals", "rejoins", "top_inviter_joins", "owner_posts", "owner_posts_due",
                 "sent", "in_progress", "held", "failed", "unsent")
DELIVERY_COLUMN = {"sent": "sent", "held_quota": "held", "quota_exceeded": "held",
                   "failed": "failed", "unsent": "unsent", "queued": "in_progress",
                   "submitted": "in_progress", "uncertain": "in_progress"}


def _rows(conn: Connection, statement: str, **params: Any) -> list[Any]:
    return list(conn.execute(sql(statement), params))


def _group_moves(conn: Connection, t0: float, t1: float,
                 out: dict[str, dict[str, Any]]) -> None:
    for chat, action, how, n in _rows(conn, """
            SELECT chat_id, action, how, count(*) FROM group_member_log
            WHERE at >= :t0 AND at < :t1 GROUP BY chat_id, action, how""", t0=t0, t1=t1):
        if chat not in out:
            continue
        column = "joins" if action == "join" else ("removals" if how == "removed" else "leaves")
        out[chat][column] += int(n)
    for chat, n in _rows(conn, """
            SELECT l.chat_id, count(*) FROM group_member_log l
            WHERE l.at >= :t0 AND l.at < :t1 AND l.action = 'join' AND EXISTS (
              SELECT 1 FROM group_member_log p WHERE p.chat_id = l.chat_id
              AND p.member_id = l.member_id AND p.action = 'leave' AND p.id < l.id)
            GROUP BY l.chat_id""", t0=t0, t1=t1):
        if chat in out:
            out[chat]["rejoins"] = int(n)
    for chat, n in _rows(conn, """
            SELECT chat_id, max(n) FROM (SELECT chat_id, invitor, count(*) AS n
              FROM group_member_log WHERE at >= :t0 AND at < :t1 AND action = 'join'
              AND invitor <> '' GROUP BY chat_id, invitor) t GROUP BY chat_id""",
                         t0=t0, t1=t1):
        if chat in out:
            out[chat]["top_inviter_joins"] = int(n)


def _group_sends(conn: Connection, t0: float, t1: float,
                 out: dict[str, dict[str, Any]]) -> None:
    for chat, status, n in _rows(conn, """
            SELECT chat_id, status, count(*) FROM outbox_delivery
            WHERE slot_at >= :t0 AND slot_at < :t1 GROUP BY chat_id, status""", t0=t0, t1=t1):
        column = DELIVERY_COLUMN.get(status)
        if column is not None and chat in out:
            out[chat][column] += int(n)
    for chat, n in _rows(conn, """SELECT chat_id, count(*) FROM owner_post
            WHERE posted_at >= :t0 AND posted_at < :t1 GROUP BY chat_id""", t0=t0, t1=t1):
        if chat in out:
            out[chat]["owner_posts"] = int(n)
    for chat, n in _rows(conn, """SELECT chat_id, count(*) FROM owner_post
            WHERE slot_at >= :t0 AND slot_at < :t1 GROUP BY chat_id""", t0=t0, t1=t1):
        if chat in out:
            out[chat]["owner_posts_due"] = int(n)


def _members_at_end(conn: Connection, day: date, t1: float,
                    out: dict[str, dict[str, Any]]) -> None:
    """Members at the end of the day: the day before's figure plus the day's moves when the
    day before is rolled up (the usual, incremental case); else today's members less what
    happened since (a first build or a back-fill)."""
    before = dict(_rows(conn, "SELECT chat_id, members FROM console_group_day WHERE day = :d",
                        d=(day - timedelta(days=1)).isoformat()))
    missing = [chat for chat in out if chat not in before]
    now: dict[str, int] = {}
    since: dict[str, int] = {}
    if missing:
        now = {c: int(n) for c, n in _rows(conn, """SELECT chat_id, count(*) FROM group_member
                                                     GROUP BY chat_id""")}
        since = {c: int(n) for c, n in _rows(conn, """
            SELECT chat_id, sum(CASE WHEN action = 'join' THEN 1 ELSE -1 END)
            FROM group_member_log WHERE at >= :t1 GROUP BY chat_id""", t1=t1)}
    for chat, row in out.items():
        if chat in before:
            row["members"] = int(before[chat]) + row["joins"] - row["leaves"] - row["removals"]
        else:
            row["members"] = now.get(chat, 0) - since.get(chat, 0)
        row["members"] = max(row["members"], 0)


def build_group_day(conn: Connection, day: date, tz: tzinfo) -> int:
    """Rebuild `console_group_day` for one local day; the number of groups written."""
    t0, t1 = bounds(day, tz)
    out: dict[str, dict[str, Any]] = {}
    for chat, store, owner in _rows(conn, """
            SELECT chat_id, store_id, owner FROM customer_group
            WHERE (created_at IS NULL OR created_at < :t1)
            AND (dismissed_at IS NULL OR dismissed_at >= :t0)""", t0=t0, t1=t1):
        out[chat] = dict.fromkeys(GROUP_COLUMNS, 0) | {
            "chat_id": chat, "day": day.isoformat(), "store_id": store or "", "owner": owner}
    _group_moves(conn, t0, t1, out)
    _group_sends(conn, t0, t1, out)
    _members_at_end(conn, day, t1, out)
    conn.execute(sql("DELETE FROM console_group_day WHERE day = :d"), {"d": day.isoformat()})
    rows = list(out.values()) + totals(out.values(), day)
    if rows:
        names = ", ".join(GROUP_COLUMNS)
        values = ", ".join(f":{c}" for c in GROUP_COLUMNS)
        conn.execute(sql(f"INSERT INTO console_group_day ({names}) VALUES ({values})"), rows)  # noqa: S608 (constant names; values bound)
    return len(out)


def totals(groups: Iterable[dict[str, Any]], day: date) -> list[dict[str, Any]]:
    """A store's groups summed (chat_id ``*<store>``) and the chain's (``*``, store ``*``):
    what the charts over a store or the whole chain read, one row per day."""
    sums: dict[str, dict[str, Any]] = {}
    for row in groups:
        for key, store in (("*" + row["store_id"], row["store_id"]), ("*", "*")):
            total = sums.setdefault(key, dict.fromkeys(GROUP_COLUMNS, 0) | {
                "chat_id": key, "day": day.isoformat(), "store_id": store, "owner": ""})
            for column in GROUP_COLUMNS[4:]:
                total[column] += row[column]
    return list(sums.values())


def build_channel_day(conn: Connection, day: date, tz: tzinfo, now: float) -> int:
    """Rebuild `console_channel_day` for the cohort that added staff on one local day."""
    t0, t1 = bounds(day, tz)
    matured_7, matured_30 = now >= t1 + 7 * DAY_S, now >= t1 + 30 * DAY_S
    found = _rows(conn, """
        SELECT w.channel, coalesce(m.store_id, ''), count(*),
          sum(CASE WHEN w.status IN ('sent', 'already_sent') THEN 1 ELSE 0 END),
          sum(CASE WHEN EXISTS (SELECT 1 FROM member_tag t
                                WHERE t.external_userid = w.external_userid)
              THEN 1 ELSE 0 END),
          sum(CASE WHEN EXISTS (SELECT 1 FROM group_member_log g WHERE g.member_id =
                                w.external_userid AND g.action = 'join' AND g.at >= w.at - 60)
              THEN 1 ELSE 0 END),
          sum(CASE WHEN f.removed_at IS NULL OR f.removed_at >= w.at + :d7 THEN 1 ELSE 0 END),
          sum(CASE WHEN f.removed_at IS NULL OR f.removed_at >= w.at + :d30 THEN 1 ELSE 0 END)
        FROM welcome w
        LEFT JOIN member m ON m.external_userid = w.external_userid
        LEFT JOIN member_follow f ON f.external_userid = w.external_userid
          AND f.userid = w.userid
        WHERE w.at >= :t0 AND w.at < :t1
        GROUP BY w.channel, coalesce(m.store_id, '')""",
                  t0=t0, t1=t1, d7=7 * DAY_S, d30=30 * DAY_S)
    conn.execute(sql("DELETE FROM console_channel_day WHERE day = :d"), {"d": day.isoformat()})
    rows = [{"day": day.isoformat(), "channel": channel, "store_id": store, "scans": int(n),
             "welcomed": int(welcomed or 0), "tagged": int(tagged or 0),
             "joined": int(joined or 0),
             "stayed_7": int(s7 or 0) if matured_7 else None,
             "stayed_30": int(s30 or 0) if matured_30 else None}
            for channel, store, n, welcomed, tagged, joined, s7, s30 in found]
    rows += _chain_channels(rows, day)
    if rows:
        conn.execute(sql("""INSERT INTO console_channel_day (day, store_id, channel, scans,
            welcomed, tagged, joined, stayed_7, stayed_30) VALUES (:day, :store_id, :channel,
            :scans, :welcomed, :tagged, :joined, :stayed_7, :stayed_30)"""), rows)
    return len(rows)


def _chain_channels(rows: list[dict[str, Any]], day: date) -> list[dict[str, Any]]:
    """Each channel over every store (store ``*``): the operators' chain-wide funnel."""
    chain: dict[str, dict[str, Any]] = {}
    for row in rows:
        total = chain.setdefault(row["channel"], {
            "day": day.isoformat(), "channel": row["channel"], "store_id": "*", "scans": 0,
            "welcomed": 0, "tagged": 0, "joined": 0, "stayed_7": None, "stayed_30": None})
        for key in ("scans", "welcomed", "tagged", "joined", "stayed_7", "stayed_30"):
            if row[key] is not None:
                total[key] = (total[key] or 0) + row[key]
    return list(chain.values())


def days_to_refresh(now: float, tz: tzinfo) -> tuple[list[date], list[date]]:
    """(group days, channel days) the periodic job rebuilds: yesterday and today; and the
    channel cohorts whose 7- and 30-day retention became known since yesterday."""
    current = today(tz, now)
    recent = [current - timedelta(days=1), current]
    cohorts = [current - timedelta(days=n) for n in (31, 30, 8, 7)]
    return recent, cohorts + recent


class RollupJob:
    """Keeps the rollups current: `run_once` now, `run` every `every_s` seconds."""

    def __init__(self, db: Database, tz: tzinfo, every_s: float, health: HealthBook,
                 clock: Callable[[], float] = time.time, *, wecom: WeComClient | None = None,
                 leading: Callable[[], bool] = lambda: True,
                 digest: Callable[[date], Awaitable[int]] | None = None) -> None:
        self.db = db
        self.health = health
        self.wecom = wecom  # WeCom's own figures are fetched with each run when given
        self.leading = leading  # replicas: only the leader rolls up
        self.digest = digest  # plans the weekly digest of a Monday (bot.console.digest)
        self.tz = tz
        self.every_s = every_s
        self.clock = clock
        self.last_run_at: float | None = None

    async def rebuild(self, groups: list[date], channels: list[date]) -> None:
        now = self.clock()
        rules = self.health.current()
        # journey cohorts changed since the last run (with margin for late commits)
        since = (self.last_run_at or now - 2 * DAY_S) - 600

        def build(conn: Connection) -> None:
            for day in sorted(groups):  # in order: a day builds on the day before
                build_group_day(conn, day, self.tz)
            for day in channels:
                build_channel_day(conn, day, self.tz, now)
            for day in groups:  # members, answers and journeys: bot.console.member_rollup
                build_answer_day(conn, day, self.tz)
            build_journey_days(conn, cohorts_to_refresh(conn, since, groups))
            follow_members(conn, today(self.tz, now))
            if rules is not None and groups:
                build_health(conn, rules, max(groups))

        await self.db.write(build)

    async def run_once(self) -> None:
        started = time.monotonic()
        if self.wecom is not None:
            await fetch_missing(self.db, self.wecom, now=self.clock())
        await self.rebuild(*days_to_refresh(self.clock(), self.tz))
        self.last_run_at = self.clock()
        monday = due(self.clock(), self.tz)
        if monday is not None and self.digest is not None:
            await self.digest(monday)
        log.info("console rollups brought up to date in %.2fs", time.monotonic() - started)

    async def run(self) -> None:
        """Every `every_s`, the first time `every_s` after the start: a restart finds the
        rollups it left, and a bot that only lives a moment (tests, a check) asks nothing
        of WeCom."""
        while True:
            await asyncio.sleep(self.every_s)
            try:
                if self.leading():
                    await self.run_once()
            except Exception:  # a failed run is retried at the next tick
                log.exception("console rollup failed; retrying in %.0fs", self.every_s)


async def roll_up_days(db: Database, settings: Settings, days: list[date]) -> None:
    """Rebuild the given days now (the demo's store day, a back-fill after an outage)."""
    job = RollupJob(db, zone(settings.console.timezone), settings.console.rollup_every_s,
                    HealthBook(settings.paths.sop_dir / "group_health.yaml"))
    await job.rebuild(days, days)
