"""Wiring of the weekly digest to the running bot: the labels from the health rules, the
robot from sop/robots.yaml, the plan written in one transaction, the outbox woken."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from datetime import date, tzinfo
from typing import TYPE_CHECKING

from bot.books.yamlfile import OperatorFileErrors
from bot.console.digest import plan_digest
from bot.console.health import HealthBook
from bot.sop.robots import Robot, load_robots

if TYPE_CHECKING:
    from bot.app import BotRuntime

log = logging.getLogger(__name__)


def _robot(runtime: BotRuntime) -> Robot | None:
    settings, services = runtime.settings, runtime.services
    name = settings.console.digest_robot
    if not name or services is None:
        return None
    try:
        robots, _ = load_robots(settings.paths.sop_dir / "robots.yaml", services.stores)
    except OperatorFileErrors as exc:
        log.error("weekly digest: robots.yaml refused, no robot post: %s", exc)
        return None
    if name not in robots:
        log.warning("weekly digest: no robot %r in robots.yaml", name)
    return robots.get(name)


def weekly_digest(runtime: BotRuntime, tz: tzinfo, health: HealthBook
                  ) -> Callable[[date], Awaitable[int]]:
    async def plan(monday: date) -> int:
        services = runtime.services
        rules = health.current()
        if services is None or rules is None:
            return 0
        robot = _robot(runtime)
        url = runtime.settings.sidebar.public_url.rstrip("/")
        planned = await services.db.write(lambda c: plan_digest(
            c, monday, tz, services.stores, rules.labels(), robot, url, time.time()))
        if planned and runtime.outbox is not None:
            runtime.outbox.wake()
        return planned

    return plan
