"""The container image run the way production runs it: CI's container step.

    python scripts/container_smoke.py --image wecom-store-bot:ci \
        --database-url postgresql+psycopg://bot_ci:...@127.0.0.1:5432/bot_ci [--keep]

Called by .ci/container.sh after it built the image. Three containers of that image on the
host's network (`podman run --network=host`): the WeCom simulator and two bot replicas,
started together on one fresh schema of the given PostgreSQL database, each on its own
port. What must hold, else exit 1 with the reason and the containers' last log lines:

* both replicas answer `/readyz` 200 (migrations ran once, under the advisory lock), and
  the image's own HEALTHCHECK passes (`podman healthcheck run`);
* exactly one leads: `/readyz` says leader on one and follower on the other, the
  `wecom_bot_scheduler_leader` gauges sum to 1, `bot_replica` has one leader row;
* a customer scans a store manager's QR code twice, once with the simulator's callback URL
  on each replica: each replica receives its real encrypted add_external_contact callback
  (its own `wecom_bot_callbacks_total` counts it), and the simulator records exactly one
  welcome per customer;
* `podman stop` (SIGTERM) ends each replica with exit code 0 and a clean shutdown: its
  log ends with "bot stopped" and holds no error, and its `bot_replica` row is gone
  (removed as the replica lets go of its locks).

Secrets are throwaway values made per run and reach the containers as environment
variables named on podman's command line (`-e NAME`), never as values in it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "scripts"))

from bench_replicas import Schema  # noqa: E402  (a fresh schema, reached via search_path)

from bot.simulator.local import free_port, secrets_env, throwaway_secrets  # noqa: E402

MANAGER = ("linxiaoyu", "林晓雨")  # 天钥桥路店's 店长 in sop/stores.yaml
STATE = "takeout-card"  # the generic takeout card's QR code (sop/channels.yaml)


class SmokeFailure(Exception):
    """What did not hold; the step fails with this message."""


@dataclass
class Container:
    name: str
    port: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def podman(*args: str, env: dict[str, str] | None = None, check: bool = True
           ) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(["podman", *args], capture_output=True, text=True,  # noqa: S603, S607 - Debian's podman, our arguments
                          env={**os.environ, **(env or {})})
    if check and done.returncode != 0:
        raise SmokeFailure(f"podman {args[0]} failed ({done.returncode}): "
                           f"{done.stderr.strip()[-500:]}")
    return done


def http(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    """One request; (status, parsed JSON or text). Connection errors are status 0."""
    data = None if body is None else json.dumps(body, ensure_ascii=False).encode()
    request = urllib.request.Request(url, data=data, method=method,  # noqa: S310 - http on loopback
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:  # noqa: S310
            status, raw = resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        status, raw = exc.code, exc.read().decode()
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0, None
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw


def sim_call(sim: Container, path: str, body: Any = None) -> Any:
    status, answer = http("POST" if body is not None else "GET", f"{sim.url}{path}", body)
    if status != 200:
        raise SmokeFailure(f"simulator {path} answered {status}: {answer}")
    return answer


def until(check: Callable[[], bool], what: str, within_s: float) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            raise SmokeFailure(f"timed out after {within_s:.0f} s waiting for {what}")
        time.sleep(0.25)


def metric(page: str, name: str, **labels: str) -> float:
    """The sum of a metric's samples that carry all `labels` (Prometheus text format)."""
    total = 0.0
    for line in page.splitlines():
        match = re.match(rf"{re.escape(name)}(?:\{{(.*)\}})? (\S+)$", line)
        if match and all(f'{k}="{v}"' in (match.group(1) or "") for k, v in labels.items()):
            total += float(match.group(2))
    return total


def metrics_page(replica: Container) -> str:
    status, page = http("GET", f"{replica.url}/metrics")
    if status != 200:
        raise SmokeFailure(f"{replica.name} /metrics answered {status}")
    return str(page)


def recorded_scans(replica: Container) -> float:
    return metric(metrics_page(replica), "wecom_bot_callbacks_total",
                  type="contact.added", outcome="recorded")  # ContactAdded.kind


# -- the containers ----------------------------------------------------------------------

def start(image: str, name: str, env: dict[str, str], command: list[str],
          mounts: tuple[str, ...] = ()) -> None:
    podman("rm", "-f", "--ignore", name)
    names = [arg for n in env for arg in ("-e", n)]  # values travel in podman's environment
    volumes = [arg for m in mounts for arg in ("-v", m)]
    podman("run", "-d", "--name", name, "--hostname", name, "--network=host",
           *names, *volumes, image, *command, env=env)


def bot_config(workdir: Path, sim: Container) -> Path:
    """The image's settings with the simulator for WeCom; the port is given per replica."""
    path = workdir / "config.toml"
    path.write_text(
        '[server]\nhost = "127.0.0.1"\n'
        f'[wecom]\napi_base_url = "{sim.url}/cgi-bin/"\n'
        '[paths]\nsop_dir = "sop"\ntemplates_dir = "templates"\n'
        '[logging]\nlevel = "INFO"\njson = true\n', "utf-8")
    path.chmod(0o644)  # read by the image's non-root user
    return path


def start_all(image: str, env: dict[str, str], workdir: Path, prefix: str
              ) -> tuple[Container, list[Container]]:
    sim = Container(f"{prefix}-simulator", free_port())
    start(image, sim.name, env, ["python", "-m", "bot.simulator", "--host", "127.0.0.1",
                                 "--port", str(sim.port)])
    until(lambda: http("GET", f"{sim.url}/sim/stats")[0] == 200, "the simulator", 60)
    sim_call(sim, "/sim/staff", {"userid": MANAGER[0], "name": MANAGER[1]})
    config = bot_config(workdir, sim)
    replicas = [Container(f"{prefix}-bot-{x}", free_port()) for x in "ab"]
    for replica in replicas:  # started together: both race for the migrations' lock
        start(image, replica.name, {**env, "BOT_PORT": str(replica.port)},
              ["python", "-m", "bot", "run", "--config", "/app/config.toml", "--log-json",
               "--port", str(replica.port)], mounts=(f"{config}:/app/config.toml:ro",))
    return sim, replicas


# -- the checks --------------------------------------------------------------------------

def readyz(replica: Container) -> dict[str, Any]:
    status, report = http("GET", f"{replica.url}/readyz")
    return report if status == 200 and isinstance(report, dict) else {}


def is_ready(replica: Container) -> bool:
    """/readyz 200; a replica that exited (bad image, bad settings) fails at once."""
    state = podman("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", replica.name)
    status, code = state.stdout.split()
    if status not in ("running", "created", "configured"):
        raise SmokeFailure(f"{replica.name} is {status} (exit code {code}) instead of ready")
    return bool(readyz(replica))


def check_ready(replicas: list[Container]) -> None:
    for replica in replicas:
        until(partial(is_ready, replica), f"{replica.name} /readyz 200", 90)
        health = podman("healthcheck", "run", replica.name, check=False)
        if health.returncode != 0:
            raise SmokeFailure(f"{replica.name}: the image's HEALTHCHECK failed: "
                               f"{(health.stdout + health.stderr).strip()}")
        print(f"ready: {replica.name} on :{replica.port} {readyz(replica)}")


def check_one_leader(replicas: list[Container], schema: Schema) -> None:
    def roles() -> list[str]:
        return sorted(str(readyz(r).get("scheduler")) for r in replicas)

    until(lambda: roles() == ["follower", "leader"], "one leader and one follower", 15)
    gauges = sum(metric(metrics_page(r), "wecom_bot_scheduler_leader") for r in replicas)
    rows = schema.rows("SELECT role, count(*) FROM bot_replica GROUP BY role ORDER BY role")
    if gauges != 1 or rows != [("follower", 1), ("leader", 1)]:
        raise SmokeFailure(f"leadership: gauges sum to {gauges}, bot_replica has {rows}")
    print(f"one leader: /readyz {roles()}, leader gauges sum to 1, bot_replica {rows}")


def welcome_through(sim: Container, replica: Container, others: list[Container],
                    customer: str) -> str:
    """A customer scans the manager's QR code; WeCom (the simulator) calls `replica`."""
    before = {r.name: recorded_scans(r) for r in [replica, *others]}
    sim_call(sim, "/sim/callback_url", {"url": f"{replica.url}/wecom/callback"})
    ext = sim_call(sim, "/sim/scan", {"userid": MANAGER[0], "state": STATE,
                                      "name": customer})["external_userid"]
    if not sim_call(sim, "/sim/wait_delivered", {"timeout": 20})["delivered"]:
        raise SmokeFailure(f"the callback for {customer} was not acknowledged by "
                           f"{replica.name}")
    until(lambda: bool(sim_call(sim, f"/sim/welcomes?external_userid={ext}")),
          f"the welcome to {customer} (through {replica.name})", 30)
    after = {r.name: recorded_scans(r) for r in [replica, *others]}
    took = [name for name in after if after[name] != before[name]]
    if took != [replica.name] or after[replica.name] - before[replica.name] != 1:
        raise SmokeFailure(f"the callback for {customer} was recorded by {took}, "
                           f"expected {replica.name} once")
    print(f"welcome through {replica.name}: {customer} ({ext})")
    return ext


def check_welcomed_once(sim: Container, customers: list[str], schema: Schema) -> None:
    time.sleep(2)  # a doubled welcome would have arrived by now
    counts = [len(sim_call(sim, f"/sim/welcomes?external_userid={ext}")) for ext in customers]
    pending = schema.rows("SELECT count(*) FROM inbox_event WHERE status <> 'done'")
    if counts != [1] * len(customers) or pending != [(0,)]:
        raise SmokeFailure(f"welcomes per customer {counts}, inbox not done {pending}")
    print(f"welcomed once each: {counts}")


def stop_cleanly(replicas: list[Container], sim: Container, schema: Schema) -> None:
    """SIGTERM, as an orchestrator stops a container; the bot finishes its work first."""
    for c in [*replicas, sim]:
        podman("stop", "-t", "30", c.name)
        code = podman("inspect", "-f", "{{.State.ExitCode}}", c.name).stdout.strip()
        log = podman("logs", c.name)
        lines = (log.stdout + log.stderr).splitlines()
        errors = [line for line in lines if '"level": "ERROR"' in line or "Traceback" in line]
        if code != "0" or errors:
            raise SmokeFailure(f"{c.name} stopped with exit code {code}, "
                               f"{len(errors)} error lines: {errors[:3]}")
        if c in replicas and not any('"bot stopped: replica' in line for line in lines):
            raise SmokeFailure(f"{c.name} exited without its shutdown line 'bot stopped'")
    left = schema.rows("SELECT id, role FROM bot_replica")
    if left:
        raise SmokeFailure(f"replicas still registered after a clean stop: {left}")
    print("stopped cleanly: exit code 0 each, 'bot stopped' logged, no error, "
          "bot_replica empty")


def show_logs(names: list[str], lines: int = 40) -> None:
    for name in names:
        done = podman("logs", "--tail", str(lines), name, check=False)
        print(f"--- last log lines of {name} ---\n{done.stdout}{done.stderr}", file=sys.stderr)


def smoke(image: str, database_url: str, keep: bool) -> None:
    schema = Schema(database_url)
    schema.create()
    prefix = f"smoke-{schema.name[-6:]}"
    creds = throwaway_secrets("wwctr")
    env = {**secrets_env(creds), "BOT_DATABASE_URL": schema.url,
           "BOT_SESSION_KEY": os.urandom(24).hex()}
    names = [f"{prefix}-{n}" for n in ("simulator", "bot-a", "bot-b")]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            os.chmod(tmp, 0o755)  # noqa: S103 - the image's user reads config.toml in it
            sim, replicas = start_all(image, env, Path(tmp), prefix)
            check_ready(replicas)
            check_one_leader(replicas, schema)
            a, b = replicas
            customers = [welcome_through(sim, a, [b], "试用顾客甲"),
                         welcome_through(sim, b, [a], "试用顾客乙")]
            check_welcomed_once(sim, customers, schema)
            stop_cleanly([b, a], sim, schema)
    except SmokeFailure:
        show_logs(names)
        raise
    finally:
        if not keep:
            podman("rm", "-f", "--ignore", *names, check=False)
            schema.drop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--image", required=True)
    parser.add_argument("--database-url", required=True,
                        help="postgresql+psycopg://...; a fresh schema is made in it")
    parser.add_argument("--keep", action="store_true",
                        help="keep the containers and the schema afterwards")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        smoke(args.image, args.database_url, args.keep)
    except SmokeFailure as exc:
        print(f"container smoke FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"container smoke passed in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
