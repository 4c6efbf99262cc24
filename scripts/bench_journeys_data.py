"""The journeys benchmark's data: journey files, and members with their follows and entries
written straight into the bench's database (SQLite, or PostgreSQL through COPY)."""

from __future__ import annotations

import random
import sqlite3
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
STORES = ["0012", "0015", "0021", "0033", "0047", "0058"]


def journey_files(folder: Path, n: int, steps: int, at: str | None = None) -> None:
    """`n` journeys of `steps` daily steps (or one step at `at`), all in the precedence."""
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"j{i:02d}" for i in range(n)]
    settings = ("timezone: Asia/Shanghai\nallowance:\n  per_day: 1\n  precedence: ["
                + ", ".join(names) + "]\n")
    (folder / "settings.yaml").write_text(settings, encoding="utf-8")
    lines = ["journeys:"]
    for i, name in enumerate(names):
        lines += [f"  {name}:", f"    title: 旅程{i}", "    entry: {event: first_purchase}",
                  "    stop: {purchase: true}", "    steps:"]
        for day in range(1, steps + 1):
            clock = at or f"{9 + i % 10:02d}:{day * 4 % 60:02d}"
            lines.append(f'      - {{id: s{day}, day: {day}, at: "{clock}", '
                         f'text: "{{{{ store.name }}}}：旅程{i}第{{{{ day }}}}天"}}')
    (folder / "bench.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


def fill(url: str, members: list[tuple[str, str]], n_journeys: int,
         spread_days: int, seed: int) -> None:
    """Members (ext, staff), their follows and one active journey entry each."""
    from bot.db.engine import Database

    Database(url).migrate()
    rng = random.Random(seed)
    today = datetime.now(SHANGHAI).date()
    now = time.time()
    with _Writer(url) as put:
        for start in range(0, len(members), 50_000):
            part = members[start:start + 50_000]
            put("member", "external_userid, name, store_id, staff_userid, channel, state, "
                "status, first_seen, last_seen",
                [(e, f"顾客{i}", STORES[hash(s) % 6], s, "store-counter", "", "active", now,
                  now) for i, (e, s) in enumerate(part, start)])
            put("member_follow", "external_userid, userid, state, status, added_at",
                [(e, s, "", "active", now) for e, s in part])
            rows = []
            for i, (e, s) in enumerate(part, start):
                day = today - timedelta(days=1 + rng.randrange(spread_days))
                rows.append((f"j{i % n_journeys:02d}", e, day.isoformat(), now,
                             "first_purchase", s, STORES[hash(s) % 6], "active", ""))
            put("journey_entry", "journey, external_userid, entry_day, entered_at, event, "
                "sender, store_id, status, reason", rows)
        put("bot_state", "key, value", [("journeys_events_until", repr(now))])


class _Writer:
    """Bulk rows into the bench's database: sqlite3's executemany, PostgreSQL's COPY."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.conn: Any = None

    def __enter__(self) -> Any:
        if self.url.startswith("sqlite"):
            self.conn = sqlite3.connect(self.url.split("///", 1)[1])
        else:
            import psycopg
            from sqlalchemy.engine import make_url

            u = make_url(self.url)
            options = dict(u.query).get("options")
            self.conn = psycopg.connect(host=u.host, port=u.port, user=u.username,
                                        password=u.password, dbname=u.database,
                                        **({"options": options} if options else {}))
        return self.put

    def put(self, table: str, columns: str, rows: list[tuple[Any, ...]]) -> None:
        if isinstance(self.conn, sqlite3.Connection):
            marks = ", ".join("?" for _ in columns.split(","))
            self.conn.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})",  # noqa: S608
                                  rows)
            return
        with self.conn.cursor() as cur, cur.copy(f"COPY {table} ({columns}) FROM STDIN") as cp:
            for row in rows:
                cp.write_row(row)

    def __exit__(self, *exc: object) -> None:
        self.conn.commit()
        self.conn.close()
