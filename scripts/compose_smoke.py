"""docker-compose.yml brought up with podman-compose, checked, and taken down: CI's trial of
the compose file (.ci/container.sh runs it after scripts/container_smoke.py).

    python scripts/compose_smoke.py --compose /path/to/podman-compose [--keep]

The whole trial stack on podman's bridge network, as a developer would start it: PostgreSQL
and nginx built from deploy/, two replicas and the simulator from the bot's Dockerfile, on
free host ports (BOT1_PORT, BOT2_PORT, SIM_PORT) under a project name of its own. What must
hold, else exit 1 with the reason and the containers' last log lines:

* both replicas answer `/readyz` 200 on their published ports, exactly one leads;
* four customers scan a store manager's QR code; the simulator sends each callback to the
  proxy's callback URL, nginx spreads them over the replicas (both record some), and each
  customer is welcomed exactly once;
* the replicas stopped first (SIGTERM), then the rest: every container exits 0 and each
  replica logs "bot stopped".

podman 4.3 (Debian bookworm) has no `condition: service_healthy`: podman-compose says so and
starts the replicas without waiting for PostgreSQL's health check (docs/deployment.md).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import uuid
from functools import partial
from pathlib import Path

from container_smoke import (
    MANAGER,
    STATE,
    Container,
    SmokeFailure,
    http,
    metric,
    metrics_page,
    podman,
    readyz,
    recorded_scans,
    show_logs,
    sim_call,
    until,
)

from bot.simulator.local import free_port

REPO = Path(__file__).resolve().parent.parent
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
SERVICES = ("postgres", "simulator", "bot1", "bot2", "proxy")
CUSTOMERS = ("试用顾客甲", "试用顾客乙", "试用顾客丙", "试用顾客丁")


class Compose:
    def __init__(self, executable: str, project: str, env: dict[str, str]) -> None:
        self.executable, self.project, self.env = executable, project, env

    def __call__(self, *args: str) -> None:
        build_args = "--format docker"  # keeps the images' HEALTHCHECK
        if os.path.exists(CA_BUNDLE):  # TLS re-signed on the way to PyPI: pip needs it
            build_args += f" -v {CA_BUNDLE}:/host-ca.crt:ro --build-arg PIP_CERT=/host-ca.crt"
        done = subprocess.run(  # noqa: S603 - podman-compose from PyPI, our arguments
            [self.executable, "-p", self.project, f"--podman-build-args={build_args}", *args],
            cwd=REPO, capture_output=True, text=True, env={**os.environ, **self.env})
        if done.returncode != 0:
            raise SmokeFailure(f"podman-compose {args[0]} failed ({done.returncode}): "
                               f"{done.stderr.strip()[-800:]}")

    def container(self, service: str) -> str:
        return f"{self.project}_{service}_1"


def answers_ready(bot: Container) -> bool:
    """/readyz 200. Unlike the container smoke, an exit is not fatal here: a replica that
    started before PostgreSQL accepted connections exits and `restart:` brings it back."""
    return bool(readyz(bot))


def check_up(bots: list[Container]) -> None:
    for bot in bots:
        until(partial(answers_ready, bot), f"{bot.name} /readyz 200", 120)
    roles = sorted(str(readyz(b).get("scheduler")) for b in bots)
    leaders = sum(metric(metrics_page(b), "wecom_bot_scheduler_leader") for b in bots)
    if roles != ["follower", "leader"] or leaders != 1:
        raise SmokeFailure(f"leadership: /readyz {roles}, leader gauges sum to {leaders}")
    print(f"compose up: both replicas ready, one leader ({roles})")


def check_welcomes_through_proxy(sim: Container, bots: list[Container]) -> None:
    sim_call(sim, "/sim/staff", {"userid": MANAGER[0], "name": MANAGER[1]})
    exts = [sim_call(sim, "/sim/scan", {"userid": MANAGER[0], "state": STATE, "name": name}
                     )["external_userid"] for name in CUSTOMERS]
    if not sim_call(sim, "/sim/wait_delivered", {"timeout": 20})["delivered"]:
        raise SmokeFailure("callbacks through the proxy were not all acknowledged")

    def welcomed() -> list[int]:
        return [len(sim_call(sim, f"/sim/welcomes?external_userid={e}")) for e in exts]

    until(lambda: all(welcomed()), "a welcome for each customer", 30)
    time.sleep(2)  # a doubled welcome would have arrived by now
    per_bot = [recorded_scans(b) for b in bots]
    if welcomed() != [1] * len(exts) or sum(per_bot) != len(exts) or 0 in per_bot:
        raise SmokeFailure(f"welcomes per customer {welcomed()}, callbacks recorded per "
                           f"replica {per_bot} (nginx should spread {len(exts)} over both)")
    print(f"welcomed once each through nginx: {welcomed()}, recorded per replica {per_bot}")


def check_stop(compose: Compose) -> None:
    compose("stop", "bot1", "bot2")  # first: podman-compose 1.6 would stop PostgreSQL first
    compose("stop")
    for service in SERVICES:
        name = compose.container(service)
        code = podman("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip()
        if code != "0":
            raise SmokeFailure(f"{name} stopped with exit code {code}")
        if service.startswith("bot"):
            log = podman("logs", name)
            if '"bot stopped: replica' not in log.stdout + log.stderr:
                raise SmokeFailure(f"{name} exited without its shutdown line 'bot stopped'")
    print("compose stop: every container exited 0, both replicas logged 'bot stopped'")


def smoke(executable: str, keep: bool) -> None:
    ports = {"BOT1_PORT": free_port(), "BOT2_PORT": free_port(), "SIM_PORT": free_port()}
    compose = Compose(executable, f"botsmoke{uuid.uuid4().hex[:6]}",
                      {k: str(v) for k, v in ports.items()})
    bots = [Container(compose.container("bot1"), ports["BOT1_PORT"]),
            Container(compose.container("bot2"), ports["BOT2_PORT"])]
    sim = Container(compose.container("simulator"), ports["SIM_PORT"])
    try:
        compose("up", "-d", "--build")
        until(lambda: http("GET", f"{sim.url}/sim/stats")[0] == 200, "the simulator", 60)
        check_up(bots)
        check_welcomes_through_proxy(sim, bots)
        check_stop(compose)
    except SmokeFailure:
        show_logs([compose.container(s) for s in SERVICES])
        raise
    finally:
        if not keep:
            try:
                compose("down", "-v")
            except SmokeFailure as exc:  # the result stands; the leftovers are reported
                print(f"warning: {exc}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--compose", required=True, help="the podman-compose executable")
    parser.add_argument("--keep", action="store_true",
                        help="leave the stack (and its volume) in place afterwards")
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        smoke(args.compose, args.keep)
    except SmokeFailure as exc:
        print(f"compose smoke FAILED: {exc}", file=sys.stderr)
        return 1
    print(f"compose smoke passed in {time.monotonic() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
