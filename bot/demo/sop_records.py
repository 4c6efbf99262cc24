"""The SOP day's closing table: per group and slot, the delivery status the bot recorded,
and why later 群发 of the day were held back (the quota spread).
"""

from __future__ import annotations

import math
from datetime import datetime

from sqlalchemy import text

from bot.config import Settings
from bot.db.engine import Database
from bot.demo.cast import SOP_DAY, Chat
from bot.demo.terminal import pad
from bot.outbox import owner_posts
from bot.outbox import rows as outbox
from bot.outbox.quota import quota_period
from bot.sop.book import SopBook

__all__ = ["delivery_table"]

_POSTS = text("SELECT sop, chat_id, status FROM owner_post WHERE slot_at >= :start"
              " AND slot_at < :end")


async def delivery_table(db: Database, book: SopBook, settings: Settings, chats: list[Chat],
                          slots: list[tuple[datetime, str]]) -> None:
    """Per group and slot, the delivery status the bot recorded (outbox.delivery_report)."""
    if not slots:
        return
    start, end = slots[0][0].timestamp(), slots[-1][0].timestamp() + 1
    rows = await db.read(lambda c: outbox.delivery_report(c, start, end))
    status = {(sop, chat_id): state for sop, _, chat_id, _, state in rows}
    posts = await db.read(lambda c: c.execute(_POSTS, {"start": start, "end": end}).all())
    status.update({(sop, chat_id): state for sop, chat_id, state in posts})
    posted = sum(1 for _, _, state in posts if state == "posted")
    post_slots = await db.read(lambda c: owner_posts.report(c, start, end))
    print(f"\n== SOP 投递记录 (outbox_delivery in the bot's database, {SOP_DAY.isoformat()})")
    columns: dict[str, list[str]] = {}  # one per SOP: a group has one slot of each a day
    for slot, name in slots:
        columns.setdefault(name, []).append(f"{slot:%H:%M}")
    heads = [times[0] + ("+" if len(times) > 1 else "") for times in columns.values()]
    print(f"  {pad('group', 22)}" + "".join(pad(head, 12) for head in heads).rstrip())
    for chat in chats:
        cells = [status.get((name, chat.chat_id), "-") for name in columns]
        if all(cell == "-" for cell in cells):
            continue
        print(f"  {pad(chat.label, 22)}" + "".join(pad(cell, 12) for cell in cells).rstrip())
    legend = [f"{times[0]} {name}" if len(times) == 1
              else f"{'/'.join(times)} {name} (each store at its own time)"
              for name, times in columns.items()]
    for start_at in range(0, len(legend), 3):
        print("  " + " · ".join(legend[start_at:start_at + 3]))

    group_sends = [(sop, state) for sop, _, _, via, state in rows if via == "group_send"]
    groups = len({chat_id for _, _, chat_id, via, _ in rows if via == "group_send"})
    sent = sum(1 for _, state in group_sends if state == "sent")
    held = sum(1 for _, state in group_sends if state == "held_quota")
    first = slots[0][0]
    rule = settings.sop.group_send_quota
    period = quota_period(rule, first, book.get(slots[0][1]).timezone)
    day_start = first.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    days_left = max(round((period.end - day_start) / 86400), 1)
    today = math.ceil(period.limit / days_left)
    print(f"\n  {groups} customer groups: {sent} 群发 sent, {held} held back (held_quota).\n"
          f"  WeCom lets a customer group receive {period.limit} 群发 in {period.label}"
          f" ([sop] group_send_quota = {rule}).\n"
          f"  The bot spreads them: on this fresh database ceil({period.limit} left /"
          f" {days_left} days left) = {today} a group today,")
    first_ones = "群发" if today == 1 else f"{today} 群发"
    print(f"  so the first {first_ones} of the day went out and later ones were held back and"
          " recorded." if held else "  so nothing had to be held back today.")
    if post_slots:
        due = sum(p.groups for p in post_slots)
        owners = sum(p.owners for p in post_slots)
        reminded = sum(p.reminded for p in post_slots)
        print(f"  Owner posts (no 群发): {due} due over {len(post_slots)} slots, {reminded} of"
              f" {owners} owner reminders sent,\n  {posted} posted from the sidebar so far"
              " (per slot: python -m bot sop report --date ...).")
