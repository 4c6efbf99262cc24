"""Callbacks and welcomes: the bot against the handler a team would write without it.

    python scripts/bench_callbacks.py [--only paced,burst,capacity] [--rates 300,600,1000]
                                      [--seconds 5] [--n 3000] [--capacity 1500]

Processes on loopback: the simulator (WeCom), the servers under test, and this script as
the load generator. Each new customer is one encrypted add_external_contact callback with a
real WelcomeCode; 10 % are sent again, freshly encrypted, as WeCom's retries are. Servers:
* bot: records each event durably (deduped) before answering, then welcomes and tags;
* inline (scripts/bench_inline.py): verify, decrypt, externalcontact/get, render,
  send_welcome_msg, mark_tag, then answer; no database, no dedupe;
* bare: verify, decrypt, parse, answer; nothing else (the ceiling of the HTTP edge).

Parts: *paced* sends each rate to inline, then to the bot (same run, interleaved) and
compares receipt-to-welcome p99 (receipt by the server to the simulator's receipt of
send_welcome_msg); *burst* sends N customers with 100 clients as fast as answers come back
to bare, inline and bot (callbacks/s, and to the last welcome); *capacity* holds the bot to
a paced rate and says whether ack p99 < 50 ms and welcome p99 < 1 s held. Every run counts
customers never welcomed (lost) and welcomed twice (doubled). CPU/cb is the server's CPU
time per callback, its welcomes included (and its writer process's): the machine's cores are
shared by all processes; loop/cb is the part of it on the event loop's thread;
wait/cb is how long per callback the server was ready to run and found no core free.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.simulator.local import free_port, secrets_env, throwaway_secrets  # noqa: E402
from bot.wecom.crypto import CallbackCrypto  # noqa: E402

REDELIVER = 0.1  # share of callbacks sent again, as WeCom retries
QUIET_BEFORE_S = 1.5  # before each run: see `run_load`
LOG_SETTLED_BYTES = 64 << 20  # ... and every bot's SQLite log no longer (`_logs_settled`): main
# before the tenth round keeps 64 MB of it
LOG_SETTLE_MAX_S = 45.0
QUOTA_LIFTED = 1_000_000_000  # calls a minute per API: see `_start_rig`
STATES = ["store-0012-counter", "takeout-card", "tuesday-fruit-day", "store-0215-counter",
          "persona-xiaoxian", "poster-unknown"]


async def _wait_up(url: str, proc: subprocess.Popen[bytes] | None = None,
                   within_s: float = 300.0) -> None:
    """Until `url` answers (below 500); fails at once if `proc` (the server) has exited."""
    deadline = time.monotonic() + within_s
    async with aiohttp.ClientSession() as http:
        while True:
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"process {proc.args!r} exited with {proc.returncode}")
            try:
                async with http.get(url) as resp:
                    if resp.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{url} did not come up")
            await asyncio.sleep(0.1)


def _xml(corp_id: str, userid: str, contact: dict[str, str], create_time: int) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName>"
        "<FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_contact]]></Event>"
        "<ChangeType><![CDATA[add_external_contact]]></ChangeType>"
        f"<UserID><![CDATA[{userid}]]></UserID>"
        f"<ExternalUserID><![CDATA[{contact['external_userid']}]]></ExternalUserID>"
        f"<State><![CDATA[{contact['state']}]]></State>"
        f"<WelcomeCode><![CDATA[{contact['welcome_code']}]]></WelcomeCode></xml>"
    )


def _encrypt_all(env: dict[str, str], plaintexts: list[str]) -> list[tuple[dict[str, str], bytes]]:
    crypto = CallbackCrypto(env["WECOM_TOKEN"], env["WECOM_AES_KEY"], env["WECOM_CORP_ID"])
    stamp = str(int(time.time()))
    out = []
    for text in plaintexts:
        message = crypto.encrypt(text, stamp)
        out.append((message.query(), message.post_body(env["WECOM_CORP_ID"])))
    return out


async def _drive(url: str, payloads: list[tuple[dict[str, str], bytes]],
                 concurrency: int, rate: float | None = None) -> tuple[float, list[float], int]:
    """`concurrency` clients, each sends its next callback when answered (closed loop); with
    `rate`, callbacks are also paced to that many a second overall (open loop, like WeCom)."""
    latencies: list[float] = []
    failures = 0
    queue = iter(enumerate(payloads))
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as http:
        async def client() -> None:
            nonlocal failures
            for index, (params, body) in queue:
                if rate:
                    await asyncio.sleep(max(0.0, started + index / rate - time.perf_counter()))
                start = time.perf_counter()
                try:
                    async with http.post(url, params=params, data=body) as resp:
                        await resp.read()
                        if resp.status != 200:
                            failures += 1
                except aiohttp.ClientError:  # counted; WeCom would send it again
                    failures += 1
                latencies.append(time.perf_counter() - start)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return elapsed, latencies, failures


async def _new_customers(sim_url: str, env: dict[str, str], managers: list[str], n: int,
                         redeliver: float, seed: int, rate: float | None = None
                         ) -> tuple[list[tuple[str, dict[str, str]]], list[str]]:
    """N customers scan QR codes (in the simulator); their callbacks plus redeliveries.

    The order is drawn first, so that each customer scans (and their WelcomeCode's 20 s
    start) when their first callback is due in a paced run: a run longer than 20 s with
    every code issued before it would find the later codes dead, for every server alike."""
    rng = random.Random(seed)
    per_state = max(n // len(STATES), 1)
    firsts = list(range(per_state * len(STATES)))
    order = firsts + [rng.choice(firsts) for _ in range(int(len(firsts) * redeliver))]
    rng.shuffle(order)
    scan_at: dict[int, float] = {}
    for position, who in enumerate(order):
        scan_at.setdefault(who, position / rate if rate else 0.0)
    prepared: list[tuple[str, dict[str, str]]] = []
    async with aiohttp.ClientSession() as http:
        for k, state in enumerate(STATES):
            userid = rng.choice(managers)
            mine = range(k * per_state, (k + 1) * per_state)
            async with http.post(f"{sim_url}/sim/prepare_contacts",
                                 json={"userid": userid, "count": per_state, "state": state,
                                       "scan_in_s": [scan_at[i] for i in mine]}) as resp:
                prepared += [(userid, c) for c in await resp.json()]
    now = int(time.time())
    xml = [_xml(env["WECOM_CORP_ID"], uid, c, now) for uid, c in prepared]
    return prepared, [xml[who] for who in order]


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 10) - 1] \
        if len(values) > 1 else values[0]


def _spawn(args: list[str], env: dict[str, str], log: Path,
           cwd: Path | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, *args], env={**os.environ, **env}, cwd=cwd or REPO,
        stdout=log.open("wb"), stderr=subprocess.STDOUT)


def _waited_seconds(pid: int) -> float:
    """How long the process's threads were ready to run but had no core (the scheduler's
    run-queue wait, /proc/PID/task/*/schedstat): on a 2-core machine shared by three
    processes, the part of a latency the server could not help. 0 where Linux keeps none."""
    total = 0
    for stat in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += int(stat.read_text().split()[1])
    return total / 1e9


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process and its children (the bot's writer process) have
    used so far (Linux /proc)."""
    total = _stat_cpu(Path(f"/proc/{pid}/stat"))
    with contextlib.suppress(OSError):
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            with contextlib.suppress(OSError):
                total += _stat_cpu(Path(f"/proc/{child}/stat"))
    return total


def _loop_cpu_seconds(pid: int) -> float:
    """The CPU time of the process's main thread alone: the server's event loop."""
    return _stat_cpu(Path(f"/proc/{pid}/task/{pid}/stat"))


def _stat_cpu(stat: Path) -> float:
    fields = stat.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _spawn_tool(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT)  # noqa: S603


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@dataclass
class Rig:
    """The processes of one benchmark run and how to reach them."""

    env: dict[str, str]
    workdir: Path
    sim: subprocess.Popen[bytes]
    sim_url: str
    managers: list[str]
    servers: dict[str, tuple[subprocess.Popen[bytes], str]] = field(default_factory=dict)
    seed: int = 0
    welcomes_seen: int = 0  # the simulator's welcomes already read (`_welcomes`)

    def url(self, target: str) -> str:
        return self.servers[target][1] + "/wecom/callback"


async def _start_rig(workdir: Path, targets: list[str], base: Path | None = None) -> Rig:
    """The simulator with the stores' managers as staff, then the servers under test."""
    env = secrets_env(throwaway_secrets("wwbench"))
    sim_port = free_port()
    # WeCom allows 10,000 calls a minute per API and corp: the servers here stand for
    # separate corps, and one run at 1,000/s alone makes 5,000 of each call, so the
    # simulator's per-minute quota is lifted, and so is the bot's own limiter of it (the
    # bench measures the servers, not the quota; docs/capacity.md says what the quota means
    # for a chain). With the limiter at WeCom's 10,000 a minute, the paced runs and the
    # burst, together 11,300 welcomes in a minute, left the bot's last 1,300 waiting for
    # the quota as they must with the real WeCom: 91 callbacks/s, measured.
    sim = _spawn(["-m", "bot.simulator", "--port", str(sim_port), "--per-api-per-minute",
                  str(QUOTA_LIFTED)], env, workdir / "sim.log")
    sim_url = f"http://127.0.0.1:{sim_port}"
    rig = Rig(env, workdir, sim, sim_url, [])
    await _wait_up(f"{sim_url}/sim/stats", sim)
    from bot.books.stores import StoreDirectory

    rig.managers = [s.manager_userid for s in StoreDirectory.load(REPO / "sop/stores.yaml").all()]
    async with aiohttp.ClientSession() as http:
        for userid in rig.managers:
            async with http.post(f"{sim_url}/sim/staff",
                                 json={"userid": userid, "name": userid}) as resp:
                resp.raise_for_status()
    for target in targets:
        port = free_port()
        extra_env = {}
        if target in ("bot", "base"):
            config = workdir / f"{target}.toml"
            config.write_text(
                f'[server]\nhost = "127.0.0.1"\nport = {port}\n'
                f'[database]\nurl = "sqlite:///{workdir / (target + ".db")}"\n'
                f'[wecom]\napi_base_url = "{sim_url}/cgi-bin/"\n'
                f"per_api_per_minute = {QUOTA_LIFTED}\n"
                f'[paths]\nsop_dir = "{REPO / "sop"}"\ntemplates_dir = "{REPO / "templates"}"\n'
                '[logging]\nlevel = "WARNING"\n')
            args = ["-m", "bot", "run", "--config", str(config)]
            if target == "base" and base is not None:  # the previous commit's bot
                extra_env = {"PYTHONPATH": str(base)}
        elif target == "inline":
            args = [str(REPO / "scripts" / "bench_inline.py"), "--port", str(port),
                    "--api", f"{sim_url}/cgi-bin/"]
        else:
            args = [str(Path(__file__)), "--serve-bare", "--port", str(port)]
        proc = _spawn(args, {**env, **extra_env}, workdir / f"{target}.log",
                      cwd=base if target == "base" else None)
        rig.servers[target] = (proc, f"http://127.0.0.1:{port}")
        await _wait_up(f"http://127.0.0.1:{port}/healthz", proc)
        if target == "bot" and os.environ.get("BENCH_PROFILE"):  # =/tmp/bot.raw: py-spy it
            py_spy = str(Path(sys.executable).with_name("py-spy"))
            _spawn_tool([py_spy, "record", "-o", os.environ["BENCH_PROFILE"], "-p",
                         str(proc.pid), "-d", "30", "-r", "200", "-f", "raw", "--gil"],
                        workdir / "py-spy.log")
    return rig


async def _logs_settled(rig: Rig) -> None:
    """Wait until every bot's write-ahead log is short again. After a 600/s run a bot's log
    is about 1.5 GB, and cutting it back (in its first lull, or at its first commit after
    one for older code) is heavy work on the disk all the servers share: measured in the
    next server's run, a stall of 0.1 to 0.3 s that held up to 140 of its 180 slowest
    welcomes. Each run is then measured alone, as one bot on its own disk would be."""
    deadline = time.monotonic() + LOG_SETTLE_MAX_S
    logs = [rig.workdir / f"{t}.db-wal" for t in rig.servers if t in ("bot", "base")]
    while time.monotonic() < deadline:
        if all(not p.exists() or p.stat().st_size <= LOG_SETTLED_BYTES for p in logs):
            return
        await asyncio.sleep(0.5)
    print(f"  (a log still over {LOG_SETTLED_BYTES >> 20} MB after {LOG_SETTLE_MAX_S:.0f} s)",
          flush=True)


async def _receipts(rig: Rig, target: str, welcomed: set[str]) -> dict[str, float]:
    """When each customer's callback was first received, by the server under test (the bot
    writes its row after the welcome, later under load: waited for, up to 30 s)."""
    if target in ("bot", "base"):
        deadline = time.monotonic() + 30.0
        while True:
            with sqlite3.connect(rig.workdir / f"{target}.db") as conn:
                found = dict(conn.execute(
                    "SELECT w.external_userid, e.received_at FROM welcome w "
                    "JOIN inbox_event e ON e.id = w.event_id").fetchall())
            if welcomed <= found.keys() or time.monotonic() > deadline:
                return found
            await asyncio.sleep(0.2)
    if target == "inline":
        async with aiohttp.ClientSession() as http, \
                http.get(rig.servers[target][1] + "/received") as resp:
            return dict(await resp.json())
    return {}


async def _welcomes(rig: Rig, expected: set[str], within_s: float) -> list[dict[str, Any]]:
    """The simulator's welcomes to `expected`, once all arrived or `within_s` ran out."""
    deadline = time.monotonic() + within_s
    welcomes: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as http:
        while True:  # only the new ones each time: the whole list grows with every run
            async with http.get(f"{rig.sim_url}/sim/welcomes",
                                params={"since": str(rig.welcomes_seen)}) as resp:
                new = await resp.json()
            rig.welcomes_seen += len(new)
            welcomes += [w for w in new if w["external_userid"] in expected]
            if len({w["external_userid"] for w in welcomes}) >= len(expected) \
                    or time.monotonic() > deadline:
                return welcomes
            await asyncio.sleep(0.1)


async def run_load(rig: Rig, target: str, n: int, concurrency: int,
                   rate: float | None) -> dict[str, Any]:
    """N new customers' callbacks (plus redeliveries) to `target`; what came of them."""
    # The simulator runs its full garbage collections after a second without work
    # (bot/simulator/collector.py): the pause puts the one each run's customers call for
    # here, between runs, rather than inside the next server's run.
    await _logs_settled(rig)
    await asyncio.sleep(QUIET_BEFORE_S)
    rig.seed += 1
    contacts, plaintexts = await _new_customers(rig.sim_url, rig.env, rig.managers, n,
                                                REDELIVER, seed=rig.seed, rate=rate)
    payloads = _encrypt_all(rig.env, plaintexts)
    proc = rig.servers[target][0]
    cpu0, gen0, wall0 = _cpu_seconds(proc.pid), time.process_time(), time.time()
    loop0 = _loop_cpu_seconds(proc.pid)
    waited0 = _waited_seconds(proc.pid)
    sim0 = _cpu_seconds(rig.sim.pid)
    elapsed, acks, failures = await _drive(rig.url(target), payloads, concurrency, rate)
    cpu_ack, gen_cpu = _cpu_seconds(proc.pid) - cpu0, time.process_time() - gen0
    expected = {c["external_userid"] for _, c in contacts}
    if target == "bare":
        welcomes: list[dict[str, Any]] = []
        last = wall0 + elapsed
    else:
        welcomes = await _welcomes(rig, expected, 60.0)
        last = max((w["received_at"] for w in welcomes), default=time.time())
    received = await _receipts(rig, target, {w["external_userid"] for w in welcomes})
    cpu_all = _cpu_seconds(proc.pid) - cpu0  # with the rows written after the welcomes
    loop_cpu = _loop_cpu_seconds(proc.pid) - loop0
    waited = _waited_seconds(proc.pid) - waited0
    sim_cpu = _cpu_seconds(rig.sim.pid) - sim0  # WeCom's side of the welcomes (and of this
    # script's asking it for the WelcomeCodes and the receipts: a little more than WeCom's)
    per_customer: dict[str, int] = {}
    for w in welcomes:
        per_customer[w["external_userid"]] = per_customer.get(w["external_userid"], 0) + 1
    timeline = [(received[w["external_userid"]], w["received_at"] - received[w["external_userid"]])
                for w in welcomes if w["external_userid"] in received]
    welcome_lat = [latency for _, latency in timeline]
    sent = len(plaintexts)
    print(f"  {target}: {n} customers{f' at {rate:.0f}/s' if rate else ' (burst)'} done",
          flush=True)
    return {
        "target": target, "rate": rate, "n_unique": len(contacts), "n_sent": sent,
        "rps": sent / elapsed, "done_rps": sent / max(last - wall0, elapsed),
        "ack_p50": _pct(acks, 50), "ack_p99": _pct(acks, 99),
        "welcome_p50": _pct(welcome_lat, 50), "welcome_p99": _pct(welcome_lat, 99),
        "non_200": failures, "cpu_ack_ms": cpu_ack * 1000 / sent,
        "cpu_ms": cpu_all * 1000 / sent, "util": cpu_ack / elapsed,
        "loop_ms": loop_cpu * 1000 / sent,
        "wait_ms": waited * 1000 / sent,
        "gen_cpu_ms": gen_cpu * 1000 / sent, "sim_cpu_ms": sim_cpu * 1000 / sent,
        "lost": 0 if target == "bare" else len(expected - set(per_customer)),
        "doubled": sum(1 for v in per_customer.values() if v > 1),
        "timeline": timeline,  # (receipt, receipt-to-welcome) per customer: --latencies
    }


def serve_bare(port: int) -> None:
    """The bare handler: the bot's own endpoint class with nothing behind it."""
    from aiohttp import web

    from bot.config import load_secrets
    from bot.loop import new_event_loop
    from bot.wecom.callback import CallbackEndpoint

    secrets_ = load_secrets()
    crypto = CallbackCrypto(secrets_.token, secrets_.aes_key, secrets_.corp_id)
    endpoint = CallbackEndpoint(crypto, secrets_.corp_id, None, max_body_bytes=64 * 1024,
                                timestamp_window_s=300)
    app = web.Application()
    app.router.add_routes(endpoint.routes())
    app.router.add_get("/healthz", lambda _r: web.Response(text="ok"))
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None,
                loop=new_event_loop())


async def bench(workdir: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Paced runs (inline, then bot, at each rate), the burst, the capacity run."""
    parts = args.only.split(",")
    servers = ["inline", "bot"] + (["base"] if args.base else [])
    if args.base_first:  # the server measured second is at a disadvantage: swap to see it
        servers = ["inline", "base", "bot"] if args.base else servers
    rig = await _start_rig(workdir, servers + (["bare"] if "burst" in parts else []),
                           args.base)
    results: list[dict[str, Any]] = []
    try:
        for target in servers:  # warm-up: connections, caches, the token
            await run_load(rig, target, 300, 50, 300.0)
        if "paced" in parts:
            for rate in args.rates:
                for target in servers:
                    n = int(rate * args.seconds)
                    results.append(await run_load(rig, target, n, 200, rate))
        if "burst" in parts:
            for target in ("bare", *servers):
                results.append({**await run_load(rig, target, args.n, args.concurrency, None),
                                "burst": True})
        if "capacity" in parts:
            for rate in args.capacity:
                n = int(rate * args.seconds)
                for target in servers[1:]:
                    results.append({**await run_load(rig, target, n, 400, rate),
                                    "capacity": True})
    finally:
        for proc, _ in rig.servers.values():
            _stop(proc)
        _stop(rig.sim)
    return results


def report(results: list[dict[str, Any]]) -> bool:
    """Print the table and the ratios against the inline handler; True if nothing was lost
    or doubled by the bot."""
    ms = 1000.0
    print(f"{'run':<26} {'cb/s':>6} {'done/s':>7} {'ack p50':>8} {'ack p99':>8} "
          f"{'welc p50':>9} {'welc p99':>9} {'CPU/cb':>7} {'loop/cb':>7} {'wait/cb':>7} "
          f"{'sim/cb':>7} "
          f"{'gen/cb':>7} lost dbl")
    for r in results:
        kind = "burst c100" if r.get("burst") else (
            f"capacity {r['rate']:.0f}/s" if r.get("capacity") else f"paced {r['rate']:.0f}/s")
        print(f"{r['target'] + ' ' + kind:<26} {r['rps']:6.0f} {r['done_rps']:7.0f} "
              f"{r['ack_p50'] * ms:7.1f}m {r['ack_p99'] * ms:7.1f}m "
              f"{r['welcome_p50'] * ms:8.1f}m {r['welcome_p99'] * ms:8.1f}m "
              f"{r['cpu_ms']:6.2f}m {r['loop_ms']:6.2f}m {r['wait_ms']:6.2f}m "
              f"{r['sim_cpu_ms']:6.2f}m "
              f"{r['gen_cpu_ms']:6.2f}m "
              f"{r['lost']:4d} {r['doubled']:3d}")
    by = {(r["target"], "burst" if r.get("burst") else r["rate"]): r for r in results
          if not r.get("capacity")}
    for (target, rate), r in by.items():
        inline = by.get(("inline", rate))
        if target in ("bot", "base") and rate != "burst" and inline:
            print(f"welcome p99 at {rate:.0f}/s: {target} {r['welcome_p99'] * ms:.1f} ms, inline "
                  f"{inline['welcome_p99'] * ms:.1f} ms: "
                  f"{r['welcome_p99'] / inline['welcome_p99']:.2f}x (target <= 1.5x)")
    for name in ("bot", "base"):
        bot, inline = by.get((name, "burst")), by.get(("inline", "burst"))
        if not (bot and inline):
            continue
        print(f"burst: {name} {bot['rps']:.0f} callbacks/s ({bot['done_rps']:.0f}/s to the last "
              f"welcome), inline {inline['rps']:.0f}/s: {bot['rps'] / inline['rps']:.2f}x "
              "(target >= 3x)")
    for r in results:
        if r.get("capacity"):
            ok = r["ack_p99"] < 0.05 and r["welcome_p99"] < 1.0 and r["rps"] >= 0.97 * r["rate"]
            print(f"paced capacity {r['target']} {r['rate']:.0f}/s: {r['rps']:.0f}/s, ack p99 "
                  f"{r['ack_p99'] * ms:.1f} ms, welcome p99 {r['welcome_p99'] * ms:.0f} ms: "
                  f"{'met' if ok else 'NOT met'} (ack p99 < 50 ms, welcome p99 < 1 s)")
    return all(r["lost"] == 0 and r["doubled"] == 0 and r["non_200"] == 0
               for r in results if r["target"] in ("bot", "base"))


def _floats(text: str) -> list[float]:
    return [float(v) for v in text.split(",") if v]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default="paced,burst,capacity",
                        help="which parts: paced,burst,capacity (comma-separated)")
    parser.add_argument("--rates", type=_floats, default=[300.0, 600.0, 1000.0],
                        help="paced rates compared with the inline handler")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of a paced run")
    parser.add_argument("--n", type=int, default=3000, help="new customers in the burst")
    parser.add_argument("--concurrency", type=int, default=100, help="burst clients")
    parser.add_argument("--capacity", type=_floats, default=[1500.0],
                        help="paced rates the bot alone is held to both latency targets at")
    parser.add_argument("--base-first", action="store_true",
                        help="run the --base bot before this one at each rate (docs/capacity.md: "
                             "a same-run pair favours the first server; repeat swapped)")
    parser.add_argument("--latencies", type=Path, default=None,
                        help="write each run's (receipt time, welcome latency) pairs here as "
                             "JSON, to see when in a run the slow welcomes came")
    parser.add_argument("--base", type=Path, default=None,
                        help="also run the bot of this checkout (e.g. a worktree of the "
                             "previous commit), interleaved: same-run figures")
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.port)
        return 0
    keep = os.environ.get("BENCH_WORKDIR")  # keep the servers' logs and databases there
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        results = asyncio.run(bench(Path(keep), args))
    else:
        with tempfile.TemporaryDirectory(prefix="bench-callbacks-") as tmp:
            results = asyncio.run(bench(Path(tmp), args))
    if args.latencies:
        args.latencies.mkdir(parents=True, exist_ok=True)
        for number, r in enumerate(results, 1):
            kind = "burst" if r.get("burst") else f"{r['rate']:.0f}"
            path = args.latencies / f"{number:02d}-{r['target']}-{kind}.json"
            path.write_text(json.dumps(r["timeline"]))
    print(f"{REDELIVER:.0%} of callbacks sent twice (WeCom's retries); times in ms; CPU/cb is "
          "the server's CPU per callback with its welcomes done (loop/cb: on its event loop's "
          "thread), wait/cb the time it was ready "
          "to run with no core free, sim/cb the simulated WeCom's CPU and gen/cb this load "
          "generator's: the three share the machine's cores")
    return 0 if report(results) else 1


if __name__ == "__main__":
    sys.exit(main())
