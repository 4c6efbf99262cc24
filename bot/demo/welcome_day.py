"""The demo's first part: a store day of customers, played scene by scene, then what each
customer received and what the bot recorded (members, tags, group joins, welcomes).
"""

from __future__ import annotations

import inspect
import sqlite3
import textwrap
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from bot.app import BotRuntime
from bot.books.stores import StoreDirectory
from bot.demo.card_scene import PrintedCards
from bot.demo.terminal import pad
from bot.simulator import Simulator

__all__ = ["Scene", "callback_summary", "play_day", "report", "settle"]


@dataclass
class Scene:
    """One moment of the story: when it happens, what the demo says, and what it does."""

    clock: str  # the time of day in the story (the demo itself runs in a few seconds)
    says: str
    act: Callable[[], object]


async def settle(sim: Simulator, runtime: BotRuntime) -> None:
    """Wait until WeCom has delivered every callback and the bot has handled it."""
    await sim.wait_callbacks_delivered(timeout=15)
    assert runtime.dispatcher is not None
    await runtime.dispatcher.drain(15)


async def play_day(sim: Simulator, runtime: BotRuntime, stores: StoreDirectory,
                   print_card: Callable[[PrintedCards], Awaitable[None]]) -> dict[str, str]:
    """The scripted day; returns external userid -> customer name, in order of arrival.
    `print_card` syncs the codes and prints the till card 王丽 scans (bot.demo.card_scene)."""
    customers: dict[str, str] = {}
    printed = PrintedCards()
    scenes = _scenes(sim, stores, customers, printed, print_card)
    print("== 今天发生了什么")
    for scene in scenes:
        if scene.says:
            print(f"  {scene.clock}  {scene.says}")
        done = scene.act()
        if inspect.isawaitable(done):
            await done
        await settle(sim, runtime)
    return customers


def _scenes(sim: Simulator, stores: StoreDirectory, customers: dict[str, str],
            printed: PrintedCards, print_card: Callable[[PrintedCards], Awaitable[None]]
            ) -> list[Scene]:
    """The day's story, in order; each customer who scans is added to `customers`."""
    tianyao, changshou = stores.get("0012"), stores.get("0015")
    assert tianyao is not None and changshou is not None
    m12, m15 = tianyao.manager_userid, changshou.manager_userid
    groups: dict[str, str] = {}

    def scan(userid: str, state: str, name: str, **kw: object) -> str:
        ext, _ = sim.scan_contact_qr(userid, state, name, **kw)  # type: ignore[arg-type]
        customers[ext] = name
        return ext

    def scan_printed(code: str, name: str) -> None:
        """A customer scans a printed code (a QR content read off paper or a picture)."""
        known = next((ext for ext, n in customers.items() if n == name), None)
        customers[sim.scan_code(code, name, known)["external_userid"]] = name

    def who(name: str) -> str:
        return next(ext for ext, n in customers.items() if n == name)

    def group(store_name: str, owner: str) -> str:
        groups[store_name] = sim.create_group(owner, f"果田鲜生·{store_name}福利群")
        return groups[store_name]

    return [
        Scene("07:50", f"{tianyao.name}、{changshou.name}的店长建好门店福利群",
              lambda: (group(tianyao.name, m12), group(changshou.name, m15))),
        Scene("07:55", f"运营跑 codes sync 生成各店活码和「加入群聊」码，"
                       f"{tianyao.name}打印收银台台卡",
              lambda: print_card(printed)),
        Scene("09:12", f"王丽在{tianyao.name}收银台扫台卡上的店长活码 (state store-0012-counter)",
              lambda: scan_printed(printed.scanned, "王丽")),
        Scene("10:05", "王丽长按欢迎语里的「加入群聊」码进群 (state group-0012)",
              lambda: scan_printed(printed.join_code, "王丽")),
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


def report(sim: Simulator, db_path: Path, customers: dict[str, str],
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
        print(f"  {pad('顾客', 8)}{pad('门店', 12)}{pad('channel', 19)}{pad('status', 21)}tags")
        rows = db.execute(
            "SELECT m.external_userid, m.store_id, m.channel, m.status, "
            "group_concat(t.group_name || '/' || t.name, ', ') FROM member m "
            "LEFT JOIN member_tag mt ON mt.external_userid = m.external_userid "
            "LEFT JOIN tag t ON t.id = mt.tag_id GROUP BY m.external_userid "
            "ORDER BY m.first_seen").fetchall()
        for ext, store_id, channel, status, tags in rows:
            store = stores.get(store_id) if store_id else None
            print(f"  {pad(customers.get(ext, ext), 8)}{pad(store.name if store else '-', 12)}"
                  f"{pad(channel, 19)}{pad(status, 21)}{tags or '-'}")

        print("\n== 进群退群记录 (group_member_log, append-only)")
        names: dict[str, str] = {
            **customers, **{str(s['userid']): str(s['name']) for s in stores.staff_rows()}}
        for chat, member, action, how, state in db.execute(
                "SELECT g.name, l.member_id, l.action, l.how, s.state FROM group_member_log l "
                "JOIN customer_group g ON g.chat_id = l.chat_id "
                "LEFT JOIN group_join_state s ON s.chat_id = l.chat_id "
                "AND s.member_id = l.member_id AND l.action = 'join' ORDER BY l.id"):
            verb = "进群" if action == "join" else "退群"
            code = f", 加入群聊码 state {state}" if state else ""
            print(f"  {pad(chat, 28)}{pad(names.get(member, member), 8)}{verb} ({how}{code})")

        print("\n== 欢迎语发送结果 (welcome)")
        for ext, status, latency in db.execute(
                "SELECT external_userid, status, latency_ms FROM welcome ORDER BY at"):
            took = f"{latency:.0f} ms after the callback" if latency is not None else ""
            print(f"  {pad(customers.get(ext, ext), 8)}{pad(status, 11)}{took}")


def callback_summary(db_path: Path) -> None:
    """Last line: every callback of the run (welcome day and SOP day) was handled."""
    with sqlite3.connect(db_path) as db:
        pending = db.execute(
            "SELECT count(*) FROM inbox_event WHERE status != 'done'").fetchone()[0]
        total = db.execute("SELECT count(*) FROM inbox_event").fetchone()[0]
    print(f"\n  {total} callbacks recorded, {pending} not handled.")
