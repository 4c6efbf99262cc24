"""The demo's 客户朋友圈 slot: the Tuesday new arrivals as a moment by each store's staff.

The bot makes one add_moment_task per store (pictures through media/upload_attachment),
follows each job to its moment, and then each staff member: they confirm in the simulated
client, except one who forgets until the bot's app-message reminder comes; the result is
recorded per staff member (moment_staff) and summed as ``sop report`` shows it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import TextClause, text

from bot.db.engine import Database
from bot.demo.cast import SHOWN_IN_FULL
from bot.demo.terminal import print_text
from bot.moments import records
from bot.outbox.scheduler import SopScheduler
from bot.simulator import Simulator

__all__ = ["play_moment_slot"]

_MADE = text("SELECT o.store_id, t.moment_id FROM outbox_send o JOIN moment_task t "
             "ON t.send_id = o.id WHERE o.slot_id = :slot_id AND t.moment_id <> ''")
_OPEN = text("SELECT count(*) FROM outbox_send WHERE slot_id = :slot_id"
             " AND status IN ('queued', 'sending', 'created', 'unknown')")
_REMINDED = text("SELECT count(*) FROM moment_staff m JOIN outbox_send o ON o.id = m.send_id"
                 " WHERE o.slot_id = :slot_id AND m.userid = :userid AND m.reminders > 0")


async def play_moment_slot(sim: Simulator, db: Database, scheduler: SopScheduler,
                           slot: datetime, name: str, within_s: float = 30.0) -> None:
    plan = await scheduler.plan(name, slot, now=time.time())
    if plan.slot_id is None:
        return
    params = {"slot_id": plan.slot_id}
    deadline = time.monotonic() + within_s
    made: dict[str, str] = {}
    while len(made) < plan.sends:
        made = {str(store): str(moment) for store, moment in await db.read(
            lambda c: c.execute(_MADE, params).all())}
        await _tick(deadline, f"SOP {name}: moment tasks not made")
    moments = {m.moment_id: m for m in sim.moments.moments.values()}
    print(f"\n  {slot:%H:%M}  {name} · 朋友圈 moment: {plan.sends} tasks (one per store, "
          f"add_moment_task), no 群发 quota used")
    shown = moments.get(made.get(SHOWN_IN_FULL, ""))
    if shown is not None:
        print(f"    {SHOWN_IN_FULL} 的员工 {', '.join(shown.senders)} 看到的朋友圈任务:")
        print_text(shown.body.get("text", {}).get("content", ""), "    │ ")
        print(f"    + {len(shown.body.get('attachments', []))} 张图 (media/upload_attachment)")
    forgetful = next((s for s in sorted(made) if s != SHOWN_IN_FULL), None)
    for store_id, moment_id in sorted(made.items()):
        if store_id != forgetful:
            for userid in moments[moment_id].senders:
                sim.staff_posts_moment(moment_id, userid)  # 在「客户朋友圈」点发表
    if forgetful is not None:
        late = moments[made[forgetful]].senders[0]
        while not await _count(db, _REMINDED, {**params, "userid": late}):
            await _tick(deadline, f"SOP {name}: {late} not reminded")
        reminder = sim.app_messages_for(late)[-1]
        print(f"    {forgetful} 的 {late} 忘了发表，机器人提醒 (message/send):")
        print_text(reminder.content, "    │ ")
        sim.staff_posts_moment(made[forgetful], late)
    while await _count(db, _OPEN, params):
        await _tick(deadline, f"SOP {name}: moments still open")
    start = slot.replace(hour=0, minute=0).timestamp()
    for entry in await db.read(lambda c: records.report(c, start, start + 86400)):
        if entry.sop == name:
            print(f"    recorded per staff member (moment_staff): {entry.line()}")


async def _count(db: Database, query: TextClause, params: Mapping[str, object]) -> int:
    return int(await db.read(lambda c: c.execute(query, params).scalar() or 0))


async def _tick(deadline: float, what: str) -> None:
    if time.monotonic() > deadline:
        raise TimeoutError(what)
    await asyncio.sleep(0.05)
