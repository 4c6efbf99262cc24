"""Benchmark the operations console at chain scale: rollup build time and page latency.

Generates a SQLite database with N stores, their customer groups, members who added staff
through channels, joined and left groups, 90 days of SOP deliveries and WeCom's per-owner
figures; builds every day's rollup with the console's own code (timed per day); then serves
/console from the bot's own handlers (aiohttp, in this process) and asks every page many
times as an operator and as store managers, printing p50/p99 per page.

    python scripts/bench_console.py                      # 10,000 stores, 25,000 groups,
                                                         # 1,000,000 members, 90 days
    python scripts/bench_console.py --stores 100 --groups 250 --members 10000 --days 14
    python scripts/bench_console.py --db /tmp/c.db             # keep the database, then
    python scripts/bench_console.py --db /tmp/c.db --reuse     # ask the pages again (schema
                                                         # brought to the newest migration)
    python scripts/bench_console.py --db /tmp/c.db --reuse --only journeys
    python scripts/bench_console.py --database-url postgresql+psycopg://...
    python scripts/bench_console.py --database-url ... --schema bench_console  # kept, then
    python scripts/bench_console.py --database-url ... --schema bench_console --reuse

Members and journeys: scripts/bench_console_people.py (the same members, as loyalty
members; answers; journey entries and steps).

Targets (issue 16): every page's p99 < 200 ms; building a day's rollup < 60 s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from sqlalchemy import create_engine

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.books.stores import Store, StoreDirectory
from bot.config import Secrets, Settings
from bot.console.classify import build_health
from bot.console.days import bounds, zone
from bot.console.health import HealthBook
from bot.console.rollup import build_channel_day, build_group_day
from bot.console.routes import COOKIE, Console
from bot.db.engine import Database
from scripts.bench_console_people import build_people, generate_people, people_pages
from scripts.bench_members import scratch

REPO = Path(__file__).resolve().parent.parent
TZ = zone("Asia/Shanghai")
CHANNELS = ("store-counter", "receipt", "flyer", "moments-ad", "member-day", "referral")
DAY_S = 86400.0
WARM_UP = 5  # requests per page not measured


def _stores(n: int) -> StoreDirectory:
    return StoreDirectory([Store(f"{i:04d}", f"门店{i:04d}", "上海", f"地址{i}", f"mgr{i:04d}",
                                 f"店长{i:04d}", f"门店{i:04d}福利群", "08:00", "22:00")
                           for i in range(n)])


def _groups(conn: sqlite3.Connection, n_groups: int, n_stores: int, start: float) -> None:
    conn.executemany(
        "INSERT INTO customer_group (chat_id, name, owner, store_id, created_at, member_version)"
        " VALUES (?, ?, ?, ?, ?, '')",
        [(f"wr{g:08d}", f"门店{g % n_stores:04d}福利{g // n_stores + 1}群",
          f"mgr{g % n_stores:04d}", f"{g % n_stores:04d}", start - 30 * DAY_S)
         for g in range(n_groups)])


def _members(conn: sqlite3.Connection, args: argparse.Namespace, start: float,
             rng: random.Random) -> None:
    """Members, follows, welcomes, tags, and their joins/leaves, in batches."""
    batch: dict[str, list[tuple[Any, ...]]] = {k: [] for k in (
        "member", "follow", "welcome", "tag", "log", "gm")}
    log_id = 0
    span = args.days * DAY_S
    for m in range(args.members):
        store = rng.randrange(args.stores)
        ext, staff = f"wm{m:012d}", f"mgr{store:04d}"
        at = start + rng.random() * span
        channel = rng.choice(CHANNELS)
        removed = at + rng.random() * 40 * DAY_S if rng.random() < 0.12 else None
        batch["member"].append((ext, f"顾客{m}", f"{store:04d}", staff, channel,
                                f"store-{store:04d}-{channel}", at, at))
        batch["follow"].append((ext, staff, f"store-{store:04d}-{channel}",
                                "active" if removed is None else "deleted_by_customer", at,
                                removed))
        batch["welcome"].append((m + 1, ext, staff, channel,
                                 "sent" if rng.random() < 0.96 else "failed", at))
        if rng.random() < 0.6:
            batch["tag"].append((ext, f"tag{rng.randrange(20)}", at))
        if rng.random() < 0.7:
            groups_of_store = max(args.groups // args.stores, 1)
            chat = f"wr{store + args.stores * rng.randrange(groups_of_store):08d}"
            joined = at + rng.random() * 3 * DAY_S
            log_id += 1
            batch["log"].append((log_id, m + 1, chat, ext, "join", "qr", joined, staff))
            if rng.random() < 0.15:
                log_id += 1
                how = "removed" if rng.random() < 0.2 else "left"
                batch["log"].append((log_id, args.members + log_id, chat, ext, "leave", how,
                                     joined + rng.random() * 20 * DAY_S, ""))
            else:
                batch["gm"].append((chat, ext, 2, joined, "qr"))
        if len(batch["member"]) >= 50_000 or m == args.members - 1:
            _flush(conn, batch)


def _flush(conn: sqlite3.Connection, batch: dict[str, list[tuple[Any, ...]]]) -> None:
    conn.executemany("INSERT INTO member (external_userid, name, store_id, staff_userid, "
                     "channel, state, status, first_seen, last_seen) VALUES "
                     "(?, ?, ?, ?, ?, ?, 'active', ?, ?)", batch["member"])
    conn.executemany("INSERT INTO member_follow (external_userid, userid, state, status, "
                     "added_at, removed_at) VALUES (?, ?, ?, ?, ?, ?)", batch["follow"])
    conn.executemany("INSERT INTO welcome (event_id, external_userid, userid, channel, status, "
                     "attempts, text, at) VALUES (?, ?, ?, ?, ?, 1, '', ?)", batch["welcome"])
    conn.executemany("INSERT OR IGNORE INTO member_tag (external_userid, tag_id, added_at) "
                     "VALUES (?, ?, ?)", batch["tag"])
    conn.executemany("INSERT INTO group_member_log (id, event_id, chat_id, member_id, action, "
                     "how, at, invitor) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", batch["log"])
    conn.executemany("INSERT OR IGNORE INTO group_member (chat_id, member_id, member_type, "
                     "joined_at, join_scene) VALUES (?, ?, ?, ?, ?)", batch["gm"])
    for rows in batch.values():
        rows.clear()


def _sends(conn: sqlite3.Connection, args: argparse.Namespace, first: date,
           rng: random.Random) -> None:
    """One 08:30 slot a day to every group, and WeCom's figures per owner per day."""
    statuses = ["sent"] * 90 + ["failed"] * 2 + ["unsent"] * 5 + ["held_quota"] * 3
    delivery_id = 0
    for n in range(args.days):
        day = first + timedelta(days=n)
        slot_at = bounds(day, TZ)[0] + 8.5 * 3600
        conn.execute("INSERT INTO sop_slot (id, sop, slot_at, slot_local, status, fired_at, "
                     "late_s, groups, held, note) VALUES (?, 'morning-new-arrivals', ?, ?, "
                     "'planned', ?, 0, ?, 0, '')",
                     (n + 1, slot_at, f"{day} 08:30", slot_at, args.groups))
        rows = []
        for g in range(args.groups):
            delivery_id += 1
            rows.append((delivery_id, n + 1, f"wr{g:08d}", None, "group_send", slot_at,
                         rng.choice(statuses), slot_at))
        conn.executemany("INSERT INTO outbox_delivery (id, slot_id, chat_id, send_id, via, "
                         "slot_at, status, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        conn.executemany(
            "INSERT INTO wecom_owner_day (owner, day, new_chat_cnt, chat_total, chat_has_msg,"
            " new_member_cnt, member_total, member_has_msg, msg_total, fetched_at) VALUES "
            "(?, ?, 0, ?, ?, ?, ?, ?, ?, 0)",
            [(f"mgr{s:04d}", day.isoformat(), 3, rng.randrange(4), rng.randrange(10), 250,
              rng.randrange(30), rng.randrange(200)) for s in range(args.stores)])


class _PgRows:
    """The sqlite3 calls the generators make (execute, executemany with ``?``), on a
    PostgreSQL connection: one transaction, committed at the end."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)
        self.raw = self.engine.raw_connection()
        self.cursor = self.raw.cursor()

    @staticmethod
    def _pg(statement: str) -> str:
        if statement.startswith("INSERT OR IGNORE"):
            statement = statement.replace("INSERT OR IGNORE", "INSERT") + " ON CONFLICT DO NOTHING"
        return statement.replace("?", "%s")

    def execute(self, statement: str, params: tuple[Any, ...] = ()) -> None:
        if not statement.startswith("PRAGMA"):
            self.cursor.execute(self._pg(statement), params)

    def executemany(self, statement: str, rows: list[tuple[Any, ...]]) -> None:
        if rows:
            self.cursor.executemany(self._pg(statement), rows)

    def commit(self) -> None:
        self.raw.commit()

    def close(self) -> None:
        self.raw.close()
        self.engine.dispose()


def generate(url: str, args: argparse.Namespace) -> date:
    started = time.perf_counter()
    Database(url).migrate()
    rng = random.Random(16)
    last = date.today()
    first = last - timedelta(days=args.days - 1)
    start = bounds(first, TZ)[0]
    conn: Any = (sqlite3.connect(url.removeprefix("sqlite:///")) if url.startswith("sqlite")
                 else _PgRows(url))
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")
    _groups(conn, args.groups, args.stores, start)
    _members(conn, args, start, rng)
    _sends(conn, args, first, rng)
    generate_people(conn, args.members, args.stores, args.days, first, rng)
    conn.commit()
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()
    print(f"generated {args.stores:,} stores, {args.groups:,} groups, "
          f"{args.members:,} members, {args.days} days in {time.perf_counter() - started:.0f}s")
    return first


async def build_rollups(db: Database, first: date, days: int) -> list[float]:
    """Every day's rollup in order, as the job builds it; seconds per day."""
    took = []
    now = time.time()
    for n in range(days):
        day = first + timedelta(days=n)
        started = time.perf_counter()
        await db.write(lambda c, d=day: (build_group_day(c, d, TZ),
                                         build_channel_day(c, d, TZ, now)))
        took.append(time.perf_counter() - started)
    rules = HealthBook(REPO / "sop" / "group_health.yaml").current()
    assert rules is not None
    started = time.perf_counter()
    await db.write(lambda c: build_health(c, rules, first + timedelta(days=days - 1)))
    print(f"group health (all groups, {rules.window_days}-day window): "
          f"{time.perf_counter() - started:.2f}s")
    return took


class _Runtime:
    """What the console's handlers ask of the running bot: its services (database, store
    directory); no outbox or replica in a benchmark."""

    def __init__(self, db: Database, stores: StoreDirectory) -> None:
        self.services = _Services(db, stores)
        self.outbox = None
        self.replica = None


class _Services:
    def __init__(self, db: Database, stores: StoreDirectory) -> None:
        self.db = db
        self.stores = stores


def pages(args: argparse.Namespace, rng: random.Random) -> list[tuple[str, str, str]]:
    """(label, who, path): every page, as the operator and as managers of random stores."""
    store = f"{rng.randrange(args.stores):04d}"
    chat = f"wr{int(store):08d}"
    return [
        ("today (chain)", "op", "/console/today"),
        ("today (one store)", "op", f"/console/today?store={store}"),
        ("today (manager)", "mgr", "/console/today"),
        ("today CSV (chain)", "op", "/console/today?format=csv&table=stores"),
        ("group (30 days)", "op", f"/console/group?chat={chat}"),
        ("channels (chain, 30 d)", "op", "/console/channels"),
        ("channels (chain, 90 d)", "op", f"/console/channels?start="
                                         f"{date.today() - timedelta(days=89)}"),
        ("channels (manager)", "mgr", "/console/channels"),
        ("groups (chain)", "op", "/console/groups"),
        ("groups (manager)", "mgr", "/console/groups"),
        ("groups CSV (chain)", "op", "/console/groups?format=csv&table=act"),
        *people_pages(store),
    ]


async def serve_and_measure(db: Database, stores: StoreDirectory, args: argparse.Namespace
                            ) -> None:
    settings = Settings().with_overrides(console={"operators": ("hq-ops",)},
                                         paths={"sop_dir": REPO / "sop"})
    secrets = Secrets("wwbench", "s", "t", "a" * 43, 1000002, "bench-session-key")
    console = Console(settings, secrets, _Runtime(db, stores))  # type: ignore[arg-type]
    app = web.Application()
    app.router.add_routes(console.routes())
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    rng = random.Random(7)
    print(f"\n{'page':26} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}  (n={args.requests})")
    async with aiohttp.ClientSession() as http:
        for label, who, path in pages(args, rng):
            if args.only and not any(word in label for word in args.only):
                continue
            times = []
            for n in range(args.requests + WARM_UP):
                userid = "hq-ops" if who == "op" else f"mgr{rng.randrange(args.stores):04d}"
                cookie, _ = console.signer.issue(userid)
                started = time.perf_counter()
                async with http.get(f"http://{host}:{port}{path}",
                                    cookies={COOKIE: cookie}) as resp:
                    await resp.read()
                    assert resp.status == 200, (path, resp.status)
                if n >= WARM_UP:  # the first asks compile the page's template
                    times.append((time.perf_counter() - started) * 1000)
            times.sort()
            p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
            print(f"{label:26} {statistics.median(times):8.1f} {p99:8.1f} {times[-1]:8.1f}")
    await runner.cleanup()


async def main_async(args: argparse.Namespace, url: str) -> None:
    print(f"database: {url.split('@')[-1].split('?')[0]}; load average at start: {_load()}")
    if args.reuse:
        db = Database(url)
        db.migrate()  # the newest indexes on a database generated before them
    else:
        db = await _generate_and_build(url, args)
    await serve_and_measure(db, _stores(args.stores), args)
    await db.close()
    print(f"load average at end: {_load()}")


def _kept_schema(url: str, schema: str) -> str:
    """The URL of `schema` in the database at `url` (created when missing, never dropped)."""
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
    admin.dispose()
    return f"{url}{'&' if '?' in url else '?'}options={quote(f'-csearch_path={schema}')}"


def _load() -> str:
    return " ".join(f"{n:.2f}" for n in os.getloadavg())


async def _generate_and_build(url: str, args: argparse.Namespace) -> Database:
    first = generate(url, args)
    db = Database(url)
    took = await build_rollups(db, first, args.days)
    print(f"day rollup (groups + channels): mean {statistics.mean(took):.2f}s, "
          f"max {max(took):.2f}s over {len(took)} days (target < 60 s)")
    await build_people(db, first, args.days)
    return db


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=25_000)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--requests", type=int, default=200, help="per page")
    parser.add_argument("--db", default="", help="keep the generated SQLite database here")
    parser.add_argument("--database-url", default="",
                        help="run on PostgreSQL instead, in a schema of its own dropped at "
                             "the end (postgresql+psycopg://...)")
    parser.add_argument("--schema", default="",
                        help="with --database-url: this schema instead, kept (for --reuse)")
    parser.add_argument("--reuse", action="store_true",
                        help="measure the pages on the database --db kept (same sizes)")
    parser.add_argument("--only", nargs="*", default=[],
                        help="only the pages whose label holds one of these words")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.database_url and args.schema:
            asyncio.run(main_async(args, _kept_schema(args.database_url, args.schema)))
        elif args.database_url:
            with scratch(args.database_url, tmp) as url:
                asyncio.run(main_async(args, url))
        else:
            path = Path(args.db) if args.db else Path(tmp) / "console.db"
            asyncio.run(main_async(args, f"sqlite:///{path}"))


if __name__ == "__main__":
    main()
