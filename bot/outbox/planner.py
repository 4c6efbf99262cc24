"""From one SOP slot to outbox rows: which groups, what text, held back by quota or not.

Planning is the step that makes a slot exactly-once: everything the slot will send is
written in one transaction under the slot's unique (sop, slot time) key before any call
goes out. Rendering happens once per store (all of a store's groups get the same message),
and a 群发 is one add_msg_template per owner and store, at most 2000 groups each.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from bot.db.engine import Database
from bot.media.cache import MediaCache, MediaFileError
from bot.moments.plan import moment_sends, moment_tag_ids, upload_moment_media
from bot.outbox import rows as outbox
from bot.outbox.owner_posts import REMIND_VIA
from bot.outbox.quota import quota_period
from bot.outbox.recipients import MemberRow, select_members
from bot.outbox.rows import PlannedPost, PlannedSend
from bot.outbox.status import SlotStatus
from bot.sop.book import SopBook
from bot.sop.group_tags import GroupRow, load_groups
from bot.sop.model import MemberSelect, Sop, SopError, SopMessage
from bot.sop.robots import Robot
from bot.wecom.errors import WeComError

log = logging.getLogger(__name__)
MAX_CHATS_PER_SEND = 2000  # add_msg_template chat_id_list limit (reference §4)
MAX_CUSTOMERS_PER_SEND = 10_000  # ... and its external_userid limit
APP_TEXT_MAX_BYTES = 2048  # message/send text.content (reference §4)
REMINDER_GROUP_NAMES = 20  # a reminder names at most this many groups, then "等 N 个群"
# message/send duplicate_check_interval: WeCom's default is 1800 s; official doc 90236 caps
# it at 4 h (not in our reference page: assumed)
DUPLICATE_CHECK_MIN_S = 1800
DUPLICATE_CHECK_MAX_S = 4 * 3600
T = TypeVar("T")


@dataclass
class SlotPlan:
    sop: str
    slot: datetime
    slot_id: int | None = None  # None: this slot had already been planned
    groups: int = 0
    sends: int = 0
    owners: int = 0  # owner_post: owners reminded (one app message each)
    held: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # stores whose message could not render

    @property
    def slot_local(self) -> str:
        return self.slot.strftime("%Y-%m-%d %H:%M")


def slot_label(slot: datetime) -> str:
    return slot.strftime("%Y-%m-%d %H:%M")


async def plan_slot(db: Database, book: SopBook, sop: Sop, slot: datetime, *,
                    quota_rule: str, now: float | None = None,
                    groups: list[GroupRow] | None = None, sidebar_url: str = "",
                    media: MediaCache | None = None) -> SlotPlan:
    """Plan `sop` at `slot` (aware): write its rows, once. Local pictures are uploaded
    (`media`) before the rows are written, so a row's body is what WeCom gets and lists."""
    now = time.time() if now is None else now
    plan = SlotPlan(sop.name, slot)
    posts: list[PlannedPost] = []
    if sop.owner_post:
        # never a 群发: no quota filter; each owner posts it, reminded once
        rows = groups if groups is not None else await load_groups(db, book.group_tags)
        targets = book.select_groups(sop, rows, slot)
        posts = _owner_posts(book, sop, slot, targets, plan)
        sends = _owner_reminders(sop, slot, targets, posts, sidebar_url)
        plan.owners = len(sends)
    elif sop.robot is not None:
        sends = _robot_sends(book, sop, sop.robot, slot, plan)
    elif sop.moment:  # never a 群发: no quota; one task per store for its staff to post
        tag_ids = await db.read(lambda c: moment_tag_ids(c, sop))
        sends = moment_sends(book, sop, slot, slot_label(slot), tag_ids, plan.errors)
        if media is not None:
            sends = await upload_moment_media(media, sends, plan.errors)
    elif isinstance(sop.target, MemberSelect):
        reach = {store.id for store in book.stores_for(sop, slot)}
        target = sop.target
        members = await db.read(lambda c: select_members(c, target, reach))
        members = await _quota_filter(db, members, lambda m: m.external_userid, slot,
                                      quota_rule, sop.timezone, plan)
        sends = _member_sends(book, sop, slot, members, plan)
    else:
        rows = groups if groups is not None else await load_groups(db, book.group_tags)
        targets = await _quota_filter(db, book.select_groups(sop, rows, slot),
                                      lambda g: g.chat_id, slot, quota_rule, sop.timezone,
                                      plan)
        sends = _group_sends(book, sop, slot, targets, plan)
    if media is not None and sop.via == "group_send":  # the 群发 bodies
        sends = await _hosted_images(media, sends, plan)
    if media is not None and posts:  # what owners see in the sidebar: WeCom's URLs too
        posts = await _hosted_post_images(media, posts, plan)
    plan.sends = len(sends)
    plan.groups = sum(len(s.chat_ids) for s in sends) + len(posts)
    status = SlotStatus.PLANNED if sends or posts else SlotStatus.EMPTY
    note = "; ".join(plan.errors)[:500]
    plan.slot_id = await db.write(lambda c: outbox.record_slot(
        c, sop=sop.name, slot_at=slot.timestamp(), slot_local=slot_label(slot),
        status=status, fired_at=now, late_s=max(now - slot.timestamp(), 0.0), note=note,
        sends=sends, held=plan.held, via=sop.via, posts=posts))
    return plan


async def _quota_filter(db: Database, targets: list[T], target_id: Callable[[T], str],
                        slot: datetime, rule: str, tz: ZoneInfo, plan: SlotPlan) -> list[T]:
    """The targets (groups or customers) that may still get a 群发; the rest go to
    `plan.held`. WeCom counts the quota per group and per customer alike (reference §6).

    The quota is spread over the period rather than spent first come: a target may get
    ceil(left / days left) today, so a month of three daily SOPs sends the first one of
    each day instead of everything until the 10th and nothing after.
    """
    if not targets:
        return targets
    period = quota_period(rule, slot, tz)
    day = quota_period("day1", slot, tz)
    used = await db.read(lambda c: outbox.quota_used(c, period.start, period.end, day.start,
                                                     day.end))
    days_left = max(round((period.end - day.start) / 86400), 1)
    kept: list[T] = []
    for target in targets:
        key = target_id(target)
        in_period, today = used.get(key, (0, 0))
        allowed_today = math.ceil(max(period.limit - (in_period - today), 0) / days_left)
        if today < allowed_today:
            kept.append(target)
        else:
            plan.held.append(key)
    if plan.held:
        log.warning("%s %s: %d held back: their 群发 quota is used up",
                    plan.sop, slot_label(slot), len(plan.held))
    return kept


PerStore = dict[str | None, tuple[SopMessage, dict[str, list[str]]]]
Payload = Callable[[SopMessage, str, tuple[str, ...]], dict[str, Any]]


def _sends(sop: Sop, slot: datetime, per_store: PerStore, size: int, tag: str,
           payload: Payload) -> list[PlannedSend]:
    """One add_msg_template per store, sender and `size` recipients; keys end ``{tag}{n}``."""
    label = slot_label(slot)
    sends: list[PlannedSend] = []
    for store_id, (message, by_sender) in per_store.items():
        for sender, ids in by_sender.items():
            for start in range(0, len(ids), size):
                part = tuple(ids[start:start + size])
                sends.append(PlannedSend(
                    key=f"{sop.name}|{label}|{sender}|{store_id}|{tag}{start // size}",
                    via="group_send", sender=sender, robot="", store_id=store_id,
                    body=payload(message, sender, part), chat_ids=part))
    return sends


def _group_sends(book: SopBook, sop: Sop, slot: datetime, targets: list[GroupRow],
                 plan: SlotPlan) -> list[PlannedSend]:
    """One add_msg_template per (store, owner), at most 2000 groups each."""
    per_store: PerStore = {}
    for store_id, groups, message in _rendered_per_store(book, sop, slot, targets, plan):
        by_owner: dict[str, list[str]] = defaultdict(list)
        for group in groups:
            by_owner[group.owner].append(group.chat_id)
        per_store[store_id] = (message, by_owner)
    return _sends(sop, slot, per_store, MAX_CHATS_PER_SEND, "",
                  SopMessage.group_send_payload)


def _member_sends(book: SopBook, sop: Sop, slot: datetime, members: list[MemberRow],
                  plan: SlotPlan) -> list[PlannedSend]:
    """One one-to-one add_msg_template per (store, staff member), at most 10,000 each."""
    by_store: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for member in members:
        by_store[member.store_id][member.sender].append(member.external_userid)
    per_store: PerStore = {}
    for store_id, by_sender in by_store.items():
        message = _render_for_store(book, sop, store_id, slot, plan)
        if message is not None:
            per_store[store_id] = (message, by_sender)
    return _sends(sop, slot, per_store, MAX_CUSTOMERS_PER_SEND, "m",
                  SopMessage.member_send_payload)


async def _hosted(media: MediaCache, attachments: list[dict[str, Any]], plan: SlotPlan
                  ) -> list[dict[str, Any]]:
    """The attachments with WeCom-hosted pictures (bot.media). A picture that cannot be
    uploaded (its file gone since the check, WeCom refusing after the client's retries) is
    left out and noted on the slot: the other stores and the text still go on time."""
    out: list[dict[str, Any]] = []
    for attachment in attachments:
        try:
            out.extend(await media.resolve([attachment]))
        except (MediaFileError, WeComError) as exc:
            log.error("%s: picture left out: %s", plan.sop, exc)
            plan.errors.append(f"picture left out: {exc}")
    return out


async def _hosted_images(media: MediaCache, sends: list[PlannedSend], plan: SlotPlan
                         ) -> list[PlannedSend]:
    """Each send with its local pictures swapped for WeCom-hosted ones."""
    out: list[PlannedSend] = []
    for send in sends:
        attachments = send.body.get("attachments")
        if attachments:
            body = {**send.body, "attachments": await _hosted(media, list(attachments), plan)}
            send = dataclasses.replace(send, body=body)
        out.append(send)
    return out


async def _hosted_post_images(media: MediaCache, posts: list[PlannedPost], plan: SlotPlan
                              ) -> list[PlannedPost]:
    """Each owner post with hosted pictures; resolved once per distinct message (a store's
    groups share one), not once per group."""
    done: dict[str, tuple[dict[str, Any], ...]] = {}
    out: list[PlannedPost] = []
    for post in posts:
        key = repr(post.attachments)
        if key not in done:
            done[key] = tuple(await _hosted(media, list(post.attachments), plan))
        out.append(dataclasses.replace(post, attachments=done[key]))
    return out


def _rendered_per_store(book: SopBook, sop: Sop, slot: datetime, targets: list[GroupRow],
                        plan: SlotPlan
                        ) -> Iterator[tuple[str | None, list[GroupRow], SopMessage]]:
    """The target groups by store, with the store's message rendered once; a store whose
    message does not render is left out (see `_render_for_store`)."""
    by_store: dict[str | None, list[GroupRow]] = defaultdict(list)
    for group in targets:
        by_store[group.store_id].append(group)
    for store_id, groups in by_store.items():
        message = _render_for_store(book, sop, store_id, slot, plan)
        if message is not None:
            yield store_id, groups, message


def _render_for_store(book: SopBook, sop: Sop, store_id: str | None, slot: datetime,
                      plan: SlotPlan) -> SopMessage | None:
    """A store's message, or None (logged, noted on the slot): a store's bad data must not
    stop the other stores."""
    try:
        return book.render(sop, store_id, slot)
    except SopError as exc:
        log.error("%s %s: store %s: %s", sop.name, slot_label(slot), store_id, exc)
        plan.errors.append(f"store {store_id}: {exc}")
        return None


def _robot_sends(book: SopBook, sop: Sop, robot: Robot, slot: datetime, plan: SlotPlan
                 ) -> list[PlannedSend]:
    """A robot posts into its own (staff) group: one post per slot."""
    try:
        message = book.render(sop, None, slot)
    except SopError as exc:
        plan.errors.append(str(exc))
        return []
    return [PlannedSend(key=f"{sop.name}|{slot_label(slot)}|robot:{robot.name}", via="robot",
                        sender="", robot=robot.name, store_id=robot.store_id,
                        body=message.robot_payload(), chat_ids=(robot.chat,))]


def _owner_posts(book: SopBook, sop: Sop, slot: datetime, targets: list[GroupRow],
                 plan: SlotPlan) -> list[PlannedPost]:
    """One post per group, rendered once per store exactly as a 群发 would be."""
    posts: list[PlannedPost] = []
    for store_id, groups, message in _rendered_per_store(book, sop, slot, targets, plan):
        posts.extend(PlannedPost(g.chat_id, g.owner, store_id, message.text,
                                 tuple(message.attachments), sop.label)
                     for g in groups)
    return posts


def _owner_reminders(sop: Sop, slot: datetime, targets: list[GroupRow],
                     posts: list[PlannedPost], sidebar_url: str) -> list[PlannedSend]:
    """One app message (message/send) per owner, naming their groups that have a post.

    The body is fixed here, so a resend after a crash is the same content: with
    ``enable_duplicate_check`` WeCom drops it if the first one got through. The interval
    covers the slot's grace (a reminder is resent only within it, see the worker), and
    the agentid is added at send time (the app's, from the environment).
    """
    names = {g.chat_id: g.name or g.chat_id for g in targets}
    by_owner: dict[str, list[str]] = defaultdict(list)
    for post in posts:
        by_owner[post.owner].append(names.get(post.chat_id, post.chat_id))
    interval = int(min(max(sop.grace.total_seconds() + 300, DUPLICATE_CHECK_MIN_S),
                       DUPLICATE_CHECK_MAX_S))
    label = slot_label(slot)
    sends = []
    for owner, groups in sorted(by_owner.items()):
        content = reminder_text(sop.label, f"{slot:%H:%M}", groups, sidebar_url)
        body = {"touser": owner, "msgtype": "text", "text": {"content": content},
                "enable_duplicate_check": 1, "duplicate_check_interval": interval}
        sends.append(PlannedSend(key=f"{sop.name}|{label}|remind:{owner}", via=REMIND_VIA,
                                 sender=owner, robot="", store_id=None, body=body,
                                 chat_ids=()))
    return sends


def reminder_text(title: str, clock: str, groups: list[str], sidebar_url: str,
                  show: int = REMINDER_GROUP_NAMES) -> str:
    """The reminder a store manager reads, as a chain's HQ would write it (≤ 2048 bytes)."""
    shown = sorted(groups)[:show]
    lines = [f"{clock} {title}该发了：你的 {len(groups)} 个客户群"]
    lines.extend(f"· {group[:40]}" for group in shown)
    if len(groups) > len(shown):
        lines.append(f"……等 {len(groups)} 个群")
    lines.append("打开群聊，点侧边栏「今日群SOP」一键发送。")
    if sidebar_url:
        lines.append(f"侧边栏：{sidebar_url.rstrip('/')}/sidebar")
    text = "\n".join(lines)
    if len(text.encode()) > APP_TEXT_MAX_BYTES and show > 1:  # long names: list fewer
        return reminder_text(title, clock, groups, sidebar_url, show // 2)
    return text
