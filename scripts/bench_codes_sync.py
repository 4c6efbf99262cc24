"""What `codes sync` costs for a whole chain: WeCom calls and time at WeCom's rate limits.

    python scripts/bench_codes_sync.py [--stores 10000] [--groups-per-store 2.5]
                                       [--measure-stores 500] [--latency-ms 50]
                                       [--per-minute 10000]

Part 1, computed at full scale (`--stores`, default 10,000, with the repo's channels.yaml,
codes.yaml and group welcome): the files are read and checked, the plan is made against
an empty record (a first sync), and the script prints the codes, the WeCom calls per API
and the floor WeCom's limits put on the time (10,000 calls a minute per API per corp,
150,000 an hour; each API has its own count, so the floor is the busiest API's). It also
times reading the files and planning (what every sync pays, even one with nothing to do).

Part 2, measured against the simulator at `--measure-stores` (default 500), each API
answered `--latency-ms` late (WeCom's round trip from a server in China is tens of ms):
the real command path (`bot.codes.cli.sync`) on a fresh SQLite file: the first sync, then
the second (no call at all), and the calls/s it reached, from which the full-scale time is
extrapolated (the larger of that and the rate-limit floor).
"""

from __future__ import annotations

import argparse
import asyncio
import io
import math
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.codes.book import load_codes  # noqa: E402
from bot.codes.cli import sync  # noqa: E402
from bot.codes.model import GroupRoom  # noqa: E402
from bot.codes.plan import make_plan  # noqa: E402
from bot.config import Settings  # noqa: E402
from bot.db.engine import Database, sql  # noqa: E402
from bot.simulator import SimOptions, Simulator  # noqa: E402
from bot.simulator.local import throwaway_secrets  # noqa: E402

CITIES = ["上海", "杭州", "苏州", "南京", "宁波"]


def write_files(root: Path, n_stores: int) -> None:
    """The repo's sop/ and templates/, with a stores.yaml of `n_stores` stores."""
    shutil.copytree(REPO / "templates", root / "templates")
    (root / "sop").mkdir()
    for name in ("channels.yaml", "codes.yaml"):
        shutil.copy(REPO / "sop" / name, root / "sop" / name)
    lines = ["stores:"]
    for n in range(n_stores):
        sid = f"{n:04d}"
        lines += [f'  "{sid}":', f"    name: 果园{sid}号店", f"    city: {CITIES[n % 5]}",
                  f"    address: 果园路 {n + 1} 号", f"    manager_userid: mgr{sid}",
                  f"    manager_name: 店长{sid}", f"    group_name: 果田鲜生·果园{sid}号店福利群",
                  '    opens: "08:00"', '    closes: "22:00"']
    lines += ["staff:", "  xiaoxian: {name: 小鲜}"]
    (root / "sop" / "stores.yaml").write_text("\n".join(lines) + "\n", "utf-8")


def rooms_for(n_stores: int, per_store: float) -> dict[str, list[GroupRoom]]:
    total = int(n_stores * per_store)
    return {f"{n:04d}": [GroupRoom(f"wrBench{n:04d}g{k}", 120)
                         for k in range(total // n_stores + (n < total % n_stores))]
            for n in range(n_stores)}


def settings_for(root: Path, api: str = "http://127.0.0.1:1/cgi-bin/") -> Settings:
    return Settings().with_overrides(
        paths={"sop_dir": root / "sop", "templates_dir": root / "templates"},
        database={"url": f"sqlite:///{root / 'bot.db'}"}, wecom={"api_base_url": api})


def floor_s(calls: Counter[str], per_minute: int, per_hour: int) -> float:
    """The least time WeCom's fixed windows allow: the busiest API's full windows."""
    worst = 0.0
    for n in calls.values():
        minutes = (math.ceil(n / per_minute) - 1) * 60.0
        hours = (math.ceil(n / per_hour) - 1) * 3600.0
        worst = max(worst, minutes, hours)
    return worst


def part_one(args: argparse.Namespace) -> tuple[Counter[str], float]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_files(root, args.stores)
        started = time.perf_counter()
        book = load_codes(settings_for(root), rooms_for(args.stores, args.groups_per_store))
        loaded = time.perf_counter() - started
        started = time.perf_counter()
        plan = make_plan(book.codes, {})
        planned = time.perf_counter() - started
    calls = plan.api_calls()
    kinds = Counter(c.kind for c in book.codes)
    floor = floor_s(calls, args.per_minute, 150_000)
    print(f"== first sync of {args.stores:,} stores "
          f"({int(args.stores * args.groups_per_store):,} groups), computed ==")
    print(f"codes: {kinds['contact']:,} contact ways, {kinds['join']:,} join ways, "
          f"{kinds['group_welcome']} group welcome")
    for api, n in sorted(calls.items()):
        print(f"  {api:48} {n:>7,}")
    print(f"WeCom calls: {sum(calls.values()):,}; rate-limit floor at {args.per_minute:,}/min "
          f"per API: {floor:.0f} s")
    print(f"reading and checking the files: {loaded:.1f} s; planning: {planned * 1000:.0f} ms "
          "(paid by every sync, also one with nothing to do)")
    return calls, floor


async def part_two(args: argparse.Namespace) -> float:
    secrets = throwaway_secrets("wwbench")
    sim = Simulator(secrets.corp_id, secrets.secret, secrets.token, secrets.aes_key,
                    options=SimOptions(per_api_per_minute=args.per_minute))
    await sim.start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            root = Path(tmp)
            write_files(root, args.measure_stores)
            settings = settings_for(root, sim.base_url)
            await seed(sim, settings, args)
            sim.delay_next("*", args.latency_ms / 1000, times=10**9)
            rate = 0.0
            for run in ("first", "second"):
                mark, out = sim.mark(), io.StringIO()
                started = time.perf_counter()
                code = await sync(settings, secrets, dry_run=False, prune=False, out=out)
                elapsed = time.perf_counter() - started
                calls = [c for c in sim.api_calls_since(mark) if c.path != "gettoken"]
                print(f"{run} sync: exit {code}, {len(calls):,} calls in {elapsed:.1f} s"
                      + (f" ({len(calls) / elapsed:.0f} calls/s)" if calls else ""))
                if run == "first":
                    rate = len(calls) / elapsed
            return rate
    finally:
        await sim.stop()


async def seed(sim: Simulator, settings: Settings, args: argparse.Namespace) -> None:
    """The stores' managers and groups in WeCom, and the groups in the bot's database."""
    rooms = rooms_for(args.measure_stores, args.groups_per_store)
    sim.add_staff("xiaoxian", "小鲜")
    for sid in rooms:
        sim.add_staff(f"mgr{sid}", f"店长{sid}")
    sim.bulk_create_groups((r.chat_id, f"mgr{sid}", f"福利群{sid}")
                           for sid, found in rooms.items() for r in found)
    db = Database(settings.database.url)
    db.migrate()
    insert = sql("""INSERT INTO customer_group (chat_id, name, owner, store_id, created_at,
                    member_version) VALUES (:chat, :name, :owner, :store, :at, '')""")
    rows = [{"chat": r.chat_id, "name": f"福利群{sid}", "owner": f"mgr{sid}", "store": sid,
             "at": float(n)} for sid, found in rooms.items() for n, r in enumerate(found)]
    await db.write(lambda conn: conn.execute(insert, rows))
    await db.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stores", type=int, default=10_000)
    parser.add_argument("--groups-per-store", type=float, default=2.5)
    parser.add_argument("--measure-stores", type=int, default=500)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--per-minute", type=int, default=10_000)
    args = parser.parse_args()
    calls, floor = part_one(args)
    print(f"\n== measured against the simulator: {args.measure_stores} stores, "
          f"{args.latency_ms:.0f} ms per call ==")
    rate = asyncio.run(part_two(args))
    total = sum(calls.values())
    estimate = max(floor, total / rate) if rate else floor
    print(f"\n{args.stores:,} stores, first sync: {total:,} WeCom calls, about "
          f"{estimate / 60:.1f} min (max of the rate-limit floor {floor:.0f} s and "
          f"{total:,} calls at the measured {rate:.0f} calls/s); a second sync: 0 calls")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
