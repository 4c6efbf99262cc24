"""What operators' tooling asks the bot: `/healthz` (the process answers), `/readyz` (it can
do its work: database reachable, schema at this code's newest migration, scheduler role, SOP
state) and `/metrics` (how it goes, `bot/metrics.py`).

Readiness is computed as plain values (`readiness`), wrapped into responses by the handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.db.engine import current_revision, head_revision
from bot.metrics import CONTENT_TYPE, read_snapshot

if TYPE_CHECKING:
    from bot.app import BotRuntime


async def readiness(runtime: BotRuntime) -> tuple[bool, dict[str, Any]]:
    """Database reachable, schema at this code's newest migration, scheduler role."""
    running = runtime.running
    if running is None:
        return False, {"replica": None, "scheduler": "starting", "sop": "off",
                       "database": "starting"}
    report: dict[str, Any] = {"replica": running.replica.id,
                              "scheduler": running.replica.role,
                              "sop": running.leader.sop_state()}
    try:
        async with asyncio.timeout(3.0):
            current = await running.services.db.read(current_revision)
    except Exception as exc:
        return False, {**report, "database": f"unreachable: {type(exc).__name__}"}
    head = head_revision()
    report.update(database="ok", migration=current, expected_migration=head)
    return current == head, report


def metrics_state(runtime: BotRuntime) -> dict[str, Any]:
    """This replica's figures the metrics page reads when scraped."""
    running = runtime.running
    return {"leader": bool(running and running.replica.is_leader),
            "refused": runtime.endpoint.refused,
            "busy": running.dispatcher.busy if running else 0}


def routes(runtime: BotRuntime) -> list[web.RouteDef]:
    async def readyz(_request: web.Request) -> web.Response:
        ready, report = await readiness(runtime)
        return web.json_response({"status": "ready" if ready else "not ready", **report},
                                 status=200 if ready else 503)

    async def metrics_page(_request: web.Request) -> web.Response:
        if runtime.running is not None:
            db = runtime.running.services.db
            with contextlib.suppress(Exception):  # a scrape during a database outage
                async with asyncio.timeout(5.0):
                    runtime.metrics.snapshot = await db.read(read_snapshot)
        return web.Response(body=runtime.metrics.render(),
                            headers={"Content-Type": CONTENT_TYPE})

    return [web.get("/healthz", healthz), web.get("/readyz", readyz),
            web.get("/metrics", metrics_page)]


async def healthz(_request: web.Request) -> web.Response:
    """Liveness: the process answers. Restart it if this fails; nothing else is checked."""
    return web.json_response({"status": "ok"})
