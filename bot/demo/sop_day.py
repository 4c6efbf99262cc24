"""The demo's SOP day: every slot of sop/*.yaml on one member-day Tuesday, planned by the
bot's own scheduler, sent by its outbox worker and confirmed by owners in the simulator.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Iterator
from datetime import datetime

import aiohttp
from sqlalchemy import text

from bot.app import BotRuntime, load_sop_book
from bot.books.stores import StoreDirectory
from bot.config import Settings
from bot.db.engine import Database
from bot.demo.cast import FORGETFUL, POSTS_FROM_SIDEBAR, SHOWN_IN_FULL, SOP_DAY, Chat
from bot.demo.moment_scene import play_moment_slot
from bot.demo.sop_records import delivery_table
from bot.demo.terminal import attachment, attachment_count, clip, pad, print_text
from bot.demo.welcome_day import settle
from bot.outbox.planner import SlotPlan
from bot.outbox.scheduler import SopScheduler, day_slots
from bot.simulator import Simulator
from bot.simulator.groupsend import UNSENT
from bot.simulator.records import GroupMessage
from bot.sop.book import SopBook, SopError
from bot.sop.group_tags import load_groups

__all__ = ["play_sop_day"]

_OPEN_SENDS = text("SELECT count(*) FROM outbox_send WHERE slot_id = :slot_id"
                   " AND status IN ('queued', 'sending', 'created', 'unknown')")


async def play_sop_day(sim: Simulator, runtime: BotRuntime, settings: Settings,
                        stores: StoreDirectory, bot_url: str) -> None:
    """Every SOP slot of SOP_DAY, in time order, planned and delivered by the bot itself.

    The scheduler is the bot's own `SopScheduler`, but not started: started, it would also
    fire on the real clock (APScheduler jobs, and a catch-up sweep at start that plans any
    real slot still within its grace period), mixing today's real slots into the story.
    It is handed to the runtime so the outbox finds robot keys in its book, as in `run`.
    """
    assert runtime.services is not None and runtime.outbox is not None
    db = runtime.services.db
    scheduler = SopScheduler(db, settings, lambda: load_sop_book(settings), runtime.outbox)
    runtime.sop = scheduler
    book = scheduler.book
    weekday = "一二三四五六日"[SOP_DAY.weekday()]
    print(f"\n== {SOP_DAY.isoformat()} 周{weekday}：群 SOP 的一天 (sop/*.yaml, played in seconds)")
    print("  The bot plans each slot (SopScheduler.plan); its outbox worker creates one 群发 per\n"
          "  store and owner, the owner confirms it in 企业微信, and the worker follows the task\n"
          "  to its end. Robot SOPs post straight into the staff groups of sop/robots.yaml.\n"
          "  Owner posts (via: owner_post) are no 群发: each owner gets one app message and\n"
          "  posts from the group's sidebar 「今日群SOP」 (the 群发 quota allows one a day).")
    await _open_store_groups(sim, runtime, stores)
    keys = {robot.key_env: sim.add_robot(robot.chat, name=robot.name)
            for robot in book.robots.values()}
    chats = await _sop_chats(db, book, stores)
    slots = day_slots(book, SOP_DAY)
    with _environment(keys):  # robot webhook keys, for this process and this day only
        for slot, name in slots:
            if scheduler.book.get(name).moment:  # 客户朋友圈: each store's staff post it
                await play_moment_slot(sim, db, scheduler, slot, name)
                continue
            await _play_slot(sim, db, scheduler, chats, stores, slot, name)
            if scheduler.book.get(name).owner_post:
                await _owner_post_slot(sim, runtime, chats, stores, slot, name, bot_url)
    group_slots = [(slot, name) for slot, name in slots if not book.get(name).moment]
    await delivery_table(db, book, settings, chats, group_slots)  # moments: their own line


async def _open_store_groups(sim: Simulator, runtime: BotRuntime,
                             stores: StoreDirectory) -> None:
    """A customer group for every store that has none yet, and a second one for the store
    shown in full: two groups of one owner share one 群发, which the output points out."""
    assert runtime.services is not None
    have = {group.store_id for group in await load_groups(runtime.services.db)}
    opened: list[str] = []
    for store in stores.all():
        if store.id not in have:
            sim.create_group(store.manager_userid, store.group_name)
            opened.append(store.name)
    shown = stores.get(SHOWN_IN_FULL)
    assert shown is not None
    sim.create_group(shown.manager_userid, shown.group_name.replace("福利群", "宝妈群"))
    await settle(sim, runtime)
    print(f"  前几天  {'、'.join(opened)}的店长也建好了福利群；{shown.name}又建了一个宝妈群")


async def _sop_chats(db: Database, book: SopBook, stores: StoreDirectory) -> list[Chat]:
    """The groups as the bot knows them (its database), in stores.yaml order, then robots."""
    order = {store.id: i for i, store in enumerate(stores.all())}
    groups = sorted((g for g in await load_groups(db, book.group_tags) if g.store_id),
                    key=lambda g: (order.get(g.store_id or "", len(order)),
                                   g.name != _store_group_name(stores, g.store_id), g.name))
    chats: list[Chat] = []
    for group in groups:
        store = stores.get(group.store_id or "")
        owner = store.manager_name if store and store.manager_userid == group.owner else ""
        chats.append(Chat(group.chat_id, group.name.removeprefix("果田鲜生·"), store,
                          owner or group.owner))
    chats.extend(Chat(robot.chat, f"robot {robot.name}") for robot in book.robots.values())
    return chats


async def _play_slot(sim: Simulator, db: Database, scheduler: SopScheduler, chats: list[Chat],
                     stores: StoreDirectory, slot: datetime, name: str) -> None:
    """Plan one slot, let it be delivered, and print what each chat saw."""
    before = {chat.chat_id: len(sim.group_messages(chat.chat_id)) for chat in chats}
    # `now` is the real clock, not the slot: the outbox worker runs on the real clock, and a
    # send is due at its `now`, so a slot in the future planned "at its time" would wait.
    plan = await scheduler.plan(name, slot, now=time.time())
    forgetful = None
    if name == FORGETFUL[1] and (store := stores.get(FORGETFUL[0])) is not None:
        forgetful = store.manager_userid
    await _deliver(sim, db, plan, forgetful)
    seen = {chat.chat_id: sim.group_messages(chat.chat_id)[before[chat.chat_id]:]
            for chat in chats}
    sop = scheduler.book.get(name)
    if sop.owner_post:
        owners = len({chat.owner_name for chat in chats if chat.store is not None})
        print(f"\n  {slot:%H:%M}  {name} · 群主发 owner_post: {plan.groups} groups due, "
              f"{plan.owners} owners reminded\n    by app message (message/send); no 群发, "
              "no quota used")
        assert owners >= plan.owners
        return
    if sop.robot is not None:
        robot = sop.robot
        print(f"\n  {slot:%H:%M}  {name} · 机器人 {robot.name}: posts into its staff group,"
              " no confirmation")
        for message in seen.get(robot.chat, []):
            print_text(message.text, "    │ ")
            if message.mentions:
                print(f"    @ {' '.join(message.mentions)}")
        if not seen.get(robot.chat):
            print("    (nothing posted: see the log above)")
        return
    reach = (f"{plan.groups} groups in {plan.sends} tasks (one per store and owner)"
             if plan.sends else f"{len(plan.held)} groups")
    print(f"\n  {slot:%H:%M}  {name} · 群发 to {reach}"
          + (f", {len(plan.held)} held back" if plan.held and plan.sends else ""))
    _print_group_messages(sim, scheduler.book, chats, seen, plan, slot)
    for error in plan.errors:  # a store whose message did not render: the others still went
        print(f"    not sent, could not render: {error}")


async def _deliver(sim: Simulator, db: Database, plan: SlotPlan, forgetful: str | None,
                   within_s: float = 20.0) -> None:
    """Owners confirm each task as the worker creates it (except `forgetful`, who waits for
    the bot's reminder), until the worker has followed every send of the slot to its end."""
    if plan.slot_id is None:
        return
    slot_id = plan.slot_id
    deadline = time.monotonic() + within_s
    while await db.read(lambda c: c.execute(_OPEN_SENDS, {"slot_id": slot_id}).scalar()):
        for send in sim.groupsend_tasks():
            for task in send.tasks.values():
                if task.status == UNSENT and task.userid != forgetful and not send.cancelled:
                    sim.confirm_groupsend(send.msgid, task.userid)
        if time.monotonic() > deadline:
            raise TimeoutError(f"SOP {plan.sop} {plan.slot_local}: sends still open")
        await asyncio.sleep(0.02)


async def _owner_post_slot(sim: Simulator, runtime: BotRuntime, chats: list[Chat],
                           stores: StoreDirectory, slot: datetime, name: str,
                           bot_url: str) -> None:
    """The reminder one manager read, and (for POSTS_FROM_SIDEBAR) that manager posting it
    from the group's sidebar through the real endpoints, as the sidebar page does."""
    store = stores.get(SHOWN_IN_FULL)
    assert store is not None
    reminder = [m for m in sim.app_messages_for(store.manager_userid)
                if m.content.startswith(f"{slot:%H:%M} ")]
    if not reminder:
        return  # this slot is other stores' own time (per-store times, docs/sop.md)
    for message in reminder[-1:]:
        print(f"    {store.manager_name} ({store.name}) got the bot app's message:")
        print_text(message.content, "      │ ")
    if (SHOWN_IN_FULL, name) != POSTS_FROM_SIDEBAR:
        print("    (each manager posts it from the sidebar when the store is ready)")
        return
    chat = next(c for c in chats if c.store is not None and c.store.id == SHOWN_IN_FULL)
    sidebar = runtime.sidebar
    assert sidebar is not None and sidebar.group_posts is not None
    sidebar.group_posts.clock = slot.timestamp  # "today" is the demo's day, not the real one
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        async with http.get(f"{sim.url}/sim/client/login", params={
                "userid": store.manager_userid, "chat_id": chat.chat_id}) as resp:
            resp.raise_for_status()
        async with http.get(f"{bot_url}/sidebar", params={"chat": chat.chat_id}) as resp:
            page = await resp.text()  # after the OAuth2 round trip through the simulator
        csrf = page.split('"csrf": "', 1)[1].split('"', 1)[0]
        async with http.get(f"{bot_url}/api/group-posts", params={"chat": chat.chat_id}) as r:
            [post] = [p for p in (await r.json())["due"]
                      if p["sop"] == name and p["time"] == f"{slot:%H:%M}"]
        body = {"userid": store.manager_userid, "chat_id": chat.chat_id, "msgtype": "text",
                "text": {"content": post["text"]}}  # what wx.invoke('sendChatMessage') sends
        async with http.post(f"{sim.url}/sim/client/chat_messages", data=json.dumps(body)) as r:
            ok = (await r.json())["err_msg"] == "sendChatMessage:ok"
        async with http.post(f"{bot_url}/api/group-posts/posted",
                             headers={"X-CSRF-Token": csrf},
                             json={"chat": chat.chat_id, "post_id": post["id"]}) as r:
            recorded = r.status == 200
    print(f"    {store.manager_name} opens {chat.label} → sidebar 「今日群SOP」 → 「发到本群」;"
          " the group received:")
    for received in sim.group_messages(chat.chat_id)[-1:]:
        if ok and received.via == "member":
            print_text(received.text, "      │ ")
    for url in post["pictures"]:
        print(f"      + photo added by hand from the sidebar's link: {url}")
    print(f"    recorded as posted by {store.manager_name}: {'yes' if recorded else 'no'}")


def _print_group_messages(sim: Simulator, book: SopBook, chats: list[Chat],
                          seen: dict[str, list[GroupMessage]], plan: SlotPlan,
                          slot: datetime) -> None:
    """One store in full, one line for each other group; held-back groups said plainly."""
    held = set(plan.held)
    groups = [chat for chat in chats if chat.store is not None]
    if held and held >= {chat.chat_id for chat in groups}:
        print(f"    held back: 群发 quota — all {len(held)} groups already had today's 群发;"
              " nothing was sent")
        _print_would_have_said(book, plan.sop, slot)
        return
    shown_sources: set[str] = set()
    for chat in groups:
        messages = seen.get(chat.chat_id, [])
        if chat.chat_id in held:
            print(f"    {pad(chat.label, 18)}held back: 群发 quota")
            continue
        if not messages:
            print(f"    {pad(chat.label, 18)}(nothing arrived)")
            continue
        for message in messages:
            assert chat.store is not None
            who = chat.owner_name
            if chat.store.id == SHOWN_IN_FULL and message.source in shown_sources:
                print(f"    {chat.label}: the same 群发 ({who} confirmed it once for both"
                      " groups)")
            elif chat.store.id == SHOWN_IN_FULL:
                shown_sources.add(message.source)
                print(f"    {chat.label} ({who} sent it):")
                print_text(message.text, "      │ ")
                for item in message.attachments:
                    print(f"      + {attachment(item)}")
            else:
                extra = attachment_count(message.attachments)
                print(f"    {pad(chat.label, 18)}✓ {clip(message.text, 44)}{extra}")
            reminded = sim.groupsend(message.source).remind_count
            if reminded:
                print(f"      {who} forgot to confirm; it went out after the bot's reminder"
                      f" (remind_groupmsg_send ×{reminded})")


def _store_group_name(stores: StoreDirectory, store_id: str | None) -> str:
    store = stores.get(store_id or "")
    return store.group_name if store else ""


def _print_would_have_said(book: SopBook, name: str, slot: datetime) -> None:
    try:
        said = book.render(name, SHOWN_IN_FULL, slot).text
    except SopError:
        return
    print(f"      (天钥桥路店 would have read: {clip(said, 46)})")


@contextlib.contextmanager
def _environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables in this process only, and put back what was there."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
