"""`python -m bot demo`: a store day of 果田鲜生, played against the local WeCom simulator.

Nothing is mocked: the bot serves its real callback endpoint on a loopback port with a fresh
SQLite file, the simulator plays WeCom (encrypted callbacks in, API calls out), and the
script drives customers through QR codes, groups and tag edits. It prints what each customer
received and what the bot recorded. Then it plays a member-day Tuesday of group SOPs in
accelerated time: every store has a customer group, each slot of sop/*.yaml is planned by
the bot's own scheduler and sent by its outbox worker, owners confirm in the simulator, and
the demo prints what each group and staff robot chat saw and the bot's delivery records.
It needs no credentials: it makes up a corp id, secret, Token, EncodingAESKey and robot
webhook keys for the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import shutil
import sqlite3
import tempfile
import textwrap
import time
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from sqlalchemy import text

from bot.app import RUNTIME, BotRuntime, build_app, load_sop_book
from bot.books.stores import Store, StoreDirectory
from bot.config import Settings
from bot.db.engine import Database
from bot.logs import setup_logging
from bot.loop import run
from bot.outbox import owner_posts
from bot.outbox import rows as outbox
from bot.outbox.planner import SlotPlan
from bot.outbox.quota import quota_period
from bot.outbox.scheduler import SopScheduler, day_slots
from bot.simulator import SimOptions, Simulator
from bot.simulator.groupsend import UNSENT
from bot.simulator.local import throwaway_secrets
from bot.simulator.records import GroupMessage
from bot.sop.book import SopBook, SopError
from bot.sop.group_tags import load_groups


def run_demo(keep: bool = False) -> int:
    return run(_demo(keep))


@dataclass
class Scene:
    clock: str  # the time of day in the story (the demo itself runs in a few seconds)
    says: str
    act: Callable[[], object]


async def _demo(keep: bool) -> int:
    setup_logging("WARNING")
    # The planner warns for every slot the quota holds back; the demo prints those itself.
    logging.getLogger("bot.outbox.planner").setLevel(logging.ERROR)
    workdir = Path(tempfile.mkdtemp(prefix="wecom-bot-demo-"))
    secrets_ = throwaway_secrets("wwdemo")
    settings = Settings().with_overrides(
        database={"url": f"sqlite:///{workdir / 'demo.db'}"},
        paths={"sop_dir": Path("sop"), "templates_dir": Path("templates")},
        # No clock-driven scheduler: the demo plans the SOP day's slots itself (see
        # _play_sop_day). Tasks are followed, and silent owners reminded, within a second.
        sop={"scheduler": False, "check_after_minutes": 0.002, "remind_after_minutes": 0.01})
    stores = StoreDirectory.load(settings.paths.sop_dir / "stores.yaml")
    # Owners confirm a 群发 only when the demo makes them (or when the bot reminds them),
    # so that one manager can forget.
    sim = Simulator(secrets_.corp_id, secrets_.secret, secrets_.token, secrets_.aes_key,
                    options=SimOptions(callback_retry_interval_s=0.2,
                                       groupsend_confirm_share=0.0))
    await sim.start()
    for person in stores.staff_rows():
        sim.add_staff(str(person["userid"]), str(person["name"]))
    settings = settings.with_overrides(wecom={"api_base_url": sim.base_url})
    runner = web.AppRunner(build_app(settings, secrets_), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    sim.callback_url = f"http://{host}:{port}/wecom/callback"
    runtime = runner.app[RUNTIME]
    print(f"果田鲜生 · 门店的一天 (demo)\n  simulated WeCom: {sim.base_url}\n"
          f"  bot callback:    {sim.callback_url}\n  database:        {workdir / 'demo.db'}\n")
    try:
        customers = await _play_day(sim, runtime, stores)
        _report(sim, workdir / "demo.db", customers, stores)
        await _play_sop_day(sim, runtime, settings, stores, f"http://{host}:{port}")
        _callback_summary(workdir / "demo.db")
    finally:
        await runner.cleanup()
        await sim.stop()
        if keep:
            print(f"\n(kept {workdir})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


async def _settle(sim: Simulator, runtime: BotRuntime) -> None:
    await sim.wait_callbacks_delivered(timeout=15)
    assert runtime.dispatcher is not None
    await runtime.dispatcher.drain(15)


async def _play_day(sim: Simulator, runtime: BotRuntime,
                    stores: StoreDirectory) -> dict[str, str]:
    """The scripted day; returns external userid -> customer name, in order of arrival."""
    tianyao, changshou = stores.get("0012"), stores.get("0015")
    assert tianyao is not None and changshou is not None
    m12, m15 = tianyao.manager_userid, changshou.manager_userid
    customers: dict[str, str] = {}
    groups: dict[str, str] = {}

    def scan(userid: str, state: str, name: str, **kw: object) -> None:
        ext, _ = sim.scan_contact_qr(userid, state, name, **kw)  # type: ignore[arg-type]
        customers[ext] = name

    def who(name: str) -> str:
        return next(ext for ext, n in customers.items() if n == name)

    def group(store_name: str, owner: str) -> None:
        groups[store_name] = sim.create_group(owner, f"果田鲜生·{store_name}福利群")

    scenes = [
        Scene("07:50", f"{tianyao.name}、{changshou.name}的店长建好门店福利群",
              lambda: (group(tianyao.name, m12), group(changshou.name, m15))),
        Scene("09:12", f"王丽在{tianyao.name}收银台扫店长活码 (state store-0012-counter)",
              lambda: scan(m12, "store-0012-counter", "王丽")),
        Scene("10:05", "王丽扫群二维码进群",
              lambda: sim.join_group(groups[tianyao.name], who("王丽"), "qr")),
        Scene("11:40", f"陈先生点外卖，扫袋子里{changshou.name}店长的名片 (takeout-0015)",
              lambda: scan(m15, "takeout-0015", "陈先生")),
        Scene("11:45", "店长把陈先生直接拉进群",
              lambda: sim.join_group(groups[changshou.name], who("陈先生"), "invite",
                                     invitor=m15)),
        Scene("12:30", "赵阿姨看到周二水果日海报扫码 (tuesday-fruit-day)",
              lambda: scan(m12, "tuesday-fruit-day", "赵阿姨")),
        Scene("12:31", "赵阿姨点群邀请链接进群",
              lambda: sim.join_group(groups[tianyao.name], who("赵阿姨"), "link", invitor=m12)),
        Scene("14:20", "林小姐加了人设号「小鲜」 (persona-xiaoxian)",
              lambda: scan("xiaoxian", "persona-xiaoxian", "林小姐")),
        Scene("15:03", "周先生扫了一张旧海报的码 (state 没有登记，走 default)",
              lambda: scan(m15, "poster-2019-spring", "周先生")),
        Scene("15:30", "孙阿姨早就和店长聊过天：WeCom 不给 WelcomeCode，不发欢迎语",
              lambda: scan(m12, "store-0012-counter", "孙阿姨", with_welcome_code=False)),
        Scene("16:10", "店长按问卷给王丽打上「口味偏好/爱吃酸甜」标签",
              lambda: sim.edit_contact_tags(m12, who("王丽"), add_tag_ids=[
                  sim.admin_add_tag("口味偏好", "爱吃酸甜")])),
        Scene("18:30", "赵阿姨退群", lambda: sim.leave_group(groups[tianyao.name], who("赵阿姨"))),
        Scene("19:05", "群里发广告的账号被店长移出群",
              lambda: (scan(m12, "store-0012-counter", "推销号"),
                       sim.join_group(groups[tianyao.name], who("推销号"), "qr"))),
        Scene("19:06", "", lambda: sim.leave_group(groups[tianyao.name], who("推销号"),
                                                   removed=True)),
        Scene("20:10", "赵阿姨为了秒杀又扫码回到群里",
              lambda: sim.join_group(groups[tianyao.name], who("赵阿姨"), "qr")),
        Scene("21:00", "陈先生删除了长寿路店店长",
              lambda: sim.customer_deletes_staff(m15, who("陈先生"))),
    ]
    print("== 今天发生了什么")
    for scene in scenes:
        if scene.says:
            print(f"  {scene.clock}  {scene.says}")
        scene.act()
        await _settle(sim, runtime)
    return customers


def _pad(text: str, width: int) -> str:
    """Left-align in a terminal: CJK characters take two columns."""
    return text + " " * max(width - _columns(text), 0)


def _report(sim: Simulator, db_path: Path, customers: dict[str, str],
            stores: StoreDirectory) -> None:
    print("\n== 每位顾客收到的欢迎语 (what WeCom delivered, as recorded by the simulator)")
    for ext, name in customers.items():
        welcomes = sim.welcomes_for(ext)
        if not welcomes:
            print(f"\n  {name}: (no welcome)")
            continue
        for welcome in welcomes:
            print(f"\n  {name}:")
            for line in welcome.text.splitlines():
                print(textwrap.indent(textwrap.fill(line, 60) or "", "    │ "))
            for item in welcome.attachments:
                kind = item["msgtype"]
                detail = item[kind].get("title") or item[kind].get("pic_url") or ""
                print(f"    + [{kind}] {detail}")

    with sqlite3.connect(db_path) as db:
        print("\n== 机器人记录的会员 (member, member_tag)")
        print(f"  {_pad('顾客', 8)}{_pad('门店', 12)}{_pad('channel', 19)}{_pad('status', 21)}tags")
        rows = db.execute(
            "SELECT m.external_userid, m.store_id, m.channel, m.status, "
            "group_concat(t.group_name || '/' || t.name, ', ') FROM member m "
            "LEFT JOIN member_tag mt ON mt.external_userid = m.external_userid "
            "LEFT JOIN tag t ON t.id = mt.tag_id GROUP BY m.external_userid "
            "ORDER BY m.first_seen").fetchall()
        for ext, store_id, channel, status, tags in rows:
            store = stores.get(store_id) if store_id else None
            print(f"  {_pad(customers.get(ext, ext), 8)}{_pad(store.name if store else '-', 12)}"
                  f"{_pad(channel, 19)}{_pad(status, 21)}{tags or '-'}")

        print("\n== 进群退群记录 (group_member_log, append-only)")
        names = {**customers, **{s['userid']: s['name'] for s in stores.staff_rows()}}
        for chat, member, action, how in db.execute(
                "SELECT g.name, l.member_id, l.action, l.how FROM group_member_log l "
                "JOIN customer_group g ON g.chat_id = l.chat_id ORDER BY l.id"):
            verb = "进群" if action == "join" else "退群"
            print(f"  {_pad(chat, 28)}{_pad(names.get(member, member), 8)}{verb} ({how})")

        print("\n== 欢迎语发送结果 (welcome)")
        for ext, status, latency in db.execute(
                "SELECT external_userid, status, latency_ms FROM welcome ORDER BY at"):
            took = f"{latency:.0f} ms after the callback" if latency is not None else ""
            print(f"  {_pad(customers.get(ext, ext), 8)}{_pad(status, 11)}{took}")


def _callback_summary(db_path: Path) -> None:
    """Last line: every callback of the run (welcome day and SOP day) was handled."""
    with sqlite3.connect(db_path) as db:
        pending = db.execute(
            "SELECT count(*) FROM inbox_event WHERE status != 'done'").fetchone()[0]
        total = db.execute("SELECT count(*) FROM inbox_event").fetchone()[0]
    print(f"\n  {total} callbacks recorded, {pending} not handled.")


# -- the SOP day --------------------------------------------------------------------------

# A Tuesday, so the member day fires, and the first of a month: on a fresh database the
# quota then allows what it allows on any day of a month the bot has been running through,
# one 群发 a group a day. (Mid-month, a fresh database would look as if 23 days had gone
# unused: on 2026-11-24 the spread allows ceil(30 / 7) = 5 a day, and nothing is held.)
SOP_DAY = date(2026, 12, 1)
SHOWN_IN_FULL = "0012"  # the store whose messages are printed in full; others get one line
FORGETFUL = ("0201", "member-day")  # this store's manager forgets this SOP's 群发
POSTS_FROM_SIDEBAR = (SHOWN_IN_FULL, "flash-sale")  # this manager posts this one on screen
TEXT_COLUMNS = 68
_NO_LINE_START = frozenset("，。、；：！？）」』》…～,.;:!?)")
_POSTS = text("SELECT sop, chat_id, status FROM owner_post WHERE slot_at >= :start"
              " AND slot_at < :end")
_OPEN_SENDS = text("SELECT count(*) FROM outbox_send WHERE slot_id = :slot_id"
                   " AND status IN ('queued', 'sending', 'created', 'unknown')")


@dataclass(frozen=True)
class Chat:
    """A chat the SOP day can reach: a store's customer group, or a robot's staff group."""

    chat_id: str
    label: str  # short, for tables: the WeCom group name without the chain's prefix
    store: Store | None = None
    owner_name: str = ""


async def _play_sop_day(sim: Simulator, runtime: BotRuntime, settings: Settings,
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
            await _play_slot(sim, db, scheduler, chats, stores, slot, name)
            if scheduler.book.get(name).owner_post:
                await _owner_post_slot(sim, runtime, chats, stores, slot, name, bot_url)
    await _delivery_table(db, book, settings, chats, slots)


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
    await _settle(sim, runtime)
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
            _print_text(message.text, "    │ ")
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
    for message in reminder[-1:]:
        print(f"    {store.manager_name} ({store.name}) got the bot app's message:")
        _print_text(message.content, "      │ ")
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
            [post] = (await r.json())["due"]
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
    for message in sim.group_messages(chat.chat_id)[-1:]:
        if ok and message.via == "member":
            _print_text(message.text, "      │ ")
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
            print(f"    {_pad(chat.label, 18)}held back: 群发 quota")
            continue
        if not messages:
            print(f"    {_pad(chat.label, 18)}(nothing arrived)")
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
                _print_text(message.text, "      │ ")
                for item in message.attachments:
                    print(f"      + {_attachment(item)}")
            else:
                extra = _attachment_count(message.attachments)
                print(f"    {_pad(chat.label, 18)}✓ {_clip(message.text, 44)}{extra}")
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
    print(f"      (天钥桥路店 would have read: {_clip(said, 46)})")


async def _delivery_table(db: Database, book: SopBook, settings: Settings, chats: list[Chat],
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
    print(f"  {_pad('group', 22)}" + "".join(_pad(f"{s:%H:%M}", 12) for s, _ in slots).rstrip())
    for chat in chats:
        cells = [status.get((name, chat.chat_id), "-") for _, name in slots]
        if all(cell == "-" for cell in cells):
            continue
        print(f"  {_pad(chat.label, 22)}" + "".join(_pad(cell, 12) for cell in cells).rstrip())
    legend = [f"{s:%H:%M} {name}" for s, name in slots]
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


def _columns(text: str) -> int:
    """Terminal columns: CJK characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _wrap(line: str, width: int) -> list[str]:
    """Break a line at `width` terminal columns (textwrap counts a CJK character as one);
    closing punctuation stays on its line, as Chinese typesetting does."""
    lines: list[str] = []
    current, used = "", 0
    for ch in line:
        cols = _columns(ch)
        if current and used + cols > width and ch not in _NO_LINE_START:
            lines.append(current.rstrip())
            current, used = "", 0
            if ch == " ":
                continue
        current += ch
        used += cols
    lines.append(current)
    return lines


def _clip(text: str, width: int) -> str:
    """The first line, cut to `width` columns with an ellipsis."""
    first = text.splitlines()[0] if text else ""
    parts = _wrap(first, width - 1)
    return parts[0] + ("…" if len(parts) > 1 or "\n" in text else "")


def _print_text(text: str, prefix: str) -> None:
    for line in text.splitlines():
        for part in _wrap(line, TEXT_COLUMNS):
            print(prefix + part)


def _attachment_count(items: tuple[dict[str, Any], ...]) -> str:
    """` (+4 images)`: what came with a message that is shown on one line."""
    if not items:
        return ""
    kinds = {str(item.get("msgtype")) for item in items}
    noun = f"{kinds.pop()}s" if len(kinds) == 1 else "attachments"
    return f" (+{len(items)} {noun})"


def _attachment(item: dict[str, Any]) -> str:
    """`[image] url`, `[link] 《title》 url`, `[miniprogram] title`."""
    kind = str(item.get("msgtype", "?"))
    body = item.get(kind) or {}
    if kind == "link":
        return f"[link] 《{body.get('title', '')}》 {body.get('url', '')}"
    return f"[{kind}] {body.get('pic_url') or body.get('title') or body.get('media_id', '')}"
