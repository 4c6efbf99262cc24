"""Fetch WeCom's own group figures (groupchat/statistic) once a day and keep them per owner.

WeCom publishes a day's figures the next day and keeps 180 days; it has no per-group
number, so `wecom_owner_day` holds one row per owner per day, and the console says so
wherever it shows them. The fetch asks for each missing day of the last `BACKFILL_DAYS`
(yesterday first), 100 owners a call, and stores what came back in one transaction per day.
"""

from __future__ import annotations

import logging
import time
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.engine import Connection

from bot.db.engine import Database, sql
from bot.wecom.client import WeComClient
from bot.wecom.errors import WeComError
from bot.wecom.group_statistics import MAX_OWNERS, statistic_by_owner

log = logging.getLogger(__name__)
CHINA = ZoneInfo("Asia/Shanghai")  # WeCom's days are China's, whatever the chain's zone
BACKFILL_DAYS = 14
FIELDS = ("new_chat_cnt", "chat_total", "chat_has_msg", "new_member_cnt", "member_total",
          "member_has_msg", "msg_total")


def _owners(conn: Connection) -> list[str]:
    return [o for (o,) in conn.execute(sql("""SELECT DISTINCT owner FROM customer_group
        WHERE owner <> '' AND dismissed_at IS NULL ORDER BY owner"""))]


def _fetched_days(conn: Connection, first: str) -> set[str]:
    return {d for (d,) in conn.execute(sql(
        "SELECT DISTINCT day FROM wecom_owner_day WHERE day >= :first"), {"first": first})}


def _store_day(conn: Connection, day: str, items: list[dict[str, Any]], now: float) -> None:
    conn.execute(sql("DELETE FROM wecom_owner_day WHERE day = :day"), {"day": day})
    rows = [{"owner": str(i["owner"]), "day": day, "fetched_at": now,
             **{f: int(i.get("data", {}).get(f, 0)) for f in FIELDS}} for i in items]
    if rows:
        conn.execute(sql(f"""INSERT INTO wecom_owner_day (owner, day, fetched_at,
            {', '.join(FIELDS)}) VALUES (:owner, :day, :fetched_at,
            {', '.join(':' + f for f in FIELDS)})"""), rows)  # noqa: S608 (constant names)


async def fetch_day(db: Database, wecom: WeComClient, day: date) -> int:
    """Fetch and store one day's figures for every group owner; the owners stored."""
    owners = await db.read(_owners)
    begin = int(datetime(day.year, day.month, day.day, tzinfo=CHINA).timestamp())
    items: list[dict[str, Any]] = []
    for start in range(0, len(owners), MAX_OWNERS):
        items += await statistic_by_owner(wecom, owners[start:start + MAX_OWNERS], begin)
    now = time.time()
    await db.write(lambda c: _store_day(c, day.isoformat(), items, now))
    return len(items)


async def fetch_missing(db: Database, wecom: WeComClient,
                        now: float | None = None) -> list[date]:
    """Fetch every day of the last `BACKFILL_DAYS` not stored yet (yesterday first)."""
    yesterday = datetime.fromtimestamp(time.time() if now is None else now, CHINA).date() \
        - timedelta(days=1)
    first = yesterday - timedelta(days=BACKFILL_DAYS - 1)
    have = await db.read(lambda c: _fetched_days(c, first.isoformat()))
    done = []
    for n in range(BACKFILL_DAYS):
        day = yesterday - timedelta(days=n)
        if day.isoformat() in have:
            continue
        try:
            await fetch_day(db, wecom, day)
        except WeComError as exc:  # tried again at the next run
            log.warning("WeCom group figures for %s not fetched: %s", day, exc)
            break
        done.append(day)
    return done
