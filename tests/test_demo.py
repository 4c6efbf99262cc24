"""The README's main job: `python -m bot demo` on a fresh checkout, as a newcomer runs it."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
STORES = ("天钥桥路店", "长寿路店", "金桥店", "文三路店", "滨江星光店", "观前街店")

pytestmark = pytest.mark.slow  # the whole demo as a subprocess: left out of the quick loop


@pytest.fixture(scope="module")
def demo() -> subprocess.CompletedProcess[str]:
    """One run of the demo for every test here: it is the slow part (a few seconds)."""
    return subprocess.run([sys.executable, "-m", "bot", "demo"], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=False)


def squeezed(text: str) -> str:
    """Runs of spaces as one, so table padding does not matter."""
    return re.sub(r" +", " ", text)


def test_demo_runs_by_itself_and_shows_welcomes_and_records(demo):
    assert demo.returncode == 0, demo.stderr
    out = demo.stdout
    assert "王丽，你好呀！我是天钥桥路店的店长林晓雨" in out  # the store-counter welcome
    assert "周二水果日" in out and "小鲜" in out
    assert "孙阿姨: (no welcome)" in out
    # the till card is printed from the code sync made, and 王丽 scans the printed card
    assert "codes sync → exit 0; plan: 17 create" in out
    assert re.search(r"打印台卡 0012-store-counter-till\.png .*卡上二维码：https://", out)
    assert "王丽 进群 (qr, 加入群聊码 state group-0012)" in squeezed(out)
    assert "推销号 退群 (removed)" in squeezed(out)
    # the last line covers the welcome day and the SOP day's group creations
    assert re.search(r"\d+ callbacks recorded, 0 not handled\.$", out.strip())
    assert "Traceback" not in demo.stderr and "ERROR" not in demo.stderr, demo.stderr


def test_demo_plays_the_sop_day_in_time_order(demo):
    assert demo.returncode == 0, demo.stderr
    out = demo.stdout
    sop_day = out[out.index("== 2026-12-01 周二"):]
    # Tuesday's one 群发 is the member day (it replaces the morning new arrivals)
    # 天钥桥路店 (shown in full) hears goodnight at 22:00, half an hour before it closes
    slots = ["08:30  member-day", "08:40  manager-reminder", "14:40  flash-sale",
             "22:00  goodnight"]
    at = [sop_day.index(slot) for slot in slots]
    assert at == sorted(at)
    assert "morning-new-arrivals" not in sop_day
    morning = sop_day[at[0]:at[1]]
    # one store in full, with its coupon link; the other stores' groups on one line each
    assert "【周二会员日】12月1日，天钥桥路店会员专享券：" in morning
    assert "+ [link] 《周二会员日｜领本周会员券》" in morning
    assert "天钥桥路店宝妈群: the same 群发" in morning
    for store in STORES[1:]:
        line = f"{store}福利群 ✓ 【周二会员日】12月1日，{store}会员专享券"
        assert line in squeezed(morning), store
    assert "孙丽 forgot to confirm; it went out after the bot's reminder" in morning
    # the robot posts into the managers' staff group, mentioning everyone
    reminder = sop_day[at[1]:at[2]]
    assert "各位店长早上好！" in reminder and "是会员日" in reminder and "@ @all" in reminder
    # the flash sale and goodnight are owner posts: reminders, no 群发, nothing held back;
    # each store at its own time (0112's flash sale at 16:40, 0107's goodnight at 22:30)
    ends = [sop_day.index("16:40  flash-sale"), sop_day.index("22:30  goodnight")]
    for start, end, due in zip(at[2:], ends, ["6 groups due, 5 owners reminded",
                                              "3 groups due, 2 owners reminded"], strict=True):
        part = sop_day[start:end]
        assert "held back" not in part
        assert due in part
        assert "该发了：你的 2 个客户群" in part and "「今日群SOP」" in part
    assert "16:40  flash-sale · 群主发 owner_post: 1 groups due" in sop_day
    # Tuesday's new arrivals: an owner post an hour after each store opens
    assert "09:00  tuesday-new-arrivals · 群主发 owner_post" in sop_day
    flash = sop_day[at[2]:at[3]]
    assert "林晓雨 opens 天钥桥路店福利群 → sidebar 「今日群SOP」 → 「发到本群」" in flash
    assert "│ 【限时秒杀】12月1日 周二 15:00-17:00" in flash
    assert "recorded as posted by 林晓雨: yes" in flash


def test_demo_prints_the_bots_delivery_records_per_group_and_slot(demo):
    assert demo.returncode == 0, demo.stderr
    table = squeezed(demo.stdout[demo.stdout.index("== SOP 投递记录"):])
    assert "group 08:30 08:40 09:00+ 14:40+ 21:30+" in table
    rows = [f"{store}福利群" for store in STORES] + ["天钥桥路店宝妈群"]
    for row in rows:  # every store has a group: sent in the morning, owner posts after
        posted = "posted" if row == "天钥桥路店福利群" else "due"
        assert f"{row} sent - due {posted} due\n" in table, row
    assert "robot store-managers - sent - - -\n" in table
    assert "7 customer groups: 7 群发 sent, 0 held back (held_quota)." in table
    assert "flash-sale (each store at its own time)" in table
    assert "21 due over 9 slots, 18 of 18 owner reminders sent" in table
    assert "1 posted from the sidebar" in table


def test_demo_shows_a_moment_made_posted_by_staff_reminded_and_recorded(demo):
    assert demo.returncode == 0, demo.stderr
    scene = demo.stdout[demo.stdout.index("tuesday-moment · 朋友圈 moment"):]
    scene = scene[:scene.index("\n\n")]
    assert "tasks (one per store, add_moment_task)" in scene and "【周二上新】" in scene
    assert "张图 (media/upload_attachment)" in scene
    assert "忘了发表，机器人提醒" in scene and "朋友圈任务你还没发表" in scene
    assert "recorded per staff member (moment_staff): moment:" in scene
    assert " 0 not yet" in scene


def test_demo_shows_wang_li_on_day_3_of_the_track_and_leaving_it_when_she_buys(demo):
    assert demo.returncode == 0, demo.stderr
    scene = demo.stdout[demo.stdout.index("== 王丽的控糖减脂 11 天"):]
    scene = scene[:scene.index("\n== ")]
    assert [f"day {d}" in scene for d in (1, 2, 3)] == [True, True, True]
    assert "林晓雨 → 王丽 (一对一群发)" in scene and "低 GI 水果表" in scene
    assert "today is day 3" in scene and "leaves if: buys" in scene
    assert "sugar-control: stopped (bought)" in scene
    # the members scene moved her to 金卡: the level-up journey congratulated her, first in
    # the daily allowance they share, so the acne track's first step waited a day
    assert "恭喜您升级为天钥桥路店金卡会员" in scene
    assert "level-up: entered" in scene and "(level_reached), finished: last step" in scene
