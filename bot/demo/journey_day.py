"""The demo's journey scene: 王丽 answers the questionnaire 「D 控糖减脂」, enters the
11-day sugar-control track (sop/journeys/sugar_control.yaml), gets days 1 to 3 as
one-to-one 群发 from her store manager, and leaves the track when she buys on day 3.

The journey runner and the outbox worker share one demo clock that walks the days in
seconds; the purchase comes through `record_member_event`, the interface the member data
(bot/members/) calls.
"""

from __future__ import annotations

import asyncio
import time
from datetime import date, datetime, timedelta

from sqlalchemy import TextClause, text

from bot.app import BotRuntime
from bot.config import Settings
from bot.db.engine import Database
from bot.demo.terminal import print_text
from bot.demo.welcome_day import settle
from bot.journeys import record_member_event
from bot.journeys.files import live_journeys
from bot.journeys.preview import customer_preview
from bot.journeys.runner import DEFAULT_ZONE, JourneyRunner
from bot.simulator import Simulator

__all__ = ["play_journey"]

_OPEN = text("SELECT count(*) FROM outbox_send WHERE status IN ('queued', 'sending')")


class _DemoClock:
    def __init__(self) -> None:
        self.t = time.time()

    def __call__(self) -> float:
        return self.t

    def on(self, today: date, offset: int, clock: str) -> None:
        hour, minute = (int(x) for x in clock.split(":"))
        at = datetime.combine(today + timedelta(days=offset), datetime.min.time(),
                              DEFAULT_ZONE) + timedelta(hours=hour, minutes=minute)
        self.t = at.timestamp()


async def play_journey(sim: Simulator, runtime: BotRuntime, settings: Settings,
                       customers: dict[str, str]) -> None:
    assert runtime.services is not None and runtime.outbox is not None
    ext = next(e for e, name in customers.items() if name == "王丽")
    db, worker = runtime.services.db, runtime.outbox
    live = live_journeys(settings)
    live.load_now()
    clock = _DemoClock()
    worker.clock = worker.sending.clock = clock
    journeys = JourneyRunner(db, live, wake=worker.wake, clock=clock)
    print("\n== 王丽的控糖减脂 11 天 (sop/journeys/sugar_control.yaml, played in seconds)")
    tag = sim.admin_add_tag("问卷", "D 控糖减脂")
    await settle(sim, runtime)
    # Her 16:10 tag edit of the welcome day was this same second: WeCom's CreateTime is
    # whole seconds, and the inbox takes two identical edit callbacks of one second for a
    # redelivery. The questionnaire comes later in her day.
    await asyncio.sleep(1.1)
    sim.edit_contact_tags("linxiaoyu", ext, add_tag_ids=[tag])
    await settle(sim, runtime)
    await _until(db, text("SELECT COUNT(*) FROM member_tag m JOIN tag t ON t.id = m.tag_id "
                          "WHERE m.external_userid = :e AND t.id = :t"),
                 {"e": ext, "t": tag})  # read back from WeCom, the tag list synced
    clock.t = time.time()
    await journeys.tick()
    today = datetime.fromtimestamp(clock(), DEFAULT_ZONE).date()
    print(f"  day 0 ({today})  王丽 填了问卷，标签 问卷/D 控糖减脂 → 进入 sugar-control")
    seen = 0
    for day, at in [(1, "10:00"), (2, "10:00"), (3, "08:30")]:
        clock.on(today, day, "00:05")
        await journeys.tick(plan=True)
        for moment in (at, "23:00"):  # her step, then whatever else the day holds
            clock.on(today, day, moment)
            await journeys.tick()
            await _sent(db, worker)
            sim.confirm_pending_groupsends(everyone=True)
        got = sim.customer_messages(ext)
        for message in got[seen:]:
            print(f"  day {day}  林晓雨 → 王丽 (一对一群发):")
            print_text(message.text, "      ")
        seen = len(got)
    print("  day 3  journeys preview --customer 王丽 --days 3:")
    lines = await db.read(lambda c: customer_preview(c, live.value, ext, today + timedelta(3),
                                                     3))
    for line in lines[1:]:
        print(f"      {line}")
    clock.on(today, 3, "15:20")
    await db.write(lambda c: record_member_event(c, ext, "purchase", clock(),
                                                 order_id="DEMO-0012-0001", amount=59.0))
    print("  day 3 15:20  王丽 在天钥桥路店买了控糖果切套餐（会员数据 → record_member_event）")
    clock.on(today, 4, "00:05")
    await journeys.tick(plan=True)
    state = await db.read(lambda c: c.execute(text(
        "SELECT status, reason FROM journey_entry WHERE external_userid = :e "
        "AND journey = 'sugar-control'"), {"e": ext}).one())
    skipped = await db.read(lambda c: c.execute(text(
        "SELECT COUNT(*) FROM journey_step WHERE external_userid = :e AND status = 'skipped' "
        "AND journey = 'sugar-control'"), {"e": ext}).scalar_one())
    print(f"  day 4 00:05  sugar-control: {state[0]} ({state[1]}); {skipped} 条后续记为 "
          "skipped，不再发")
    worker.clock = worker.sending.clock = time.time


async def _sent(db: Database, worker: object) -> None:
    for _ in range(500):
        if not await db.read(lambda c: c.execute(_OPEN).scalar_one()):
            return
        await asyncio.sleep(0.02)


async def _until(db: Database, query: TextClause, params: dict[str, str]) -> None:
    for _ in range(1000):
        if await db.read(lambda c: c.execute(query, params).scalar_one()):
            return
        await asyncio.sleep(0.02)
    raise TimeoutError("the bot did not record 王丽's questionnaire tag")
