"""The journeys test world: the real bot and simulator, the shipped journey files copied to
a folder the test may edit, and one clock for the journey runner and the outbox worker.

The clock is the test's: a journey counts days, and the tests walk a customer through them
(day 1 at 12:00, day 2 ...) without waiting days. Callbacks, API calls and the database are
the real ones.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.books.live import LiveBook
from bot.config import Settings
from bot.journeys.book import JourneyBook
from bot.journeys.files import live_journeys
from bot.journeys.runner import JourneyRunner
from tests.conftest import REPO, World

SHANGHAI = ZoneInfo("Asia/Shanghai")
ADD = "externalcontact/add_msg_template"


class Clock:
    def __init__(self) -> None:
        self.t: float | None = time.time()

    def __call__(self) -> float:
        return time.time() if self.t is None else self.t

    def live(self) -> None:
        """From now on, the real time."""
        self.t = None

    def day(self, offset: int, clock: str) -> float:
        """Local day (today + offset) at HH:MM, Shanghai."""
        hour, minute = (int(x) for x in clock.split(":"))
        today = datetime.fromtimestamp(time.time(), SHANGHAI).date()
        self.t = datetime.combine(today + timedelta(days=offset),
                                  datetime.min.time().replace(hour=hour, minute=minute),
                                  SHANGHAI).timestamp()
        return self.t


@dataclass
class Journeys:
    world: World
    settings: Settings
    live: LiveBook[JourneyBook]
    runner: JourneyRunner
    clock: Clock
    folder: Path

    @property
    def today(self) -> date:
        return datetime.fromtimestamp(self.clock(), SHANGHAI).date()

    async def at(self, offset: int, clock: str, *, plan: bool = False) -> None:
        """Move the clock, run the runner's tick, and let the outbox make its calls."""
        self.clock.day(offset, clock)
        await self.runner.tick(plan=plan)
        await self.sent()

    async def now(self) -> None:
        """The real time (day 0, when the callbacks happened): read entries, tick."""
        self.clock.t = time.time()
        await self.runner.tick()
        await self.sent()

    async def sent(self) -> None:
        """Until no send is queued or in flight (created tasks wait for their owner)."""
        await until(lambda: not self.world.rows(
            "SELECT id FROM outbox_send WHERE status IN ('queued', 'sending', 'unknown')"))

    async def followed(self) -> None:
        """Owners confirm their tasks; a little later the bot has followed every one."""
        self.world.sim.confirm_pending_groupsends(everyone=True)
        self.clock.t = self.clock() + 120
        outbox = self.world.runtime.outbox
        assert outbox is not None
        outbox.wake()
        await until(lambda: not self.world.rows(
            "SELECT id FROM outbox_send WHERE status NOT IN ('done', 'failed', 'uncertain')"))

    def steps(self, ext: str) -> dict[str, tuple[str, str]]:
        return {s: (st, r) for s, st, r in self.world.rows(
            "SELECT step, status, reason FROM journey_step WHERE external_userid = ?", ext)}

    def entries(self, ext: str) -> list[tuple[str, str, str]]:
        return [tuple(r) for r in self.world.rows(  # type: ignore[misc]
            "SELECT journey, status, reason FROM journey_entry WHERE external_userid = ? "
            "ORDER BY id", ext)]

    def write(self, name: str, text: str) -> None:
        (self.folder / name).write_text(text, encoding="utf-8")

    def only(self, journeys: str, *, precedence: str = "[]") -> None:
        """Replace the shipped journeys with these (YAML under ``journeys:``), keeping the
        shipped tag vocabulary; loaded at once."""
        for path in self.folder.glob("*.yaml"):
            if path.name != "settings.yaml":
                path.unlink()
        settings = (REPO / "sop" / "journeys" / "settings.yaml").read_text(encoding="utf-8")
        tags = settings[settings.index("\ntags:"):]
        self.write("settings.yaml", "timezone: Asia/Shanghai\nallowance:\n  per_day: 1\n"
                                    f"  precedence: {precedence}\n{tags}")
        self.write("test.yaml", "journeys:\n" + journeys)
        self.live.load_now()


def journeys_world(world: World, tmp_path: Path) -> Journeys:
    sop_dir = tmp_path / "sop"
    shutil.copytree(REPO / "sop", sop_dir)
    settings = world.settings.with_overrides(paths={"sop_dir": sop_dir})
    live = live_journeys(settings)
    live.load_now()
    clock = Clock()
    runtime = world.runtime
    assert runtime.outbox is not None and runtime.services is not None
    runtime.outbox.clock = clock  # one clock for the runner and the worker
    runtime.outbox.sending.clock = clock
    runner = JourneyRunner(runtime.services.db, live, wake=runtime.outbox.wake, clock=clock)
    return Journeys(world, settings, live, runner, clock, sop_dir / "journeys")


async def until(check: Callable[[], bool], within_s: float = 15.0) -> None:
    deadline = time.monotonic() + within_s
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not reached")
        await asyncio.sleep(0.02)


def texts(world: World, ext: str) -> list[str]:
    world.sim.confirm_pending_groupsends(everyone=True)
    return [m.text for m in world.sim.customer_messages(ext)]
