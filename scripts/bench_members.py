"""Member data at chain scale: CSV import, full recompute, tag sync pacing, till lookup, RSS.

    python scripts/bench_members.py [--members 1000000] [--purchases 5000000]
        [--database-url postgresql+psycopg://...] [--sync 3000] [--lookups 2000]
        [--only import|sync|lookup]

1. Writes a till export of N purchases for M members (not timed), then imports it with
   `bot.members.importer` (parse, check, executemany by chunk; order id is the key):
   rows/s. Imported again: rows/s when nothing is new.
2. Recomputes every member's level and stage (`bot.members.compute`, one SQL run) with the
   clock moved on 200 days, so stages move: seconds.
3. Links `--sync` members to customers of the local simulator and runs the tag sync
   (`bot.members.tag_sync`) through the real WeCom client, whose quota is WeCom's 10,000
   mark_tag a minute: calls/min against that limit (the simulator refuses past it).
4. Asks the till lookup (`GET /api/pos/member`, signed, through aiohttp) `--lookups` times
   for random members, one after another, from a till client in a process of its own (so
   its work never delays the server's, which runs here): p50/p99 in ms.
Peak RSS of this process (the bot's code and, for step 3, the simulator) is printed last.

On PostgreSQL the run works in a schema of its own (`bench_members_<random>`, chosen through
the connection's search_path), dropped at the end: the database's other tables are never
touched, so it can run beside the tests that share the database.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import random
import resource
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import aiohttp
from aiohttp import web
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.books.live import LiveBook  # noqa: E402
from bot.books.stores import StoreDirectory  # noqa: E402
from bot.db.engine import Database, make_engine, migrate  # noqa: E402
from bot.members import routes as member_routes  # noqa: E402
from bot.members.compute import recompute  # noqa: E402
from bot.members.importer import import_csv  # noqa: E402
from bot.members.purchases import PhoneHasher  # noqa: E402
from bot.members.rules import load_rules  # noqa: E402
from bot.members.service import Members  # noqa: E402
from bot.members.signing import POS_SECRET_ENV, sign  # noqa: E402
from bot.members.tag_sync import TagSync  # noqa: E402
from bot.simulator import Simulator  # noqa: E402
from bot.simulator.local import throwaway_secrets  # noqa: E402
from bot.tags import TagBook  # noqa: E402
from bot.wecom.client import WeComClient  # noqa: E402
from bot.wecom.ratelimit import RateLimits  # noqa: E402

RULES = REPO / "sop" / "members.yaml"
DAY = 86_400


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def write_export(path: Path, members: int, purchases: int, now: float) -> None:
    rnd = random.Random(14)
    with path.open("w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["order_id", "member_code", "store_id", "amount", "at", "unionid"])
        for i in range(purchases):
            member = i % members if i < members else rnd.randrange(members)
            unionid = f"oU{member:09d}" if i < members and member % 5 == 0 else ""
            out.writerow([f"T{i:010d}", f"M{member:08d}", f"{rnd.randrange(1, 400):04d}",
                          f"{rnd.randrange(500, 30000) / 100:.2f}",
                          int(now - rnd.randrange(0, 700 * DAY)), unionid])


def step_import(url: str, members: int, purchases: int, now: float) -> None:
    engine = make_engine(url)
    migrate(engine)
    rules = load_rules(RULES)
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "export.csv"
        started = time.perf_counter()
        write_export(export, members, purchases, now)
        print(f"export written: {purchases:,} rows, {export.stat().st_size / 2**20:.0f} MB "
              f"({time.perf_counter() - started:.1f} s, not timed)")
        for label in ("import", "import again"):
            cpu = time.process_time()
            report = import_csv(engine, export, rules, now=now)
            cpu = time.process_time() - cpu
            print(f"{label}: {report.rows:,} rows in {report.load_s:.1f} s = "
                  f"{report.rows / report.load_s:,.0f} rows/s ({report.imported:,} new), then "
                  f"the members recomputed in {report.recompute_s:.1f} s; all told "
                  f"{report.seconds:.1f} s = {report.rows / report.seconds:,.0f} rows/s, "
                  f"{cpu:.1f} s of this process's CPU; peak RSS {rss_mb():.0f} MB")
    later = now + 200 * DAY
    started = time.perf_counter()
    with engine.begin() as conn:
        recompute(conn, rules, later)
    with engine.connect() as conn:
        stages = conn.exec_driver_sql("SELECT stage, count(*) FROM loyalty_member "
                                      "GROUP BY stage ORDER BY stage").fetchall()
    print(f"full recompute of {members:,} members (clock +200 days): "
          f"{time.perf_counter() - started:.1f} s; stages {dict(stages)}; "
          f"peak RSS {rss_mb():.0f} MB")
    engine.dispose()


async def step_sync(url: str, count: int) -> None:
    secrets = throwaway_secrets("wwbenchcorp")
    sim = Simulator(secrets.corp_id, secrets.secret, secrets.token, secrets.aes_key)
    await sim.start()
    sim.add_staff("linxiaoyu", "林晓雨")
    made = sim.world.prepare_contacts("linxiaoyu", count, "store-0012-counter")
    db = Database(url)

    def link(conn: Connection) -> None:
        codes = [r[0] for r in conn.execute(text(
            "SELECT member_code FROM loyalty_member ORDER BY member_code LIMIT :n"), {"n": count})]
        pairs = [{"ext": contact["external_userid"], "code": code}
                 for code, contact in zip(codes, made, strict=False)]
        conn.execute(text("UPDATE loyalty_member SET external_userid = :ext, tag_dirty = 1, "
                          "level_tag_synced = '', stage_tag_synced = '' "
                          "WHERE member_code = :code"), pairs)
        conn.execute(text("INSERT INTO member_follow (external_userid, userid, state, status, "
                          "added_at) VALUES (:ext, 'linxiaoyu', '', 'active', 0) "
                          "ON CONFLICT DO NOTHING"), pairs)

    await db.write(link)
    async with WeComClient(sim.base_url, secrets.corp_id, secrets.secret,
                           limits=RateLimits(10_000, 150_000)) as wecom:
        tags = TagBook(db, wecom)
        await tags.sync()
        sync = TagSync(db, wecom, tags, "bench")
        started = time.perf_counter()
        done = 0
        while await sync.run_once():
            done = sync.applied
        seconds = time.perf_counter() - started
    marks = [c for c in sim.calls if c.path == "externalcontact/mark_tag"]
    refused = sum(1 for c in marks if c.errcode == 45009)
    print(f"tag sync: {done:,} customers in {seconds:.1f} s = {done / seconds * 60:,.0f} "
          f"mark_tag/min (WeCom's limit 10,000/min; {refused} refused with 45009); "
          f"peak RSS {rss_mb():.0f} MB")
    await db.close()
    await sim.stop()


async def step_lookup(url: str, members: int, lookups: int) -> None:
    """The till lookup served here (the bot's code, this process), asked by a till in a
    process of its own (`--till-client`): the client's work never delays the server's."""
    import json
    import os

    os.environ.setdefault(POS_SECRET_ENV, uuid.uuid4().hex)
    db = Database(url)
    rules = LiveBook("rules", lambda: [RULES], lambda: load_rules(RULES), 60.0)
    rules.load_now()
    stores = StoreDirectory.load(REPO / "sop" / "stores.yaml")
    service = Members(db, rules, stores, None, PhoneHasher())  # type: ignore[arg-type]
    app = web.Application()
    app.router.add_routes(member_routes.routes(lambda: service))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    client = await asyncio.create_subprocess_exec(
        sys.executable, __file__, "--till-client", f"http://{host}:{port}",
        "--members", str(members), "--lookups", str(lookups), stdout=asyncio.subprocess.PIPE)
    out, _ = await client.communicate()
    assert client.returncode == 0, client.returncode
    times = sorted(json.loads(out))
    print(f"till lookup: {lookups:,} signed requests from another process, p50 "
          f"{statistics.median(times):.1f} ms, p99 {times[int(len(times) * 0.99) - 1]:.1f} ms; "
          f"peak RSS {rss_mb():.0f} MB")
    await runner.cleanup()
    await service.ids.flush()
    await db.close()


async def till_client(base_url: str, members: int, lookups: int) -> None:
    """The till: `lookups` signed lookups one after another, their times (ms) as JSON."""
    import json
    import os

    secret, rnd, times = os.environ[POS_SECRET_ENV], random.Random(5), []
    async with aiohttp.ClientSession() as http:
        for _ in range(lookups):
            path = f"/api/pos/member?member_code=M{rnd.randrange(members):08d}&store_id=0012"
            stamp, rid = int(time.time()), uuid.uuid4().hex
            hdrs = {"X-Pos-Timestamp": str(stamp), "X-Pos-Request-Id": rid,
                    "X-Pos-Signature": sign(secret, "GET", path, stamp, rid, b"")}
            started = time.perf_counter()
            async with http.get(base_url + path, headers=hdrs) as resp:
                await resp.read()
                assert resp.status == 200, resp.status
            times.append((time.perf_counter() - started) * 1000)
    print(json.dumps(times))


@contextmanager
def scratch(url: str | None, tmp: str) -> Iterator[str]:
    """The database URL to run on: a SQLite file in `tmp`, or a new schema of the given
    PostgreSQL database, dropped afterwards (whatever happens)."""
    if url is None or not url.startswith("postgresql"):
        yield url or f"sqlite:///{tmp}/bench.db"
        return
    schema = f"bench_members_{uuid.uuid4().hex[:8]}"
    admin = create_engine(url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        sep = "&" if "?" in url else "?"
        yield f"{url}{sep}options={quote(f'-csearch_path={schema}')}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--purchases", type=int, default=5_000_000)
    parser.add_argument("--database-url", help="default: a SQLite file in a temp folder")
    parser.add_argument("--sync", type=int, default=3000, help="customers for the tag sync")
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--till-client", metavar="URL", help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=["import", "sync", "lookup"],
                        help="the import (always: it makes the data) and this step only")
    args = parser.parse_args()
    if args.till_client:
        asyncio.run(till_client(args.till_client, args.members, args.lookups))
        return
    with tempfile.TemporaryDirectory() as tmp, scratch(args.database_url, tmp) as url:
        print(f"database: {url.split('@')[-1]}")
        now = time.time()
        step_import(url, args.members, args.purchases, now)
        if args.only in (None, "sync"):
            asyncio.run(step_sync(url, min(args.sync, args.members)))
        if args.only in (None, "lookup"):
            asyncio.run(step_lookup(url, args.members, args.lookups))
    print(f"peak RSS of the run: {rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
