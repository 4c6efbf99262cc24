"""The deployment-wide count of calls per WeCom API, in fixed windows (PostgreSQL).

WeCom counts calls per corp and API (10,000 a minute, 150,000 an hour, reference §5.2), not
per process: three replicas with a private limiter each could make three times the quota.
So on PostgreSQL the count lives in `api_quota`, one row per (API, window length, window
start). A replica reserves a block of calls at a time (`reserve`), one short transaction
for many calls: the rows of one API are locked only for that moment.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.engine import Connection

_ENSURE = text("""INSERT INTO api_quota (api, window_s, window_start, used)
                  VALUES (:api, :window_s, :start, 0)
                  ON CONFLICT (api, window_s, window_start) DO NOTHING""")
_USED = text("""SELECT used FROM api_quota
                WHERE api = :api AND window_s = :window_s AND window_start = :start
                FOR UPDATE""")
_SPEND = text("""UPDATE api_quota SET used = used + :n
                 WHERE api = :api AND window_s = :window_s AND window_start = :start""")
_FORGET = text("DELETE FROM api_quota WHERE window_start + window_s < :before")


@dataclass(frozen=True, slots=True)
class Grant:
    calls: int  # how many calls may go out (0: every window is full)
    until: float  # they must go out before this (the end of the shortest window)
    retry_at: float  # when calls == 0: when a window with room starts


def reserve(conn: Connection, api: str, windows: Sequence[tuple[int, float]], wanted: int,
            now: float) -> Grant:
    """Take up to `wanted` calls from every window of `api` at once, or none."""
    spans = []
    for limit, length in windows:
        window_s = int(length)
        start = int(now // window_s * window_s)
        key = {"api": api, "window_s": window_s, "start": start}
        conn.execute(_ENSURE, key)
        used = int(conn.execute(_USED, key).scalar_one())
        spans.append((key, limit - used, start + window_s))
    calls = max(min([wanted] + [room for _, room, _ in spans]), 0)
    if calls:
        for key, _, _ in spans:
            conn.execute(_SPEND, {**key, "n": calls})
    until = min(end for _, _, end in spans)
    retry_at = max((end for _, room, end in spans if room <= 0), default=now)
    return Grant(calls, until, retry_at)


def forget_old(conn: Connection, now: float) -> None:
    """Windows that ended more than a day ago are of no use to anyone."""
    conn.execute(_FORGET, {"before": now - 86400})
