"""How long a restart keeps WeCom's callbacks waiting, for a chain of N stores.

    python scripts/bench_startup.py [--stores 10000] [--repeat 3]

A customer who scans a QR code while the bot restarts has a WelcomeCode that dies 20 s
later, so the time from start to serving callbacks is welcomes lost on every deploy of a
single-process bot. The script starts the simulator, then the bot (SQLite, scheduler on)
with the shipped sop/ and templates/ and a generated stores.yaml of N stores, and prints:

* serving: start of the process until /healthz answers (callbacks are accepted from then);
* first welcome: a customer scans right then; until the simulator got send_welcome_msg;
* SOPs scheduled: until /readyz says `"sop": "running"` (the book is checked meanwhile).

Each with the CPU time the bot process had used by then: on a shared machine the wall
time is mostly waiting for a core, the CPU time is what the start itself costs.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from bench_callbacks import _cpu_seconds, _spawn, _stop, _wait_up  # noqa: E402
from bench_sop_book import write_stores  # noqa: E402

from bot.simulator.local import free_port, secrets_env, throwaway_secrets  # noqa: E402


async def _poll(fn: object, within_s: float = 300.0) -> float:
    start = time.perf_counter()
    deadline = start + within_s
    while not await fn():  # type: ignore[operator]
        if time.perf_counter() > deadline:
            raise TimeoutError("gave up waiting")
        await asyncio.sleep(0.02)
    return time.perf_counter()


async def one_start(workdir: Path, sop_dir: Path, env: dict[str, str], sim_url: str,
                    http: aiohttp.ClientSession, run: int) -> tuple[float, ...]:
    port = free_port()
    config = workdir / f"start{run}.toml"
    config.write_text(
        f'[server]\nhost = "127.0.0.1"\nport = {port}\n'
        f'[database]\nurl = "sqlite:///{workdir / "bot.db"}"\n'
        f'[wecom]\napi_base_url = "{sim_url}/cgi-bin/"\ngroup_sync_hours = 0\n'
        f'[paths]\nsop_dir = "{sop_dir}"\ntemplates_dir = "{REPO / "templates"}"\n'
        '[sop]\nscheduler = true\n[logging]\nlevel = "WARNING"\n', "utf-8")
    started = time.perf_counter()
    bot = _spawn(["-m", "bot", "run", "--config", str(config)], env, workdir / f"bot{run}.log")
    try:
        await _wait_up(f"http://127.0.0.1:{port}/healthz", bot)
        serving = time.perf_counter()
        serving_cpu = _cpu_seconds(bot.pid)
        async with http.post(f"{sim_url}/sim/callback_url",
                             json={"url": f"http://127.0.0.1:{port}/wecom/callback"}) as resp:
            resp.raise_for_status()
        async with http.post(f"{sim_url}/sim/scan", json={
                "userid": "linxiaoyu", "state": "takeout-card", "name": f"开机顾客{run}"}) as resp:
            resp.raise_for_status()
            ext = (await resp.json())["external_userid"]

        async def welcomed() -> bool:
            async with http.get(f"{sim_url}/sim/welcomes") as resp:
                return any(w["external_userid"] == ext for w in await resp.json())

        async def scheduled() -> bool:
            async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                return (await resp.json()).get("sop") == "running"

        first_welcome = await _poll(welcomed)
        welcome_cpu = _cpu_seconds(bot.pid)
        sop_running = await _poll(scheduled)
        return (serving - started, first_welcome - started, sop_running - started,
                serving_cpu, welcome_cpu, _cpu_seconds(bot.pid))
    finally:
        _stop(bot)


async def bench(stores: int, repeat: int) -> list[tuple[float, ...]]:
    env = secrets_env(throwaway_secrets("wwstart"))
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        workdir = Path(tmp)
        sop_dir = workdir / "sop"
        shutil.copytree(REPO / "sop", sop_dir)
        write_stores(sop_dir / "stores.yaml", stores)
        sim_port = free_port()
        sim = _spawn(["-m", "bot.simulator", "--port", str(sim_port)], env, workdir / "sim.log")
        try:
            sim_url = f"http://127.0.0.1:{sim_port}"
            await _wait_up(f"{sim_url}/sim/stats")
            async with aiohttp.ClientSession() as http:
                async with http.post(f"{sim_url}/sim/staff",
                                     json={"userid": "linxiaoyu", "name": "林晓雨"}) as resp:
                    resp.raise_for_status()
                return [await one_start(workdir, sop_dir, env, sim_url, http, run)
                        for run in range(repeat)]
        finally:
            _stop(sim)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = asyncio.run(bench(args.stores, args.repeat))
    print(f"bot start with {args.stores:,} stores, {args.repeat} starts (the first one "
          "creates the database):")
    for label, i in (("serving callbacks", 0), ("first welcome sent", 1),
                     ("SOPs scheduled", 2)):
        values = [r[i] for r in runs]
        cpu = [r[i + 3] for r in runs]
        print(f"  {label:<19} median {statistics.median(values):6.2f} s   "
              f"(runs: {', '.join(f'{v:.2f}' for v in values)}; the bot's CPU by then: "
              f"{', '.join(f'{v:.2f}' for v in cpu)} s)")


if __name__ == "__main__":
    main()
