"""SOP files: the real sop/ files rendered, schedule meaning, and operator errors with file:line.

The happy-path tests load the real files in sop/ and templates/, so a broken demo file or a
product without a price in sop/data fails here. Error tests write small bad files into
tmp_path and check the reason and the exact line:column an editor would jump to.
"""

from __future__ import annotations

import re
import shutil
import textwrap
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from apscheduler.triggers.cron import CronTrigger
from sqlmodel import SQLModel

from bot.books.stores import StoreDirectory
from bot.books.templating import TemplateLibrary
from bot.books.yamlfile import OperatorFileErrors
from bot.db.engine import Database
from bot.db.tables import CustomerGroup
from bot.sop import (
    GroupRow,
    GroupTags,
    RobotKeyMissing,
    Schedule,
    SopBook,
    SopError,
    SopTrigger,
    load_groups,
    parse_cron,
)
from bot.sop.schedule import parse_days
from tests.conftest import REPO

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
MONDAY = date(2026, 11, 23)
TUESDAY = date(2026, 11, 24)  # member day
SATURDAY = date(2026, 11, 28)
ROBOT_KEYS = {"WECOM_ROBOT_STORE_MANAGERS": "k1", "WECOM_ROBOT_HQ_OPS": "k2"}


def at(day: date, hour: int, minute: int, tz: ZoneInfo = SHANGHAI) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=tz)


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def stores() -> StoreDirectory:
    return StoreDirectory.load(REPO / "sop" / "stores.yaml")


@pytest.fixture(scope="module")
def book(stores: StoreDirectory) -> SopBook:
    return SopBook.load(
        REPO / "sop", TemplateLibrary(REPO / "templates"), stores, environ=ROBOT_KEYS,
        today=MONDAY,
    )


# --------------------------------------------------------------------------- the real files


def test_real_files_load_with_every_sop(book: SopBook) -> None:
    assert book.names() == [
        "morning-new-arrivals", "tuesday-new-arrivals", "manager-reminder", "flash-sale",
        "goodnight",
        "tuesday-moment",  # moments.yaml: Tuesday's new arrivals in 客户朋友圈 too
        "member-day", "member-day-prep", "weekend-family", "member-day-gold",
    ]
    assert book.warnings == []  # robot keys set, nothing over 9 attachments
    assert [s.name for s in book.enabled()] == book.names()[:-1]  # member-day-gold is off
    morning = book.get("morning-new-arrivals")
    assert morning.schedule.slots_on(MONDAY) == [at(MONDAY, 8, 30)]
    # Tuesday's one 群发 a group may get is the member day's, at the morning's time
    assert morning.schedule.slots_on(TUESDAY) == []
    assert book.get("member-day").schedule.slots_on(TUESDAY) == [at(TUESDAY, 8, 30)]
    assert morning.grace == timedelta(minutes=30)
    assert book.get("goodnight").grace == timedelta(minutes=20)
    assert book.get("manager-reminder").grace == timedelta(minutes=10)  # the default
    assert book.get("member-day").schedule.slots_on(MONDAY) == []


def test_missing_robot_key_is_a_warning_not_an_error(stores: StoreDirectory) -> None:
    book = SopBook.load(REPO / "sop", TemplateLibrary(REPO / "templates"), stores,
                        environ={}, today=MONDAY)
    warned = [str(w) for w in book.warnings]
    assert any("WECOM_ROBOT_STORE_MANAGERS is not set" in w for w in warned)
    assert all(w.startswith("sop/robots.yaml:") or "/sop/robots.yaml:" in w for w in warned)
    message = book.render("manager-reminder", None, at(MONDAY, 8, 40))
    assert message.robot is not None
    with pytest.raises(RobotKeyMissing, match="WECOM_ROBOT_STORE_MANAGERS is not set"):
        message.robot.key({})  # the send fails, per message, at run time
    assert message.robot.key(ROBOT_KEYS) == "k1"


@pytest.mark.parametrize("store_id", ["0012", "0107"])
def test_morning_new_arrivals_renders_the_stores_own_products(
    book: SopBook, store_id: str
) -> None:
    data = book.get("morning-new-arrivals").data
    assert data is not None
    products = data.for_store(store_id)["products"]  # type: ignore[index]
    message = book.render("morning-new-arrivals", store_id, at(TUESDAY, 8, 30))
    store = book.stores.get(store_id)
    assert store is not None
    assert message.text.startswith(f"{store.name}的家人们早上好！11月24日 周二")
    for index, product in enumerate(products, start=1):
        assert f"{index}. {product['name']} " in message.text
    assert "今天是周二会员日" in message.text
    assert store.manager_name in message.text
    photos = [a["image"]["pic_url"] for a in message.attachments]
    assert photos == [p["photo"] for p in products]  # one image per product, in order
    assert all((REPO / "sop" / p).is_file() for p in photos)  # uploaded when sent (bot.media)
    assert message.via == "group_send" and message.robot is None
    assert len(message.text.encode()) <= 4000


def test_morning_prices_and_store_specifics(book: SopBook) -> None:
    tianyao = book.render("morning-new-arrivals", "0012", at(MONDAY, 8, 30)).text
    assert "1. 赣南脐橙 ¥6.98/斤（原价¥8.8）｜江西赣州，皮薄多汁，新季第一批" in tianyao
    assert "佳沛金奇异果 6 粒装 ¥39.9/盒｜新西兰" in tianyao  # no 'was': no 原价
    assert "会员日" not in tianyao  # Monday
    assert "门店已经开门啦（营业到 22:30）" in tianyao  # opens 08:00
    wensan = book.render("morning-new-arrivals", "0107", at(MONDAY, 8, 30)).text
    # new_arrivals.yaml is dated 2026-12-04: on another day it never says "today"
    assert "· 这几天店里的新品：" in wensan and "今日" not in wensan
    fresh = book.render("morning-new-arrivals", "0107", at(date(2026, 12, 4), 8, 30)).text
    assert "· 今日新鲜到店（文三路店）：" in fresh  # its own headline, on the file's day
    jinqiao = book.render("morning-new-arrivals", "0023", at(MONDAY, 8, 30)).text
    assert "阿克苏冰糖心苹果" in jinqiao  # no entry of its own: the default list
    assert "门店 09:00 开门" in jinqiao
    binjiang = book.render("morning-new-arrivals", "0112", at(MONDAY, 8, 30)).text
    assert "门店 10:00 开门" in binjiang


@pytest.mark.parametrize(
    ("store_id", "window", "per_person"),
    [("0012", "15:00-17:00", 1), ("0112", "17:00-19:00", 1), ("0201", "15:00-17:00", 2)],
)
def test_flash_sale_uses_the_days_item_and_the_stores_window(
    book: SopBook, store_id: str, window: str, per_person: int
) -> None:
    message = book.render("flash-sale", store_id, at(TUESDAY, 14, 40))
    lines = message.text.splitlines()
    assert lines[0] == f"【限时秒杀】11月24日 周二 {window}"
    assert lines[1] == "海南金钻凤梨 2 个装"  # Tuesday's item
    assert "秒杀价 ¥29.9（平时 ¥51.6）" in lines[2]
    assert "限量 40 份" in lines[2] and f"每人限 {per_person} 份" in lines[2]
    assert message.attachments == [
        {"msgtype": "image", "image": {"pic_url": "images/flash/pineapple-2.png"}}
    ]
    thursday = book.render("flash-sale", store_id, at(date(2026, 11, 26), 14, 40)).text
    assert "阳光玫瑰青提 1 斤" in thursday


def test_goodnight_previews_tomorrow(book: SopBook) -> None:
    monday = book.render("goodnight", "0012", at(MONDAY, 21, 50)).text
    assert monday.splitlines()[0] == "天钥桥路店今天就到这里啦，谢谢大家的支持，晚安🌙"
    assert "明天是周二会员日" in monday and "海南金钻凤梨 2 个装" in monday
    tuesday = book.render("goodnight", "0107", at(TUESDAY, 21, 50)).text
    assert "明天 15:00 秒杀：赣南脐橙 5 斤装，只要 ¥25.9" in tuesday
    assert tuesday.endswith("明早 08:00 开门，王婷婷在店里等你。")
    assert len(tuesday.encode()) < 400  # short: it is bedtime


def test_member_day_coupons_by_level(book: SopBook) -> None:
    text = book.render("member-day", "0015", at(TUESDAY, 10, 10)).text
    assert "· 金卡会员（成长值 6000 以上）：满49减15，再送一次免费配送" in text
    assert "· 普通会员（成长值 0-2999）：满49减5" in text
    suzhou = book.render("member-day", "0201", at(TUESDAY, 10, 10))
    assert "满49减18" in suzhou.text  # the new store's boosted coupons
    link = suzhou.attachments[0]["link"]
    assert link["url"] == "https://m.guotian.example/member-day/coupons?store=0201"
    assert link["title"] == "周二会员日｜领本周会员券"


def test_robot_payloads(book: SopBook) -> None:
    reminder = book.render("manager-reminder", None, at(TUESDAY, 8, 40))
    payload = reminder.robot_payload()
    assert payload["msgtype"] == "text"
    assert payload["text"]["mentioned_list"] == ["@all"]
    assert "是会员日，「会员日」群发" in payload["text"]["content"]
    prep = book.render("member-day-prep", None, at(MONDAY, 17, 10)).robot_payload()
    assert prep["msgtype"] == "markdown"
    content = prep["markdown"]["content"]
    assert content.startswith("## 明天（11月24日 周二）会员日")
    assert content.endswith("<@guotian_kefu>")
    assert "6 家店" in content


def test_group_send_payload_is_add_msg_template(book: SopBook) -> None:
    message = book.render("flash-sale", "0012", at(TUESDAY, 14, 40))
    body = message.group_send_payload("linxiaoyu", ["wr1", "wr2"])
    assert body["chat_type"] == "group" and body["sender"] == "linxiaoyu"
    assert body["chat_id_list"] == ["wr1", "wr2"]
    assert body["text"]["content"] == message.text
    assert body["attachments"] == message.attachments


def test_render_refuses_what_cannot_be_sent(book: SopBook) -> None:
    with pytest.raises(SopError, match=r"store is not in stores\.yaml"):
        book.render("flash-sale", "9999", at(TUESDAY, 14, 40))
    with pytest.raises(SopError, match="a store is needed"):
        book.render("flash-sale", None, at(TUESDAY, 14, 40))
    with pytest.raises(SopError, match="no such SOP"):
        book.render("lunch", "0012", at(TUESDAY, 12, 10))
    with pytest.raises(ValueError, match="aware"):
        book.render("flash-sale", "0012", datetime(2026, 11, 24, 14, 40))


# --------------------------------------------------------------------------- groups


def group(chat: str, name: str, owner: str, store: str | None) -> GroupRow:
    return GroupRow(chat, name, owner, store)


def test_select_groups_by_store_city_and_tag(book: SopBook) -> None:
    rows = [
        group("wr1", "果田鲜生·天钥桥路店福利群", "linxiaoyu", "0012"),
        group("wr2", "天钥桥路店宝妈群", "linxiaoyu", "0012"),
        group("wr3", "文三路店亲子水果群", "wangtingting", "0107"),
        group("wr4", "小鲜的水果群", "xiaoxian", None),  # no store: never an SOP target
        group("wr5", "观前街店会员群", "sunli", "0201"),
    ]
    tagged = [book.group_tags.apply(r) for r in rows]
    assert tagged[1].tags == {"宝妈", "试点"} and tagged[2].tags == {"宝妈", "试点"}
    assert tagged[3].tags == {"人设号"} and tagged[4].tags == {"会员"}
    everyone = book.select_groups("morning-new-arrivals", tagged)
    assert [g.chat_id for g in everyone] == ["wr1", "wr2", "wr3", "wr5"]
    family = book.select_groups("weekend-family", tagged)
    assert [g.chat_id for g in family] == ["wr2", "wr3"]
    assert book.select_groups("manager-reminder", tagged) == []  # robots have no groups


async def test_load_groups_reads_live_groups_with_tags(
    tmp_path: Path, stores: StoreDirectory
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'bot.db'}")
    try:
        SQLModel.metadata.create_all(db.engine, tables=[CustomerGroup.__table__])  # type: ignore[list-item]
        rows = [
            ("wrA", "天钥桥路店宝妈群", "linxiaoyu", "0012", None),
            ("wrB", "果田鲜生·长寿路店福利群", "zhoujianguo", "0015", None),
            ("wrC", "已解散的群", "zhoujianguo", "0015", 1_700_000_000.0),
        ]
        with db.engine.begin() as conn:
            for chat_id, name, owner, store_id, dismissed in rows:
                conn.execute(CustomerGroup.__table__.insert().values(  # type: ignore[attr-defined]
                    chat_id=chat_id, name=name, owner=owner, store_id=store_id,
                    dismissed_at=dismissed, member_version=""))
        tags = GroupTags.load(REPO / "sop" / "groups.yaml", stores)
        found = await load_groups(db, tags)
    finally:
        await db.close()
        db.engine.dispose()
    assert [(g.chat_id, g.store_id, sorted(g.tags)) for g in found] == [
        ("wrA", "0012", ["宝妈", "试点"]),
        ("wrB", "0015", []),
    ]


# --------------------------------------------------------------------------- schedules


def fire_times(trigger: CronTrigger, start: datetime, end: datetime) -> list[datetime]:
    """Every time APScheduler would fire `trigger` in [start, end)."""
    out: list[datetime] = []
    previous: datetime | None = None
    while True:
        nxt = trigger.get_next_fire_time(previous, previous or start)
        if nxt is None or nxt >= end:
            return out
        out.append(nxt)
        previous = nxt


def trigger_times(schedule: Schedule, start: datetime, end: datetime) -> list[datetime]:
    return sorted(t for trig in schedule.triggers() for t in fire_times(trig, start, end))


def weekdays_fired(schedule: Schedule, first: date, days: int = 14) -> set[int]:
    return {
        d.weekday()
        for d in (first + timedelta(days=i) for i in range(days))
        if schedule.slots_on(d)
    }


@pytest.mark.parametrize(
    ("days", "expected"),
    [
        ("daily", {0, 1, 2, 3, 4, 5, 6}),
        ("weekdays", {0, 1, 2, 3, 4}),
        ("weekends", {5, 6}),
        (["tue"], {1}),
        (["周二", "Friday"], {1, 4}),
        (["MON", "thu"], {0, 3}),
    ],
)
def test_days_mean_weekdays(days: str | list[str], expected: set[int]) -> None:
    schedule = Schedule(SHANGHAI, times=(time(8, 30),), weekdays=parse_days(days))
    assert weekdays_fired(schedule, MONDAY) == expected


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("30 8 * * 1-5", {0, 1, 2, 3, 4}),  # crontab 1-5 = Monday to Friday
        ("0 9 * * 0", {6}),  # 0 = Sunday
        ("0 9 * * 7", {6}),  # 7 = Sunday too
        ("0 9 * * sun", {6}),
        ("0 9 * * 5-7", {4, 5, 6}),  # Friday to Sunday
        ("0 9 * * mon,wed", {0, 2}),
        ("0 9 * * */2", {6, 1, 3, 5}),  # 0,2,4,6 = Sun, Tue, Thu, Sat
        ("10 17 * * 1", {0}),
    ],
)
def test_cron_weekdays_follow_crontab(line: str, expected: set[int]) -> None:
    schedule = Schedule(SHANGHAI, cron=parse_cron(line))
    assert weekdays_fired(schedule, MONDAY) == expected
    start, end = at(MONDAY, 0, 0), at(MONDAY + timedelta(days=14), 0, 0)
    fired = trigger_times(schedule, start, end)
    assert {t.weekday() for t in fired} == expected
    assert fired == schedule.slots_between(start, end)


def test_apschedulers_own_crontab_counts_from_monday() -> None:
    """Why parse_cron exists: APScheduler's from_crontab reads 0 as Monday."""
    naive = CronTrigger.from_crontab("0 9 * * 0", timezone=SHANGHAI)
    first = naive.get_next_fire_time(None, at(MONDAY, 0, 0))
    assert first is not None and first.weekday() == 0  # Monday, not Sunday
    ours = Schedule(SHANGHAI, cron=parse_cron("0 9 * * 0")).triggers()[0]
    first = ours.get_next_fire_time(None, at(MONDAY, 0, 0))
    assert first == at(date(2026, 11, 29), 9, 0)  # the Sunday


@pytest.mark.parametrize(
    "schedule",
    [
        Schedule(SHANGHAI, times=(time(8, 30), time(20, 10)), weekdays=parse_days("weekdays")),
        Schedule(SHANGHAI, cron=parse_cron("30 8 * * 1-5")),
        Schedule(SHANGHAI, cron=parse_cron("15 9,21 1-10 * *")),
        Schedule(SHANGHAI, cron=parse_cron("0 9 * * 0")),
        Schedule(SHANGHAI, cron=parse_cron("5 8-18/5 * nov,dec *")),
        Schedule(SHANGHAI, times=(time(8, 30),),
                 skip_dates=frozenset({date(2026, 11, 25), date(2026, 11, 26)})),
        Schedule(BERLIN, times=(time(2, 30), time(8, 30))),
    ],
    ids=["at-weekdays", "cron-1-5", "cron-dom", "cron-sunday", "cron-steps-months", "skip",
         "berlin"],
)
@pytest.mark.parametrize("month", [3, 10, 11])
def test_trigger_and_slots_agree_for_every_day_of_a_month(schedule: Schedule, month: int) -> None:
    tz = schedule.timezone
    start = datetime(2026, month, 1, tzinfo=tz)
    end = datetime(2026, month + 1, 1, tzinfo=tz)
    days = [start.date() + timedelta(days=offset) for offset in range(31)]
    by_day = [slot for day in days for slot in schedule.slots_on(day) if slot < end]
    assert trigger_times(schedule, start, end) == by_day
    assert schedule.slots_between(start.astimezone(UTC), end.astimezone(UTC)) == by_day


def test_timezones() -> None:
    shanghai = Schedule(SHANGHAI, times=(time(8, 30),))
    (slot,) = shanghai.slots_on(TUESDAY)
    assert slot.astimezone(UTC) == datetime(2026, 11, 24, 0, 30, tzinfo=UTC)
    berlin = Schedule(BERLIN, times=(time(8, 30),))
    winter, summer = berlin.slots_on(date(2026, 3, 28)), berlin.slots_on(date(2026, 3, 30))
    assert winter[0].astimezone(UTC).hour == 7 and summer[0].astimezone(UTC).hour == 6
    # 02:30 does not exist on 29 March (clocks jump 02:00 -> 03:00): it goes out at 03:30
    night = Schedule(BERLIN, times=(time(2, 30),))
    assert night.slots_on(date(2026, 3, 29))[0].strftime("%H:%M %Z") == "03:30 CEST"
    # ... and happens twice on 25 October: sent once, the first time
    autumn_start = datetime(2026, 10, 25, tzinfo=BERLIN)
    fired = trigger_times(night, autumn_start, autumn_start + timedelta(days=1))
    assert [t.astimezone(UTC).strftime("%H:%M") for t in fired] == ["00:30"]
    for trig in night.triggers():
        assert str(trig.timezone) == "Europe/Berlin"  # explicit, never the scheduler's


def test_skip_dates() -> None:
    schedule = Schedule(SHANGHAI, times=(time(8, 30),), skip_dates=frozenset({TUESDAY}))
    assert schedule.slots_on(TUESDAY) == []
    assert schedule.next_slot(at(MONDAY, 9, 0)) == at(date(2026, 11, 25), 8, 30)
    trig = schedule.triggers()[0]
    assert isinstance(trig, SopTrigger)
    assert trig.get_next_fire_time(None, at(MONDAY, 9, 0)) == at(date(2026, 11, 25), 8, 30)


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("30 8 * *", "expected 5 fields"),
        ("30 25 * * *", "hour: 25 is outside 0-23"),
        ("0 9 1 * 1", "EITHER matches"),
        ("0 9 * * 5-1", "runs backwards"),
        ("0 9 * * tues", "'tues' is not a number"),
        ("* 8 * * *", "fires 60 times a day"),
        ("@daily", "shortcuts are not supported"),
        ("0 9 31 2 *", "none of its months has"),
    ],
)
def test_bad_cron_lines(line: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        parse_cron(line)


# --------------------------------------------------------------------------- errors


GOOD_TEMPLATE = "{{ store.name }}：{{ weekday }}好！\n"


@pytest.fixture
def world(tmp_path: Path) -> Path:
    """A sop/ + templates/ pair: the real stores, robots and groups; SOP files per test."""
    sop = tmp_path / "sop"
    (sop / "data").mkdir(parents=True)
    for name in ("stores.yaml", "robots.yaml", "groups.yaml"):
        shutil.copy(REPO / "sop" / name, sop / name)
    templates = tmp_path / "templates" / "sop"
    templates.mkdir(parents=True)
    (templates / "hello.j2").write_text(GOOD_TEMPLATE, encoding="utf-8")
    return tmp_path


def write(root: Path, name: str, text: str) -> Path:
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def load(root: Path) -> SopBook:
    stores = StoreDirectory.load(root / "sop" / "stores.yaml")
    return SopBook.load(root / "sop", TemplateLibrary(root / "templates"), stores,
                        environ=ROBOT_KEYS, today=MONDAY)


def problems(root: Path) -> list[str]:
    """The error lines the files under `root` produce, relative to root; fails if they load."""
    with pytest.raises(OperatorFileErrors) as caught:
        load(root)
    return [str(e).replace(f"{root}/", "") for e in caught.value]


def test_a_good_tmp_file_loads(world: Path) -> None:
    write(world, "sop/daily.yaml", """
        sops:
          hi:
            at: ["08:10", "20:10"]
            days: [周一, fri]
            to: {groups: {cities: [杭州]}}
            template: sop/hello.j2
    """)
    book = load(world)
    assert [s.id for s in book.stores_for("hi")] == ["0107", "0112"]
    assert book.render("hi", "0107", at(MONDAY, 8, 10)).text == "文三路店：周一好！"
    assert str(book.get("hi").schedule.timezone) == "Asia/Shanghai"  # the default


def test_unknown_key(world: Path) -> None:
    write(world, "sop/daily.yaml", """
        sops:
          hi:
            at: "08:10"
            to: {groups: {stores: all}}
            tempalte: sop/hello.j2
            template: sop/hello.j2
    """)
    assert problems(world) == [
        "sop/daily.yaml:5:15: sops.hi: unknown key 'tempalte' (did you mean 'template'?)"
    ]


def test_bad_time(world: Path) -> None:
    write(world, "sop/daily.yaml", """
        timezone: Asia/Shanghai
        sops:
          hi:
            at: "8:75"
            to: {groups: {stores: all}}
            template: sop/hello.j2
    """)
    assert problems(world) == [
        "sop/daily.yaml:4:9: sops.hi.at: '8:75' is not a time of day: hours are 00-23 and "
        "minutes 00-59"
    ]


def test_duplicate_key(world: Path) -> None:
    write(world, "sop/daily.yaml", """
        sops:
          hi:
            at: "08:10"
            to: {groups: {stores: all}}
            template: sop/hello.j2
            at: "09:10"
    """)
    assert problems(world) == [
        "sop/daily.yaml:6:5: duplicate key 'at' (the mapping starts at line 3); each key may "
        "appear once"
    ]


def test_unknown_template_syntax_error_and_undefined_variable(world: Path) -> None:
    write(world, "templates/sop/broken.j2", "你好 {{ store.name }\n")
    write(world, "templates/sop/typo.j2", "第一行\n{{ stroe.name }}好\n")
    write(world, "sop/daily.yaml", """
        sops:
          missing:
            at: "08:10"
            to: {groups: {stores: all}}
            template: sop/nope.j2
          broken:
            at: "08:10"
            to: {groups: {stores: all}}
            template: sop/broken.j2
          typo:
            at: "08:10"
            to: {groups: {stores: all}}
            template: sop/typo.j2
    """)
    # a mistake in a template is reported at the template's own line (where an editor's
    # jump-to-error should land), then the SOP whose template: names it
    assert problems(world) == [
        "sop/daily.yaml:5:15: sops.missing: sop/nope.j2: template not found under templates",
        "templates/sop/broken.j2:1: syntax error: unexpected '}' "
        "[sops.broken, template: at sop/daily.yaml:9:15]",
        "templates/sop/typo.j2:2: undefined variable 'stroe' (did you mean 'store'?) "
        "[sops.typo, template: at sop/daily.yaml:13:15]",
    ]


def test_unknown_robot_and_robot_rules(world: Path) -> None:
    write(world, "sop/daily.yaml", """
        sops:
          remind:
            at: "08:40"
            via: {robot: store-manager}
            template: sop/hello.j2
          shout:
            at: "08:40"
            via: {robot: hq-ops}
            to: {groups: {stores: all}}
            template: sop/hello.j2
    """)
    assert problems(world) == [
        "sop/daily.yaml:4:18: sops.remind: unknown robot 'store-manager' (did you mean "
        "'store-managers'?)",
        "sop/daily.yaml:9:5: sops.shout: a robot posts into its own chat (robots.yaml chat:); "
        "remove 'to', or use via: group_send to reach customer groups",
    ]


def test_duplicate_sop_name_across_files_names_both_places(world: Path) -> None:
    write(world, "sop/daily.yaml", """
        sops:
          hi:
            at: "08:10"
            to: {groups: {stores: all}}
            template: sop/hello.j2
    """)
    write(world, "sop/weekly.yaml", """
        timezone: Asia/Shanghai
        sops:
          other:
            at: "09:10"
            to: {groups: {stores: all}}
            template: sop/hello.j2
          hi:
            at: "10:10"
            to: {groups: {stores: all}}
            template: sop/hello.j2
    """)
    (found,) = problems(world)
    assert found == (
        "sop/weekly.yaml:7:3: sops.hi: an SOP named 'hi' is already defined at "
        "sop/daily.yaml:2:3; SOP names must be unique across all SOP files"
    )


def test_every_error_at_once(world: Path) -> None:
    write(world, "sop/daily.yaml", """
        sops:
          a:
            at: "08:10"
            cron: "10 8 * * *"
            to: {groups: {stores: all}}
            template: sop/hello.j2
          b:
            at: "08:10"
            days: [mon, tues]
            to: {groups: {stores: ["0012", "9999"]}}
            template: sop/hello.j2
          c:
            at: "08:10"
            to: {groups: {cities: [南京], tags: [宝马]}}
            template: sop/hello.j2
          d:
            cron: "0 9 * * 0"
            grace: 2d
            template: sop/hello.j2
          e:
            at: "08:10"
            to: {members: {tags: [会员等级/]}}
            template: sop/hello.j2
    """)
    write(world, "sop/robots.yaml", """
        robots:
          loud:
            key_env: WECOM_ROBOT_LOUD
            chat: wrkX
            format: markdown
            mention: "@all"
    """)
    found = problems(world)
    assert found == [
        "sop/daily.yaml:2:3: sops.a: give either at: (with days:) or cron:, not both; they "
        "would disagree",
        "sop/daily.yaml:9:5: sops.b.days: unknown day 'tues' (did you mean 'tue'?)",
        "sop/daily.yaml:14:28: sops.c: no store in city '南京' (cities in stores.yaml: 上海, "
        "杭州, 苏州)",
        "sop/daily.yaml:14:40: sops.c: group tag '宝马' is not defined in groups.yaml "
        "(defined: 宝妈, 会员, 试点, 人设号)",
        "sop/daily.yaml:18:12: sops.d.grace: expected a duration such as \"15m\", \"1h\" or "
        "\"1h30m\" (found '2d')",
        "sop/daily.yaml:22:27: sops.e: tag '会员等级/': write 标签组/标签名 or just 标签名",
        "sop/robots.yaml:2:3: robots.loud: a markdown robot message cannot @all (WeCom only "
        "supports <@userid> in markdown); use format: text, or list userids",
    ]


def test_unknown_store_and_missing_to(world: Path) -> None:
    write(world, "sop/daily.yaml", """
        sops:
          a:
            at: "08:10"
            to: {groups: {stores: ["0012", "9999"]}}
            template: sop/hello.j2
          b:
            at: "08:10"
            template: sop/hello.j2
    """)
    assert problems(world) == [
        "sop/daily.yaml:4:36: sops.a: store '9999' is not in stores.yaml",
        "sop/daily.yaml:6:3: sops.b: missing required key 'to': say which groups or members "
        "get it, e.g. to: {groups: {stores: all}}",
    ]


PRODUCTS_TEMPLATE = "{% for p in data.products %}{{ p.name }} {{ p.price | yuan }}\n{% endfor %}"


def test_data_errors_name_the_store_and_the_data_file(world: Path) -> None:
    write(world, "templates/sop/products.j2", PRODUCTS_TEMPLATE)
    write(world, "sop/data/arrivals.yaml", """
        default:
          products:
            - {name: 脐橙, price: 6.98, photo: "https://img.example/a.jpg"}
        "0015":
          products:
            - {name: 脐橙, photo: "https://img.example/a.jpg"}
        "0107":
          products:
            - {name: 脐橙, price: 6.98, photo: "http://img.example/a.jpg"}
    """)
    write(world, "sop/daily.yaml", """
        sops:
          new:
            at: "08:30"
            to: {groups: {stores: all}}
            template: sop/products.j2
            data: data/arrivals.yaml
            attachments:
              - each: data.products
                image: {pic_url: "{{ item.photo }}"}
    """)
    assert problems(world) == [
        "sop/daily.yaml:9:26: sops.new: attachments[0]: image pic_url must be an https:// "
        "address, got 'http://img.example/a.jpg' (store 0107, data/arrivals.yaml '0107', "
        "2026-11-23 周一)",
        "templates/sop/products.j2:1: undefined value: 'dict object' has no attribute 'price' "
        "(store 0015, data/arrivals.yaml '0015', 2026-11-23 周一) "
        "[sops.new, template: at sop/daily.yaml:5:15]",
    ]


def test_unquoted_store_id_in_a_data_file(world: Path) -> None:
    write(world, "templates/sop/products.j2", PRODUCTS_TEMPLATE)
    write(world, "sop/data/arrivals.yaml", """
        default:
          products: []
        0012:
          products: []
    """)
    write(world, "sop/daily.yaml", """
        sops:
          new:
            at: "08:30"
            to: {groups: {stores: all}}
            template: sop/products.j2
            data: data/arrivals.yaml
    """)
    assert problems(world) == [
        'sop/daily.yaml:6:11: sops.new: data/arrivals.yaml has errors (listed with its own '
        'lines)',
        'sop/data/arrivals.yaml:3:1: key 12: store ids are text; write it in quotes with its '
        'zeros (e.g. "0012" for store 0012)',
    ]


def test_too_long_text_names_sop_and_store(world: Path) -> None:
    write(world, "templates/sop/long.j2",
          "{% if store.id == '0201' %}{{ '很长的话' * 400 }}{% else %}短{% endif %}")
    write(world, "sop/daily.yaml", """
        sops:
          long:
            at: "08:30"
            to: {groups: {stores: all}}
            template: sop/long.j2
    """)
    (found,) = problems(world)
    assert found.startswith("sop/daily.yaml:5:15: sops.long: sop/long.j2: the text is 4800 "
                            "bytes, WeCom allows 4000 for add_msg_template text")
    # every store is rendered on one of the days it fires (stores take the weekdays in turn)
    assert re.search(r"\(store 0201, 2026-1[12]-\d\d 周.\)$", found), found


def test_repeated_attachments_are_cut_at_nine(world: Path) -> None:
    write(world, "templates/sop/products.j2", PRODUCTS_TEMPLATE)
    photos = "\n".join(
        f'    - {{name: 果{i}, price: {i}, photo: "https://img.example/{i}.jpg"}}'
        for i in range(12)
    )
    write(world, "sop/data/arrivals.yaml", "default:\n  products:\n" + photos + "\n")
    write(world, "sop/daily.yaml", """
        sops:
          new:
            at: "08:30"
            to: {groups: {stores: ["0012"]}}
            template: sop/products.j2
            data: data/arrivals.yaml
            attachments:
              - link: {title: "今日到货", url: "https://m.example/today"}
              - each: data.products
                image: {pic_url: "{{ item.photo }}"}
    """)
    book = load(world)
    message = book.render("new", "0012", at(MONDAY, 8, 30))
    assert len(message.attachments) == 9 and message.dropped_attachments == 4
    assert message.attachments[0]["msgtype"] == "link"
    assert message.attachments[-1]["image"]["pic_url"] == "https://img.example/7.jpg"
    (warning,) = [str(w) for w in book.warnings]
    assert "sops.new: 4 attachment(s) left out, WeCom sends at most 9" in warning


def test_robot_text_limit_is_2048_bytes(world: Path) -> None:
    write(world, "templates/sop/long.j2", "{{ '提醒' * 350 }}")
    write(world, "sop/daily.yaml", """
        sops:
          remind:
            at: "08:40"
            via: {robot: store-managers}
            template: sop/long.j2
    """)
    (found,) = problems(world)
    assert "the text is 2100 bytes, WeCom allows 2048 for a robot text" in found


def test_timezone_per_file_and_per_sop(world: Path) -> None:
    write(world, "sop/europe.yaml", """
        timezone: Europe/Berlin
        sops:
          berlin:
            at: "08:30"
            to: {groups: {stores: ["0012"]}}
            template: sop/hello.j2
          tokyo:
            at: "08:30"
            timezone: Asia/Tokyo
            to: {groups: {stores: ["0012"]}}
            template: sop/hello.j2
    """)
    book = load(world)
    assert book.get("berlin").schedule.slots_on(TUESDAY)[0].astimezone(UTC).hour == 7
    assert book.get("tokyo").schedule.slots_on(TUESDAY)[0].astimezone(UTC).hour == 23
    write(world, "sop/europe.yaml", """
        timezone: Europe/Berln
        sops:
          berlin:
            at: "08:30"
            to: {groups: {stores: ["0012"]}}
            template: sop/hello.j2
    """)
    assert problems(world) == [
        "sop/europe.yaml:1:11: timezone: unknown time zone 'Europe/Berln' (did you mean "
        "'Europe/Berlin'?)"
    ]


def test_files_without_sops_are_skipped_but_a_typo_is_not(world: Path) -> None:
    write(world, "sop/notes.yaml", "replies:\n  hello: 你好\n")
    write(world, "sop/daily.yaml", """
        sop:
          hi:
            at: "08:10"
    """)
    assert problems(world) == ["sop/daily.yaml:1:1: unknown key 'sop' (did you mean 'sops'?)"]
    (world / "sop" / "daily.yaml").unlink()
    book = load(world)
    assert len(book) == 0 and [p.name for p in book.skipped_files] == ["notes.yaml"]


def test_a_date_that_does_not_exist(world: Path) -> None:
    write(world, "sop/daily.yaml", """
        sops:
          hi:
            at: "08:10"
            to: {groups: {stores: all}}
            template: sop/hello.j2
            skip_dates: [2026-12-25, 2026-13-01]
    """)
    assert problems(world) == [
        "sop/daily.yaml:6:30: '2026-13-01' is not a date (month must be in 1..12); write "
        "dates as YYYY-MM-DD"
    ]


def test_a_bad_file_timezone_still_checks_its_sops(world: Path) -> None:
    write(world, "sop/daily.yaml", """
        timezone: Shanghai
        sops:
          hi:
            at: "08:10"
            to: {groups: {stores: all}}
            template: sop/nope.j2
    """)
    found = problems(world)
    assert len(found) == 2
    assert found[0].startswith("sop/daily.yaml:1:11: timezone: unknown time zone 'Shanghai'")
    assert found[1].startswith("sop/daily.yaml:6:15: sops.hi: sop/nope.j2: template not found")


def test_owner_post_to_members_is_reported_with_file_and_line(world: Path) -> None:
    write(world, "sop/daily.yaml", """
        sops:
          ok:
            at: "14:40"
            to: {groups: {stores: all}}
            template: sop/hello.j2
            via: owner_post
          members:
            at: "14:40"
            to: {members: {tags: [会员等级/金卡会员]}}
            template: sop/hello.j2
            via: owner_post
          typo:
            at: "14:40"
            to: {groups: {stores: all}}
            template: sop/hello.j2
            via: owner_posts
    """)
    found = problems(world)
    assert found[0].startswith("sop/daily.yaml:9:10: sops.members: via: owner_post is posted "
                               "by each group's owner")
    assert found[1].startswith("sop/daily.yaml:16:") and "owner_posts" in found[1]
    assert len(found) == 2


def test_owner_post_loads_and_is_no_group_send(world: Path) -> None:
    write(world, "sop/daily.yaml", """
        sops:
          flash:
            title: 今日秒杀
            at: "14:40"
            to: {groups: {stores: all}}
            template: sop/hello.j2
            via: owner_post
    """)
    sop = load(world).get("flash")
    assert sop.via == "owner_post" and sop.label == "今日秒杀" and sop.robot is None
