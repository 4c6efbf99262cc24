"""From one SOP slot to outbox rows: which groups, what text, held back by quota or not.

Planning is the step that makes a slot exactly-once: everything the slot will send is
written in one transaction under the slot's unique (sop, slot time) key before any call
goes out. Rendering happens once per store (all of a store's groups get the same message),
and a 群发 is one add_msg_template per owner and store, at most 2000 groups each.
"""

from __future__ import annotations

import logging
import math
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.sop import outbox
from bot.sop.book import SopBook, SopError
from bot.sop.groups import GroupRow, load_groups
from bot.sop.outbox import PlannedSend
from bot.sop.quota import quota_period
from bot.store.db import Database

log = logging.getLogger("bot.sop.planner")
MAX_CHATS_PER_SEND = 2000  # add_msg_template chat_id_list limit (reference §4)


@dataclass
class SlotPlan:
    sop: str
    slot: datetime
    slot_id: int | None = None  # None: this slot had already been planned
    groups: int = 0
    sends: int = 0
    held: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # stores whose message could not render

    @property
    def slot_local(self) -> str:
        return self.slot.strftime("%Y-%m-%d %H:%M")


def slot_label(slot: datetime) -> str:
    return slot.strftime("%Y-%m-%d %H:%M")


async def plan_slot(db: Database, book: SopBook, name: str, slot: datetime, *,
                    quota_rule: str, now: float | None = None,
                    groups: list[GroupRow] | None = None) -> SlotPlan:
    """Plan `name` at `slot` (aware): write its rows, once."""
    now = time.time() if now is None else now
    sop = book.get(name)
    plan = SlotPlan(name, slot)
    if sop.robot is not None:
        sends = _robot_sends(book, name, slot, plan)
    else:
        rows = groups if groups is not None else await load_groups(db, book.group_tags)
        targets = book.select_groups(name, rows)
        if targets:
            targets, plan.held = await _within_quota(db, targets, slot, quota_rule,
                                                     sop.timezone)
            if plan.held:
                log.warning("%s %s: %d groups held back: their 群发 quota is used up",
                            name, slot_label(slot), len(plan.held))
        sends = _group_sends(book, name, slot, targets, plan)
    plan.sends = len(sends)
    plan.groups = sum(len(s.chat_ids) for s in sends)
    status = "planned" if sends else "empty"
    note = "; ".join(plan.errors)[:500]
    plan.slot_id = await db.write(lambda c: outbox.record_slot(
        c, sop=name, slot_at=slot.timestamp(), slot_local=slot_label(slot), status=status,
        fired_at=now, late_s=max(now - slot.timestamp(), 0.0), note=note, sends=sends,
        held=plan.held, via=sop.via))
    return plan


async def _within_quota(db: Database, targets: list[GroupRow], slot: datetime, rule: str,
                        tz: ZoneInfo) -> tuple[list[GroupRow], list[str]]:
    """Split groups into those that may still get a 群发 and those held back.

    The quota is spread over the period rather than spent first come: a group may get
    ceil(left / days left) today, so a month of three daily SOPs sends the first one of
    each day instead of everything until the 10th and nothing after.
    """
    period = quota_period(rule, slot, tz)
    day = quota_period("day1", slot, tz)
    used = await db.read(lambda c: outbox.quota_used(c, period.start, period.end, day.start,
                                                     day.end))
    days_left = max(round((period.end - day.start) / 86400), 1)
    kept: list[GroupRow] = []
    held: list[str] = []
    for group in targets:
        in_period, today = used.get(group.chat_id, (0, 0))
        allowed_today = math.ceil(max(period.limit - (in_period - today), 0) / days_left)
        if today < allowed_today:
            kept.append(group)
        else:
            held.append(group.chat_id)
    return kept, held


def _group_sends(book: SopBook, name: str, slot: datetime, targets: list[GroupRow],
                 plan: SlotPlan) -> list[PlannedSend]:
    """One add_msg_template per (store, owner), at most 2000 groups each."""
    label = slot_label(slot)
    by_store: dict[str | None, list[GroupRow]] = defaultdict(list)
    for group in targets:
        by_store[group.store_id].append(group)
    sends: list[PlannedSend] = []
    for store_id, groups in by_store.items():
        try:
            message = book.render(name, store_id, slot)
        except SopError as exc:  # a store's bad data must not stop the other stores
            log.error("%s %s: store %s: %s", name, label, store_id, exc)
            plan.errors.append(f"store {store_id}: {exc}")
            continue
        by_owner: dict[str, list[str]] = defaultdict(list)
        for group in groups:
            by_owner[group.owner].append(group.chat_id)
        for owner, chats in by_owner.items():
            for start in range(0, len(chats), MAX_CHATS_PER_SEND):
                part = tuple(chats[start:start + MAX_CHATS_PER_SEND])
                sends.append(PlannedSend(
                    key=f"{name}|{label}|{owner}|{store_id}|{start // MAX_CHATS_PER_SEND}",
                    via="group_send", sender=owner, robot="", store_id=store_id,
                    body=message.group_send_payload(owner, part), chat_ids=part))
    return sends


def _robot_sends(book: SopBook, name: str, slot: datetime, plan: SlotPlan
                 ) -> list[PlannedSend]:
    """A robot posts into its own (staff) group: one post per slot."""
    robot = book.get(name).robot
    assert robot is not None
    try:
        message = book.render(name, None, slot)
    except SopError as exc:
        plan.errors.append(str(exc))
        return []
    return [PlannedSend(key=f"{name}|{slot_label(slot)}|robot:{robot.name}", via="robot",
                        sender="", robot=robot.name, store_id=robot.store_id,
                        body=message.robot_payload(), chat_ids=(robot.chat,))]
