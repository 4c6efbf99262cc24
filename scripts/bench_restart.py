"""A kill -9 and a restart under a steady stream of new customers: the gap, and what it cost.

    python scripts/bench_restart.py [--stores 0] [--rate 50] [--kills 3] [--base ../other]

The simulator (WeCom), the bot (`python -m bot run`, SQLite) and this script, which plays
WeCom's side of the callbacks: every `1/rate` s a customer scans (a fresh WelcomeCode, 20 s
to live from that moment) and their encrypted add_external_contact callback is POSTed;
one that is refused or not answered is sent again every 0.1 s (more often than WeCom
retries, so the gap is measured, not WeCom's retry schedule). After a steady start the bot
is killed with SIGKILL and started again at once, on the same database, `--kills` times.

Printed per restart: the gap (the kill to the first 200 of the new process), the new
process's time to its first 200 (what a deploy costs), how many customers scanned inside
the gap, and for them the WelcomeCode life spent (scan to the simulator's receipt of
send_welcome_msg; a code dies at 20 s). At the end: customers lost (never welcomed) and
doubled. `--stores N` runs with a generated stores.yaml of N stores (0: the shipped demo
books); `--base DIR` runs the bot from another checkout (e.g. the previous commit) the
same way, right after, for a same-run comparison.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from bench_callbacks import _encrypt_all, _spawn, _stop, _wait_up, _xml  # noqa: E402
from bench_sop_book import write_stores  # noqa: E402

from bot.simulator.local import free_port, secrets_env, throwaway_secrets  # noqa: E402

CODE_LIFE_S = 20.0


@dataclass
class Scan:
    external_userid: str
    scanned_at: float  # wall clock, as the simulator's welcome receipts
    answered_at: float | None = None


@dataclass
class Stream:
    """The customers sent so far and the 200s seen, with the bot's life events."""

    scans: list[Scan] = field(default_factory=list)
    oks: list[float] = field(default_factory=list)  # wall times of 200 answers
    refused: int = 0


class BotProcess:
    """The bot as a child process of a given checkout, started and killed on demand."""

    def __init__(self, repo: Path, config: Path, env: dict[str, str], log: Path) -> None:
        self.repo, self.config, self.env, self.log = repo, config, env, log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> float:
        started = time.time()
        self.proc = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            [sys.executable, "-m", "bot", "run", "--config", str(self.config)],
            env={**os.environ, **self.env, "PYTHONPATH": str(self.repo)}, cwd=self.repo,
            stdout=self.log.open("ab"), stderr=subprocess.STDOUT)
        return started

    def kill(self) -> float:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        return time.time()

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            _stop(self.proc)


async def _send(http: aiohttp.ClientSession, url: str, env: dict[str, str], sim_url: str,
                stream: Stream, userid: str) -> None:
    """One customer scans now; their callback is sent until a 200 comes back."""
    async with http.post(f"{sim_url}/sim/prepare_contacts",
                         json={"userid": userid, "count": 1,
                               "state": "store-0012-counter"}) as resp:
        contact = (await resp.json())[0]
    scan = Scan(contact["external_userid"], time.time())
    stream.scans.append(scan)
    plain = _xml(env["WECOM_CORP_ID"], userid, contact, int(scan.scanned_at))
    params, body = _encrypt_all(env, [plain])[0]
    while time.time() < scan.scanned_at + CODE_LIFE_S:
        try:
            async with http.post(url, params=params, data=body,
                                 timeout=aiohttp.ClientTimeout(total=5)) as resp:
                await resp.read()
                if resp.status == 200:
                    scan.answered_at = time.time()
                    stream.oks.append(scan.answered_at)
                    return
        except (aiohttp.ClientError, TimeoutError):
            stream.refused += 1
        await asyncio.sleep(0.1)


async def _run(repo: Path, workdir: Path, sop_dir: Path, rate: float, kills: int,
               steady_s: float) -> dict[str, object]:
    env = secrets_env(throwaway_secrets("wwrestart"))
    sim_port, bot_port = free_port(), free_port()
    sim = _spawn(["-m", "bot.simulator", "--port", str(sim_port)], env, workdir / "sim.log")
    sim_url = f"http://127.0.0.1:{sim_port}"
    config = workdir / "bot.toml"
    config.write_text(
        f'[server]\nhost = "127.0.0.1"\nport = {bot_port}\n'
        f'[database]\nurl = "sqlite:///{workdir / "bot.db"}"\n'
        f'[wecom]\napi_base_url = "{sim_url}/cgi-bin/"\n'
        f'[paths]\nsop_dir = "{sop_dir}"\ntemplates_dir = "{REPO / "templates"}"\n'
        '[logging]\nlevel = "WARNING"\n', "utf-8")
    bot = BotProcess(repo, config, env, workdir / "bot.log")
    stream = Stream()
    restarts: list[tuple[float, float]] = []  # (killed at, started at)
    try:
        await _wait_up(f"{sim_url}/sim/stats", sim)
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{sim_url}/sim/staff",
                                 json={"userid": "linxiaoyu", "name": "林晓雨"}) as resp:
                resp.raise_for_status()
            bot.start()
            await _wait_up(f"http://127.0.0.1:{bot_port}/healthz", bot.proc, 600)
            url = f"http://127.0.0.1:{bot_port}/wecom/callback"
            senders: list[asyncio.Task[None]] = []
            began = time.monotonic()
            total_s = steady_s * (kills + 1)
            next_kill = steady_s
            index = 0
            while time.monotonic() - began < total_s:
                if time.monotonic() - began >= next_kill and len(restarts) < kills:
                    killed = bot.kill()
                    restarts.append((killed, bot.start()))
                    next_kill += steady_s
                senders.append(asyncio.create_task(
                    _send(http, url, env, sim_url, stream, "linxiaoyu")))
                index += 1
                await asyncio.sleep(max(0.0, began + index / rate - time.monotonic()))
            await asyncio.gather(*senders)
            welcomes = await _welcomes(http, sim_url, stream, within_s=30.0)
    finally:
        bot.stop()
        _stop(sim)
    return {"stream": stream, "restarts": restarts, "welcomes": welcomes}


async def _welcomes(http: aiohttp.ClientSession, sim_url: str, stream: Stream,
                    within_s: float) -> dict[str, list[float]]:
    wanted = {s.external_userid for s in stream.scans}
    deadline = time.monotonic() + within_s
    while True:
        async with http.get(f"{sim_url}/sim/welcomes") as resp:
            found: dict[str, list[float]] = {}
            for w in await resp.json():
                if w["external_userid"] in wanted:
                    found.setdefault(w["external_userid"], []).append(w["received_at"])
        if len(found) >= len(wanted) or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.25)


def report(label: str, result: dict[str, object]) -> bool:
    stream: Stream = result["stream"]  # type: ignore[assignment]
    restarts: list[tuple[float, float]] = result["restarts"]  # type: ignore[assignment]
    welcomes: dict[str, list[float]] = result["welcomes"]  # type: ignore[assignment]
    print(f"{label}: {len(stream.scans)} customers, {len(restarts)} kill -9 + restart")
    for n, (killed, started) in enumerate(restarts, 1):
        first_ok = min((t for t in stream.oks if t > started), default=float("nan"))
        inside = [s for s in stream.scans if killed <= s.scanned_at < first_ok]
        spent = [min(welcomes[s.external_userid]) - s.scanned_at for s in inside
                 if s.external_userid in welcomes]
        late = sum(1 for v in spent if v >= CODE_LIFE_S)
        life = (f"code life spent median {statistics.median(spent):.2f} s, max "
                f"{max(spent):.2f} s of {CODE_LIFE_S:.0f}" if spent else "no code life spent")
        print(f"  restart {n}: gap {first_ok - killed:.2f} s (new process to first 200 "
              f"{first_ok - started:.2f} s); {len(inside)} scanned inside it, {life}"
              f"{f', {late} too late' if late else ''}")
    lost = sum(1 for s in stream.scans if s.external_userid not in welcomes)
    doubled = sum(1 for v in welcomes.values() if len(v) > 1)
    print(f"  connection errors retried {stream.refused}; lost {lost}, doubled {doubled}")
    return lost == 0 and doubled == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stores", type=int, default=0, help="generated stores (0: demo)")
    parser.add_argument("--rate", type=float, default=50.0, help="customers scanning a second")
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--steady", type=float, default=4.0, help="seconds between kills")
    parser.add_argument("--base", type=Path, help="also run the bot from this checkout")
    args = parser.parse_args()
    ok = True
    for label, repo in (("this checkout", REPO), ("base", args.base)):
        if repo is None:
            continue
        with tempfile.TemporaryDirectory(prefix="bench-restart-") as tmp:
            workdir = Path(tmp)
            sop_dir = REPO / "sop"
            if args.stores:
                sop_dir = workdir / "sop"
                shutil.copytree(REPO / "sop", sop_dir)
                write_stores(sop_dir / "stores.yaml", args.stores)
            result = asyncio.run(_run(repo.resolve(), workdir, sop_dir, args.rate, args.kills,
                                      args.steady))
            ok = report(f"{label} ({repo})", result) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
