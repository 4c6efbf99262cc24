"""Replicas on PostgreSQL: callbacks spread over them, one SOP fan-out, kill -9 of the leader.

    python scripts/bench_replicas.py [--database-url postgresql+psycopg://...]
                                     [--replicas 3] [--stores 400] [--groups 1000]
                                     [--customers 600] [--per-minute 10000]
                                     [--latency-ms 100] [--kill-at 0.3] [--keep]

Processes on loopback: the simulator (WeCom), `--replicas` bots (`python -m bot run`, each
with the SOP scheduler enabled, all on one fresh schema of the database), and this script,
which also plays the load balancer in front of the callback URL (round robin over the
replicas that answer, as a proxy with health checks would). Replica 1 starts first and so
leads. The SOP (a copy of morning-new-arrivals for `--stores` stores) is set to fire at the
next full minute: the leader's APScheduler fires it. While its fan-out runs, `--customers`
customers scan a store manager's QR code: the simulator sends their callbacks through the
balancer to the replicas. Once `--kill-at` of the slot's sends are accepted, the leader gets
kill -9.

Printed: callback throughput (acknowledged per second, at the balancer), the take-over
time (kill -9 to a survivor's /readyz saying `leader`), the fan-out's duration, and what
was lost or doubled: groups without the message or with it twice (after every owner
confirmed), customers whose event was never handled or who were welcomed twice.
Exit code 1 when anything is lost or doubled or the take-over took 5 s or more.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

import bench_fanout as fan  # noqa: E402  (the chain, operator files and simulator helpers)

from bot.simulator.local import free_port, secrets_env, throwaway_secrets  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://bot:bot@127.0.0.1:5432/bot_test"
SHANGHAI = ZoneInfo("Asia/Shanghai")


# -- the database ------------------------------------------------------------------------


class Schema:
    """A fresh schema for this run; the bots reach it through `search_path`."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.name = f"bench_{uuid.uuid4().hex[:12]}"
        sep = "&" if "?" in base_url else "?"
        self.url = f"{base_url}{sep}options={quote(f'-csearch_path={self.name}')}"

    def _connect(self, schema: str | None) -> Any:
        import psycopg
        from sqlalchemy.engine import make_url

        u = make_url(self.base_url)
        kwargs = {"host": u.host, "port": u.port, "user": u.username, "password": u.password,
                  "dbname": u.database, "autocommit": True}
        if schema:
            kwargs["options"] = f"-csearch_path={schema}"
        return psycopg.connect(**{k: v for k, v in kwargs.items() if v is not None})

    def create(self) -> None:
        with self._connect(None) as conn:
            conn.execute(f'CREATE SCHEMA "{self.name}"')

    def drop(self) -> None:
        with self._connect(None) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE')

    def rows(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with self._connect(self.name) as conn:
            cur = conn.execute(sql, params)
            return [tuple(r) for r in cur.fetchall()] if cur.description else []


def insert_groups(schema: Schema, chain: fan.Chain) -> None:
    """The groups as the bot would have recorded them from WeCom (schema migrated first)."""
    from bot.db.engine import Database

    db = Database(schema.url)
    db.migrate()
    db.engine.dispose()
    now = time.time()
    with schema._connect(schema.name) as conn, conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO customer_group (chat_id, name, owner, store_id, created_at, "
            "dismissed_at, member_version) VALUES (%s, %s, %s, %s, %s, NULL, '')",
            [(g.chat_id, g.name, g.owner, g.store_id, now) for g in chain.groups])


# -- the load balancer in front of the callback URL ----------------------------------------


@dataclass
class Balancer:
    """Round robin over the replicas that answer; a dead one is skipped (and retried later)."""

    backends: list[str]
    http: aiohttp.ClientSession
    acked: int = 0
    failed_over: int = 0
    first_ack: float = 0.0
    last_ack: float = 0.0
    _turn: itertools.count[int] = field(default_factory=itertools.count)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        for _ in range(len(self.backends)):
            backend = self.backends[next(self._turn) % len(self.backends)]
            try:
                async with self.http.post(f"{backend}/wecom/callback", params=request.query,
                                          data=body) as resp:
                    text = await resp.read()
            except (aiohttp.ClientError, TimeoutError):
                self.failed_over += 1
                continue
            if resp.status == 200:
                now = time.perf_counter()
                self.first_ack = self.first_ack or now
                self.last_ack = now
                self.acked += 1
            return web.Response(status=resp.status, body=text)
        return web.Response(status=502)


# -- a run -------------------------------------------------------------------------------


@dataclass
class Result:
    replicas: int = 0
    sends: int = 0
    groups: int = 0
    customers: int = 0
    fanout_s: float = float("nan")
    takeover_s: float = float("nan")
    new_leader: str = ""
    killed_at: dict[str, int] = field(default_factory=dict)
    callbacks_acked: int = 0
    callback_rate: float = 0.0
    failed_over: int = 0
    lost_groups: int = 0
    doubled_groups: int = 0
    events_not_done: int = 0
    welcomed_twice: int = 0
    welcomes: dict[str, int] = field(default_factory=dict)
    add_calls: int = 0
    quota_rows: int = 0


def _slot_time() -> datetime:
    """The next full minute at least 25 s away (Shanghai time), for the leader to fire."""
    now = datetime.now(SHANGHAI)
    slot = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    if (slot - now).total_seconds() < 25:
        slot += timedelta(minutes=1)
    return slot


def _config(path: Path, *, port: int, sim_port: int, url: str, sop_dir: Path, name: str,
            per_minute: int) -> None:
    path.write_text(
        f'[server]\nhost = "127.0.0.1"\nport = {port}\n'
        f'[database]\nurl = "{url}"\n'
        f'[wecom]\napi_base_url = "http://127.0.0.1:{sim_port}/cgi-bin/"\n'
        f"per_api_per_minute = {per_minute}\n"
        f'[paths]\nsop_dir = "{sop_dir}"\ntemplates_dir = "{REPO / "templates"}"\n'
        f"[sop]\nscheduler = true\nsend_per_minute = {per_minute}\n"
        "check_after_minutes = 1440.0\n"
        f'[replicas]\nid = "{name}"\n'
        '[logging]\nlevel = "INFO"\njson = true\n', "utf-8")


async def _role(http: aiohttp.ClientSession, url: str) -> str:
    try:
        async with http.get(f"{url}/readyz", timeout=aiohttp.ClientTimeout(total=1)) as resp:
            return str((await resp.json()).get("scheduler", ""))
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return "down"


async def run(args: argparse.Namespace, workdir: Path) -> Result:
    result = Result(replicas=args.replicas, customers=args.customers)
    chain = fan.build_chain(args.stores, args.groups, args.seed)
    sop_dir = workdir / "sop"
    fan.write_operator_files(chain, sop_dir)
    slot = _slot_time()
    daily = (sop_dir / "daily.yaml").read_text("utf-8")
    (sop_dir / "daily.yaml").write_text(daily.replace('at: "08:30"',
                                                      f'at: "{slot:%H:%M}"'), "utf-8")
    schema = Schema(args.database_url)
    schema.create()
    env = secrets_env(throwaway_secrets("wwreplicas"))
    sim_port, lb_port = free_port(), free_port()
    ports = [free_port() for _ in range(args.replicas)]
    urls = [f"http://127.0.0.1:{p}" for p in ports]
    procs: list[subprocess.Popen[bytes]] = []
    try:
        insert_groups(schema, chain)
        sim_proc = fan._spawn(["-m", "bot.simulator", "--port", str(sim_port),
                               "--per-api-per-minute", str(args.per_minute),
                               "--seed", str(args.seed)], env, workdir / "sim.log")
        procs.append(sim_proc)
        await fan._wait_up(f"http://127.0.0.1:{sim_port}/sim/stats", sim_proc)
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=300)) as http:
            sim = fan.Sim(f"http://127.0.0.1:{sim_port}", http)
            await sim.populate(chain)
            await sim.post("/sim/faults", {"per_path": {fan.ADD_MSG: {
                "slow": 1.0 if args.latency_ms else 0.0, "delay_ms": args.latency_ms}}})
            balancer = Balancer(urls, http)
            lb = web.Application()
            lb.router.add_post("/wecom/callback", balancer.handle)
            lb_runner = web.AppRunner(lb, access_log=None)
            await lb_runner.setup()
            await web.TCPSite(lb_runner, "127.0.0.1", lb_port).start()
            await sim.post("/sim/callback_url",
                           {"url": f"http://127.0.0.1:{lb_port}/wecom/callback"})

            bots: list[subprocess.Popen[bytes]] = []
            for i, port in enumerate(ports):
                config = workdir / f"bot{i + 1}.toml"
                _config(config, port=port, sim_port=sim_port, url=schema.url, sop_dir=sop_dir,
                        name=f"r{i + 1}", per_minute=args.per_minute)
                bots.append(fan._spawn(["-m", "bot", "run", "--config", str(config)], env,
                                       workdir / f"bot{i + 1}.log"))
                procs.append(bots[-1])
                if i == 0:  # the first one up leads
                    await fan._wait_up(f"{urls[0]}/healthz", bots[0])
            for url, bot in zip(urls, bots, strict=True):
                await fan._wait_up(f"{url}/healthz", bot)
            roles = [await _role(http, u) for u in urls]
            leader = roles.index("leader")
            _note(f"{args.replicas} replicas up, roles {roles}; slot fires at {slot:%H:%M} "
                  f"Shanghai time ({(slot - datetime.now(SHANGHAI)).total_seconds():.0f} s)")

            # the slot: wait for the leader's scheduler to plan it
            while not schema.rows("SELECT 1 FROM sop_slot WHERE status = 'planned'"):  # noqa: ASYNC110 - polls
                await asyncio.sleep(0.2)
            [(result.sends, result.groups)] = schema.rows(
                "SELECT (SELECT COUNT(*) FROM outbox_send), groups FROM sop_slot")
            _note(f"slot planned by the leader: {result.sends} sends for {result.groups} "
                  "groups; customers start scanning")

            scans = asyncio.create_task(_scan(sim, chain, args.customers))
            kill_at = max(int(result.sends * args.kill_at), 1)
            while _accepted(schema) < kill_at:  # noqa: ASYNC110 - polls
                await asyncio.sleep(0.05)
            result.killed_at = dict(schema.rows(
                "SELECT status, COUNT(*) FROM outbox_send GROUP BY status"))
            bots[leader].send_signal(signal.SIGKILL)
            killed = time.perf_counter()
            bots[leader].wait()
            _note(f"kill -9 of the leader (replica {leader + 1}) at {result.killed_at}")
            survivors = [u for i, u in enumerate(urls) if i != leader]
            while True:
                roles = [await _role(http, u) for u in survivors]
                if "leader" in roles:
                    result.takeover_s = time.perf_counter() - killed
                    result.new_leader = survivors[roles.index("leader")]
                    break
                if time.perf_counter() - killed > 60:
                    break
                await asyncio.sleep(0.05)
            _note(f"take-over: {result.takeover_s:.2f} s ({result.new_leader})")

            await scans
            deadline = time.monotonic() + 180
            while _accepted(schema) < result.sends and time.monotonic() < deadline:  # noqa: ASYNC110 - polls
                await asyncio.sleep(0.1)
            [(last_sent,)] = schema.rows("SELECT MAX(sent_at) FROM outbox_send")
            [(fired,)] = schema.rows("SELECT fired_at FROM sop_slot")
            result.fanout_s = float(last_sent) - float(fired) if last_sent else float("nan")
            # every event handled (by whoever): wait for the inbox to drain
            while time.monotonic() < deadline:
                [(pending,)] = schema.rows(
                    "SELECT COUNT(*) FROM inbox_event WHERE status = 'pending'")
                [(total,)] = schema.rows("SELECT COUNT(*) FROM inbox_event")
                if total >= args.customers and pending == 0:
                    break
                await asyncio.sleep(0.2)
            result.callbacks_acked = balancer.acked
            result.failed_over = balancer.failed_over
            span = balancer.last_ack - balancer.first_ack
            result.callback_rate = balancer.acked / span if span > 0 else float("nan")
            [(done,)] = schema.rows("SELECT COUNT(*) FROM inbox_event WHERE status = 'done'")
            result.events_not_done = args.customers - int(done)
            result.welcomes = dict(schema.rows(
                "SELECT status, COUNT(*) FROM welcome GROUP BY status"))
            welcomes = await sim.get("/sim/welcomes")
            per_customer: dict[str, int] = {}
            for w in welcomes:
                per_customer[w["external_userid"]] = per_customer.get(w["external_userid"],
                                                                      0) + 1
            result.welcomed_twice = sum(1 for n in per_customer.values() if n > 1)
            await sim.post("/sim/groupsend/confirm_pending", {"everyone": True})
            counts = await sim.get("/sim/groupsend/counts")
            received: dict[str, dict[str, int]] = counts["counts"]
            result.lost_groups = sum(1 for g in chain.groups if not received.get(g.chat_id))
            result.doubled_groups = len(counts["doubles"])
            stats = await sim.get("/sim/stats")
            result.add_calls = int(stats["calls"].get(fan.ADD_MSG, 0))
            [(result.quota_rows,)] = schema.rows("SELECT COUNT(*) FROM api_quota")
            await lb_runner.cleanup()
    finally:
        for proc in procs:
            fan._stop(proc)
        if not args.keep:
            schema.drop()
    return result


def _accepted(schema: Schema) -> int:
    [(n,)] = schema.rows("SELECT COUNT(*) FROM outbox_send WHERE status IN ('created', 'done')")
    return int(n)


async def _scan(sim: fan.Sim, chain: fan.Chain, customers: int) -> None:
    """Customers scan store managers' QR codes, 20 at a time."""
    gate = asyncio.Semaphore(20)
    managers = [fan.Chain.manager(s) for s in chain.stores]

    async def one(i: int) -> None:
        async with gate:
            await sim.post("/sim/scan", {"userid": managers[i % len(managers)],
                                         "state": "", "name": f"顾客{i}"})

    await asyncio.gather(*(one(i) for i in range(customers)))


def _note(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def report(r: Result) -> bool:
    ok = (r.lost_groups == 0 and r.doubled_groups == 0 and r.events_not_done == 0
          and r.welcomed_twice == 0 and r.takeover_s < 5.0)
    print(f"replicas:            {r.replicas} on one PostgreSQL schema (leader killed -9)")
    print(f"callbacks:           {r.callbacks_acked} acknowledged at "
          f"{r.callback_rate:.0f}/s through the balancer ({r.failed_over} sent to the killed "
          "replica, passed on to the next)")
    print(f"welcomes:            {r.welcomes}")
    print(f"fan-out:             {r.sends} sends for {r.groups} groups; slot fired to last "
          f"send accepted {r.fanout_s:.1f} s; add_msg_template calls {r.add_calls}")
    print(f"killed at:           {r.killed_at}")
    print(f"take-over:           {r.takeover_s:.2f} s (kill -9 to a survivor leading)")
    print(f"lost:                {r.lost_groups} groups, {r.events_not_done} events")
    print(f"doubled:             {r.doubled_groups} groups, {r.welcomed_twice} welcomes")
    print(f"shared quota rows:   {r.quota_rows}")
    print("result:              " + ("OK" if ok else "FAILED"))
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database-url",
                        default=os.environ.get("BOT_TEST_DATABASE_URL") or DEFAULT_URL)
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--stores", type=int, default=400)
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--customers", type=int, default=600)
    parser.add_argument("--per-minute", type=int, default=10_000)
    parser.add_argument("--latency-ms", type=int, default=100)
    parser.add_argument("--kill-at", type=float, default=0.3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--keep", action="store_true", help="keep the schema and the logs")
    args = parser.parse_args()
    if args.replicas < 2:
        raise SystemExit("--replicas must be at least 2: one is killed")
    workdir = Path(tempfile.mkdtemp(prefix="bench-replicas-"))
    try:
        result = asyncio.run(run(args, workdir))
    finally:
        if args.keep:
            _note(f"logs and configs kept in {workdir}")
        else:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    return 0 if report(result) else 1


if __name__ == "__main__":
    sys.exit(main())
