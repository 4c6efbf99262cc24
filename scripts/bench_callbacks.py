"""Callback throughput and latency: the real bot against a bare handler, same load, same run.

    python scripts/bench_callbacks.py [--n 5000] [--concurrency 100] [--redeliver 0.1]

Three processes on loopback: the simulator (WeCom), the server under test, and this script
as the load generator. Each of N new customers is one encrypted add_external_contact
callback (with a real WelcomeCode from the simulator); a share of them is sent again,
freshly encrypted, as WeCom's redeliveries are. The same payloads go first to a *bare*
handler (verify + decrypt + parse + answer, nothing recorded) and then to the bot (which
records each event durably before answering, then welcomes and tags the customer).

Prints callbacks/s for both and their ratio, ack latency p50/p99, receipt-to-welcome-call
latency p50/p99 (bot's receipt of the callback to the simulator's receipt of
send_welcome_msg), and lost / doubled counts. It also prints the CPU time per callback of
each of the three processes (bare/bot, load generator, simulator): they share the machine's
cores, so these say what rate the machine can sustain at all, whatever the bot does.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.simulator.local import free_port, secrets_env, throwaway_secrets  # noqa: E402
from bot.wecom.crypto import CallbackCrypto  # noqa: E402

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
                async with http.post(url, params=params, data=body) as resp:
                    await resp.read()
                    if resp.status != 200:
                        failures += 1
                latencies.append(time.perf_counter() - start)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - started
    return elapsed, latencies, failures


async def _new_customers(sim_url: str, env: dict[str, str], managers: list[str], n: int,
                         redeliver: float, seed: int
                         ) -> tuple[list[tuple[str, dict[str, str]]], list[str]]:
    """N customers scan QR codes (in the simulator); their callbacks plus redeliveries."""
    rng = random.Random(seed)
    contacts: list[tuple[str, dict[str, str]]] = []
    async with aiohttp.ClientSession() as http:
        per_state = max(n // len(STATES), 1)
        for state in STATES:
            userid = rng.choice(managers)
            async with http.post(f"{sim_url}/sim/prepare_contacts",
                                 json={"userid": userid, "count": per_state,
                                       "state": state}) as resp:
                contacts += [(userid, c) for c in await resp.json()]
    now = int(time.time())
    unique = [_xml(env["WECOM_CORP_ID"], uid, c, now) for uid, c in contacts]
    plaintexts = unique + [rng.choice(unique) for _ in range(int(len(unique) * redeliver))]
    rng.shuffle(plaintexts)
    return contacts, plaintexts


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=1000, method="inclusive")[int(q * 10) - 1] \
        if len(values) > 1 else values[0]


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [sys.executable, *args], env={**os.environ, **env}, cwd=REPO,
        stdout=log.open("wb"), stderr=subprocess.STDOUT)


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _spawn_tool(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(args, stdout=log.open("wb"), stderr=subprocess.STDOUT)  # noqa: S603


def _stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


async def bench(n: int, concurrency: int, redeliver: float, workdir: Path,
                rate: float | None) -> dict[str, Any]:
    env = secrets_env(throwaway_secrets("wwbench"))
    sim_port, bare_port, bot_port = free_port(), free_port(), free_port()
    sim = _spawn(["-m", "bot.simulator", "--port", str(sim_port)], env, workdir / "sim.log")
    procs = [sim]
    try:
        await _wait_up(f"http://127.0.0.1:{sim_port}/sim/stats")
        from bot.books.stores import StoreDirectory

        managers = [s.manager_userid for s in StoreDirectory.load(REPO / "sop/stores.yaml").all()]
        async with aiohttp.ClientSession() as http:
            for userid in managers:
                async with http.post(f"http://127.0.0.1:{sim_port}/sim/staff",
                                     json={"userid": userid, "name": userid}) as resp:
                    resp.raise_for_status()
        sim_url = f"http://127.0.0.1:{sim_port}"
        _, bare_plain = await _new_customers(sim_url, env, managers, n, redeliver, seed=1)

        # 1. The bare handler: verify, decrypt, parse, answer.
        bare = _spawn([str(Path(__file__)), "--serve-bare", "--port", str(bare_port)], env,
                      workdir / "bare.log")
        procs.append(bare)
        await _wait_up(f"http://127.0.0.1:{bare_port}/healthz")
        bare_url = f"http://127.0.0.1:{bare_port}/wecom/callback"
        await _drive(bare_url, _encrypt_all(env, bare_plain[:500]), concurrency)  # warm-up
        bare_payloads = _encrypt_all(env, bare_plain)
        cpu0, gen0 = _cpu_seconds(bare.pid), time.process_time()
        bare_elapsed, bare_lat, bare_fail = await _drive(bare_url, bare_payloads, concurrency)
        bare_cpu, bare_gen_cpu = _cpu_seconds(bare.pid) - cpu0, time.process_time() - gen0
        _stop(bare)

        # 2. The bot: record durably, answer, then welcome and tag.
        config = workdir / "bench.toml"
        config.write_text(
            f'[server]\nhost = "127.0.0.1"\nport = {bot_port}\n'
            f'[database]\nurl = "sqlite:///{workdir / "bench.db"}"\n'
            f'[wecom]\napi_base_url = "http://127.0.0.1:{sim_port}/cgi-bin/"\n'
            f'[paths]\nsop_dir = "{REPO / "sop"}"\ntemplates_dir = "{REPO / "templates"}"\n'
            '[logging]\nlevel = "WARNING"\n')
        bot = _spawn(["-m", "bot", "run", "--config", str(config)], env, workdir / "bot.log")
        procs.append(bot)
        if os.environ.get("BENCH_PROFILE"):  # BENCH_PROFILE=/tmp/bot.raw: py-spy the bot
            py_spy = str(Path(sys.executable).with_name("py-spy"))
            procs.append(_spawn_tool([py_spy, "record", "-o", os.environ["BENCH_PROFILE"],
                                 "-p", str(bot.pid), "-d", "15", "-r", "200", "-f", "raw"],
                                workdir / "py-spy.log"))
        await _wait_up(f"http://127.0.0.1:{bot_port}/healthz")
        bot_url = f"http://127.0.0.1:{bot_port}/wecom/callback"
        # Fresh customers: a WelcomeCode lives 20 s from the scan, so scan just before sending.
        contacts, plaintexts = await _new_customers(sim_url, env, managers, n, redeliver, seed=2)
        unique_count = len(contacts)
        bot_payloads = _encrypt_all(env, plaintexts)
        cpu0, sim0, gen0 = _cpu_seconds(bot.pid), _cpu_seconds(sim.pid), time.process_time()
        bot_elapsed, bot_lat, bot_fail = await _drive(bot_url, bot_payloads, concurrency, rate)
        bot_cpu_burst = _cpu_seconds(bot.pid) - cpu0
        bot_gen_cpu = time.process_time() - gen0

        # 3. Wait for the welcomes, then count.
        deadline = time.monotonic() + 60
        async with aiohttp.ClientSession() as http:
            while True:  # poll the count (cheap): the simulator's CPU is measured too
                async with http.get(f"http://127.0.0.1:{sim_port}/sim/stats") as resp:
                    welcomed = (await resp.json())["welcomes"]
                if welcomed >= unique_count or time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.25)
            bot_cpu_total = _cpu_seconds(bot.pid) - cpu0
            sim_cpu = _cpu_seconds(sim.pid) - sim0  # its API work for the welcomes
            async with http.get(f"http://127.0.0.1:{sim_port}/sim/welcomes") as resp:
                welcomes = await resp.json()
        _stop(bot)
        with sqlite3.connect(workdir / "bench.db") as conn:
            inbox_rows = conn.execute("SELECT count(*) FROM inbox_event").fetchone()[0]
            received = dict(conn.execute(
                "SELECT w.external_userid, e.received_at FROM welcome w "
                "JOIN inbox_event e ON e.id = w.event_id").fetchall())
            statuses = dict(conn.execute(
                "SELECT status, count(*) FROM welcome GROUP BY status").fetchall())
        per_customer: dict[str, int] = {}
        for w in welcomes:
            per_customer[w["external_userid"]] = per_customer.get(w["external_userid"], 0) + 1
        welcome_lat = [w["received_at"] - received[w["external_userid"]] for w in welcomes
                       if w["external_userid"] in received]
        expected = {c["external_userid"] for _, c in contacts}
        return {
            "n_unique": unique_count, "n_sent": len(plaintexts), "concurrency": concurrency,
            "bare_rps": len(plaintexts) / bare_elapsed, "bot_rps": len(plaintexts) / bot_elapsed,
            "bare_ack_p50": _pct(bare_lat, 50), "bare_ack_p99": _pct(bare_lat, 99),
            "bot_ack_p50": _pct(bot_lat, 50), "bot_ack_p99": _pct(bot_lat, 99),
            "welcome_p50": _pct(welcome_lat, 50), "welcome_p99": _pct(welcome_lat, 99),
            "non_200": bare_fail + bot_fail,
            "bare_cpu_ms": bare_cpu * 1000 / len(bare_plain),
            "bot_cpu_burst_ms": bot_cpu_burst * 1000 / len(plaintexts),
            "bot_cpu_total_ms": bot_cpu_total * 1000 / len(plaintexts),
            "bot_burst_util": bot_cpu_burst / bot_elapsed, "inbox_rows": inbox_rows,
            "sim_cpu_ms": sim_cpu * 1000 / len(plaintexts),
            "bare_gen_cpu_ms": bare_gen_cpu * 1000 / len(bare_plain),
            "bot_gen_cpu_ms": bot_gen_cpu * 1000 / len(plaintexts),
            "lost": len(expected - set(per_customer)),
            "doubled": sum(1 for v in per_customer.values() if v > 1),
            "welcome_statuses": statuses,
        }
    finally:
        for proc in procs:
            if proc.poll() is None:
                _stop(proc)


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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=5000, help="new customers (unique callbacks)")
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--redeliver", type=float, default=0.1,
                        help="share of callbacks sent again, as WeCom's retries")
    parser.add_argument("--rate", type=float, default=None,
                        help="pace the bot's callbacks to this many a second (open loop) "
                             "instead of as fast as answers come back")
    parser.add_argument("--serve-bare", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_bare:
        serve_bare(args.port)
        return 0
    with tempfile.TemporaryDirectory(prefix="bench-callbacks-") as tmp:
        r = asyncio.run(bench(args.n, args.concurrency, args.redeliver, Path(tmp), args.rate))
    ms = 1000.0
    pace = f", bot paced at {args.rate:.0f}/s" if args.rate else " (closed loop, saturating)"
    print(f"callbacks: {r['n_unique']} new customers, {r['n_sent']} POSTs "
          f"(incl. redeliveries), concurrency {r['concurrency']}{pace}")
    for label, key in (("bare handler ", "bare"), ("bot (durable)", "bot")):
        print(f"{label}: {r[key + '_rps']:8.0f} callbacks/s   "
              f"ack p50 {r[key + '_ack_p50'] * ms:6.1f} ms   "
              f"p99 {r[key + '_ack_p99'] * ms:6.1f} ms")
    print(f"CPU per callback: bare {r['bare_cpu_ms']:.2f} ms; bot {r['bot_cpu_burst_ms']:.2f} ms "
          f"during the burst ({r['bot_burst_util']:.0%} of a core), "
          f"{r['bot_cpu_total_ms']:.2f} ms with the welcomes done")
    print(f"CPU per callback elsewhere: load generator {r['bare_gen_cpu_ms']:.2f} ms (bare run), "
          f"{r['bot_gen_cpu_ms']:.2f} ms (bot run); simulator {r['sim_cpu_ms']:.2f} ms "
          "(its API work for the bot's welcomes)")
    print(f"ratio bot/bare: {r['bot_rps'] / r['bare_rps']:.2f}   (target >= 0.70)")
    print(f"receipt-to-welcome-call: p50 {r['welcome_p50'] * ms:6.1f} ms   "
          f"p99 {r['welcome_p99'] * ms:6.1f} ms   (target p99 < 1000 ms)")
    print(f"inbox rows {r['inbox_rows']} (expected {r['n_unique']}), non-200 answers "
          f"{r['non_200']}, welcome statuses {r['welcome_statuses']}")
    print(f"lost {r['lost']}   doubled {r['doubled']}")
    ok = r["lost"] == 0 and r["doubled"] == 0 and r["inbox_rows"] == r["n_unique"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
