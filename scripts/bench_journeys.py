"""Customer journeys at a chain's scale: a day's plan, then its sends under faults and kill -9.

    python scripts/bench_journeys.py [--phase both|plan|deliver]
        [--members 1000000] [--staff 2000] [--journeys 10]
        [--deliver-members 20000] [--deliver-staff 100] [--per-minute 10000]
        [--fault-rate 0.01] [--kill-at 0.4] [--keep] [--database-url URL] [--no-handover]

Quick run: `--members 50000 --deliver-members 2000`. `--database-url postgresql+psycopg://...`:
the plan phase on PostgreSQL (a fresh schema, dropped after; the deliver phase stays SQLite).

Phase `plan`: a SQLite file with `--members` customers (each a friend of one of `--staff`
staff members, in one of 6 stores) and `--journeys` journeys of 11 daily steps; every
customer is in one journey, their entry days spread over the last 14 days, so most have a
step today. A fresh process (the bot's own code: `JourneyRunner.plan_day`, then the
dispatch at the day's last step time) plans the day: the seconds for the plan (target
< 30 s), for the hand-over to the outbox, the rows written, and the process's peak RSS
(target < 200 MB).

Phase `deliver`: the simulator (`python -m bot.simulator`, `--per-minute` calls a minute per
API, `--fault-rate` of add_msg_template answered -1 or 45009) and the bot (`python -m bot
run`, its scheduler off: only its outbox worker sends) on loopback; `--deliver-members`
customers made friends of `--deliver-staff` staff in the simulator and recorded in the
bot's database, each with a journey step due now. This script plans and dispatches (the
runner's code); the bot's worker makes the 群发 calls, paced; the bot is kill -9'd once
`--kill-at` of them are accepted and restarted on the same database. Then every staff
member confirms, and the simulator says who got what: customers without the message (lost)
or with it twice (doubled). Exit 1 when anything is lost or doubled or a target is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from bench_journeys_data import fill, journey_files  # noqa: E402

from bot.simulator.local import free_port, secrets_env, throwaway_secrets  # noqa: E402

SHANGHAI = ZoneInfo("Asia/Shanghai")
ADD_MSG = "externalcontact/add_msg_template"


def settings_for(url: str, sop_dir: Path) -> Any:
    from bot.config import Settings

    return Settings().with_overrides(database={"url": url},
                                     paths={"sop_dir": sop_dir,
                                            "templates_dir": REPO / "templates"})


async def child_plan(url: str, sop_dir: Path, handover: bool = True) -> dict[str, Any]:
    """In a fresh process: the day's plan and hand-over, timed, with the peak RSS."""
    from bot.db.engine import Database
    from bot.journeys.dispatch import Dispatched
    from bot.journeys.files import live_journeys
    from bot.journeys.runner import JourneyRunner

    settings = settings_for(url, sop_dir)
    live = live_journeys(settings)
    live.load_now()
    db = Database(settings.database.url)
    today = datetime.now(SHANGHAI).date()
    end_of_day = datetime.combine(today, datetime.min.time(), SHANGHAI) + timedelta(hours=23,
                                                                                   minutes=59)
    runner = JourneyRunner(db, live, clock=lambda: end_of_day.timestamp())
    t0, c0 = time.perf_counter(), time.process_time()
    await runner.enter(end_of_day.timestamp())
    results = await runner.plan_day(today, end_of_day.timestamp())
    plan_s, plan_cpu = time.perf_counter() - t0, time.process_time() - c0
    plan_rss = peak_rss_mb(os.getpid())
    t0, c0 = time.perf_counter(), time.process_time()
    done = (await runner.dispatch(end_of_day.timestamp(), today) if handover
            else Dispatched())
    dispatch_s, dispatch_cpu = time.perf_counter() - t0, time.process_time() - c0
    await db.close()
    return {"plan_s": plan_s, "dispatch_s": dispatch_s, "plan_cpu": plan_cpu,
            "dispatch_cpu": dispatch_cpu, "plan_rss_mb": plan_rss,
            "planned": sum(sum(r.planned.values()) for r in results),
            "postponed": sum(r.postponed for r in results),
            "sends": done.sends, "customers": done.customers,
            # VmHWM: getrusage's maxrss keeps the parent's peak across fork and exec
            "rss_mb": peak_rss_mb(os.getpid())}


def phase_plan(args: argparse.Namespace, workdir: Path) -> bool:
    sop_dir = workdir / "sop"
    shutil.copytree(REPO / "sop", sop_dir, ignore=shutil.ignore_patterns("journeys"))
    journey_files(sop_dir / "journeys", args.journeys, 11)
    schema = None
    if args.database_url:  # a fresh schema, dropped afterwards
        from bench_replicas import Schema

        schema = Schema(args.database_url)
        schema.create()
        url = schema.url
    else:
        url = f"sqlite:///{workdir / 'plan.db'}"
    staff = [f"staff{i:05d}" for i in range(args.staff)]
    members = [(f"wm{i:08d}", staff[i % len(staff)]) for i in range(args.members)]
    try:
        t0 = time.perf_counter()
        fill(url, members, args.journeys, 14, args.seed)
        note(f"[plan] {args.members} members in {args.journeys} journeys written "
             f"({time.perf_counter() - t0:.0f} s)")
        out = subprocess.run(  # noqa: S603 - our own interpreter and script
            [sys.executable, __file__, "--child-plan", url, str(sop_dir),
             "" if args.handover else "--no-handover"],
            capture_output=True, text=True, cwd=REPO, check=False)
    finally:
        if schema is not None and not args.keep:
            schema.drop()
    if out.returncode != 0:
        print(out.stderr[-3000:])
        return False
    r = json.loads(out.stdout.strip().splitlines()[-1])
    print(f"plan: {args.members:,} members, {args.journeys} journeys of 11 steps, "
          f"{args.staff:,} staff, {url.split(':', 1)[0]} (machine shared with other work)")
    print(f"  day's plan:   {r['plan_s']:6.1f} s wall, {r['plan_cpu']:.1f} s CPU "
          f"({r['planned']:,} steps planned, {r['postponed']:,} postponed by the allowance)"
          "   target < 30 s")
    print(f"  hand-over:    {r['dispatch_s']:6.1f} s wall, {r['dispatch_cpu']:.1f} s CPU "
          f"({r['sends']:,} one-to-one 群发 for {r['customers']:,} customers written to the "
          "outbox, at the step times)")
    print(f"  peak RSS:     {r['plan_rss_mb']:6.0f} MB after the plan, {r['rss_mb']:.0f} MB after "
          "the hand-over   target < 200 MB")
    return bool(r["plan_s"] < 30 and r["rss_mb"] < 200)


def spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, *args], env={**os.environ, **env}, cwd=REPO,
        stdout=log.open("wb"), stderr=subprocess.STDOUT)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


async def wait_up(http: aiohttp.ClientSession, url: str, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited ({proc.returncode})")
        try:
            async with http.get(url) as resp:
                if resp.status == 200:
                    return
        except aiohttp.ClientError:
            pass
        await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def statuses(db_path: Path) -> dict[str, int]:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=30)
    try:
        return dict(conn.execute("SELECT status, COUNT(*) FROM outbox_send "
                                 "GROUP BY status").fetchall())
    finally:
        conn.close()


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def setup_deliver(args: argparse.Namespace, workdir: Path, http: aiohttp.ClientSession,
                        sim: str) -> tuple[Path, Path, list[str]]:
    """Staff and customers in the simulator and the bot's database; a one-step journey."""
    sop_dir = workdir / "dsop"
    shutil.copytree(REPO / "sop", sop_dir, ignore=shutil.ignore_patterns("journeys"))
    journey_files(sop_dir / "journeys", 1, 1, at="00:00")
    members: list[tuple[str, str]] = []
    per = max(args.deliver_members // args.deliver_staff, 1)
    for i in range(args.deliver_staff):
        userid = f"staff{i:04d}"
        async with http.post(sim + "/sim/staff", json={"userid": userid, "name": userid}):
            pass
        async with http.post(sim + "/sim/prepare_contacts",
                             json={"userid": userid, "count": per}) as resp:
            members += [(c["external_userid"], userid) for c in await resp.json()]
    db_path = workdir / "deliver.db"
    # every entry yesterday: day 1 is today 00:00
    fill(f"sqlite:///{db_path}", members, 1, 1, args.seed)
    return db_path, sop_dir, [e for e, _ in members]


async def plan_and_dispatch(db_path: Path, sop_dir: Path) -> int:
    from bot.db.engine import Database
    from bot.journeys.files import live_journeys
    from bot.journeys.runner import JourneyRunner

    settings = settings_for(f"sqlite:///{db_path}", sop_dir)
    live = live_journeys(settings)
    live.load_now()
    db = Database(settings.database.url)
    try:
        return (await JourneyRunner(db, live).tick(plan=True)).sends
    finally:
        await db.close()


async def phase_deliver(args: argparse.Namespace, workdir: Path) -> bool:
    env = secrets_env(throwaway_secrets("wwbench"))
    sim_port, bot_port = free_port(), free_port()
    sim_url, bot_url = f"http://127.0.0.1:{sim_port}", f"http://127.0.0.1:{bot_port}"
    procs = [spawn(["-m", "bot.simulator", "--port", str(sim_port), "--per-api-per-minute",
                    str(args.per_minute), "--seed", str(args.seed)], env, workdir / "sim.log")]
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=600)) as http:
            await wait_up(http, sim_url + "/sim/stats", procs[0])
            db_path, sop_dir, customers = await setup_deliver(args, workdir, http, sim_url)
            config = workdir / "deliver.toml"
            config.write_text(
                f'[server]\nhost = "127.0.0.1"\nport = {bot_port}\n'
                f'[database]\nurl = "sqlite:///{db_path}"\n'
                f'[wecom]\napi_base_url = "{sim_url}/cgi-bin/"\n'
                f"per_api_per_minute = {args.per_minute}\n"
                f'[paths]\nsop_dir = "{sop_dir}"\ntemplates_dir = "{REPO / "templates"}"\n'
                f"[sop]\nscheduler = false\nsend_per_minute = {args.per_minute}\n"
                "check_after_minutes = 1440.0\n", "utf-8")
            half = args.fault_rate / 2
            async with http.post(sim_url + "/sim/faults", json={"per_path": {ADD_MSG: {
                    "busy": half, "rate_limited": half}}}):
                pass
            procs.append(spawn(["-m", "bot", "run", "--config", str(config)], env,
                               workdir / "bot.log"))
            await wait_up(http, bot_url + "/healthz", procs[-1])
            t0 = time.time()
            sends = await plan_and_dispatch(db_path, sop_dir)
            note(f"[deliver] {len(customers)} customers, {sends} one-to-one 群发 queued")
            result = await _deliver(args, http, procs, env, config, db_path, bot_url, sends, t0,
                                    workdir)
            async with http.post(sim_url + "/sim/groupsend/confirm_pending",
                                 json={"everyone": True}):
                pass
            async with http.get(sim_url + "/sim/groupsend/counts") as resp:
                counts = await resp.json()
            async with http.get(sim_url + "/sim/stats") as resp:
                stats = await resp.json()
    finally:
        for proc in procs:
            stop(proc)
    received = counts["counts"]
    lost = sum(1 for ext in customers if not received.get(ext))
    doubled = len(counts["doubles"])
    floor = sends / (args.per_minute / 60)
    print(f"deliver: {len(customers):,} customers of {args.deliver_staff:,} staff, {sends:,} "
          f"群发, {args.fault_rate:.0%} faults on add_msg_template, kill -9 at "
          f"{args.kill_at:.0%} accepted")
    print(f"  all accepted in {result['done_s']:.1f} s (rate-limit floor {floor:.1f} s at "
          f"{args.per_minute:,}/min); add_msg_template calls {stats['calls'].get(ADD_MSG, 0)},"
          f" errors {stats['errors'].get(ADD_MSG, {})}")
    print(f"  kill -9 with {result['killed']} — restarted in {result['restart_s']:.1f} s")
    print(f"  lost {lost}, doubled {doubled}; bot peak RSS {result['rss']:.0f} MB")
    return lost == 0 and doubled == 0 and result["finished"]


async def _deliver(args: argparse.Namespace, http: aiohttp.ClientSession,
                   procs: list[subprocess.Popen[bytes]], env: dict[str, str], config: Path,
                   db_path: Path, bot_url: str, sends: int, t0: float, workdir: Path
                   ) -> dict[str, Any]:
    """Wait for every send to be accepted; kill -9 the bot once on the way."""
    out: dict[str, Any] = {"killed": "-", "restart_s": 0.0, "finished": False}
    kill_at = int(sends * args.kill_at)
    deadline = time.monotonic() + 3 * sends / (args.per_minute / 60) + 300
    while time.monotonic() < deadline:
        now = statuses(db_path)
        accepted = now.get("created", 0) + now.get("done", 0)
        if accepted + now.get("failed", 0) >= sends:
            out["finished"] = now.get("failed", 0) == 0
            break
        if kill_at and accepted >= kill_at:
            kill_at = 0
            procs[-1].send_signal(signal.SIGKILL)
            procs[-1].wait()
            out["killed"] = statuses(db_path)
            started = time.perf_counter()
            procs.append(spawn(["-m", "bot", "run", "--config", str(config)], env,
                               workdir / "bot-restart.log"))
            await wait_up(http, bot_url + "/healthz", procs[-1])
            out["restart_s"] = time.perf_counter() - started
        await asyncio.sleep(0.2)
    out["done_s"] = time.time() - t0
    out["rss"] = peak_rss_mb(procs[-1].pid)
    return out


def note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--child-plan":
        print(json.dumps(asyncio.run(child_plan(sys.argv[2], Path(sys.argv[3]),
                                                sys.argv[4] != "--no-handover"))))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--phase", choices=["both", "plan", "deliver"], default="both")
    parser.add_argument("--members", type=int, default=1_000_000)
    parser.add_argument("--staff", type=int, default=2000)
    parser.add_argument("--journeys", type=int, default=10)
    parser.add_argument("--deliver-members", type=int, default=20_000)
    parser.add_argument("--deliver-staff", type=int, default=1000)
    parser.add_argument("--per-minute", type=int, default=10_000)
    parser.add_argument("--fault-rate", type=float, default=0.01)
    parser.add_argument("--kill-at", type=float, default=0.4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--no-handover", dest="handover", action="store_false",
                        help="phase plan: time the day's plan only")
    parser.add_argument("--database-url", help="phase plan on PostgreSQL (a fresh schema, "
                        "e.g. postgresql+psycopg://bot_ci:bot_ci@127.0.0.1:5432/bot_ci); "
                        "default: a SQLite file")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-journeys-"))
    ok = True
    try:
        if args.phase in ("both", "plan"):
            ok = phase_plan(args, workdir) and ok
        if args.phase in ("both", "deliver"):
            ok = asyncio.run(phase_deliver(args, workdir)) and ok
    finally:
        if args.keep:
            print(f"(kept {workdir})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
