"""The Members and Journeys part of scripts/bench_console.py: their data at chain scale, their
rollups built with the console's own code (timed), and the pages to ask.

Members: one loyalty member per WeCom customer (1,000,000), each with a first purchase at
their store, levels and stages spread as a chain's are; questionnaire answers from one in
five over the days; journey entries from three in ten, each with the steps its days reached.
The member rollup has no history to rebuild (moves are seen as they happen), so it is timed
on its first look (every member new) and on days when 1 % of the members move; the other
days' rows are copied from those so the pages read 90 days of rows.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from datetime import date, datetime, timedelta
from typing import Any

from bot.console.days import bounds, zone
from bot.console.journey_rollup import build_journey_days, cohorts_to_refresh
from bot.console.member_rollup import build_answer_day, follow_members
from bot.db.engine import Database, sql

TZ = zone("Asia/Shanghai")
DAY_S = 86400.0
LEVELS = ("普通",) * 7 + ("银卡",) * 2 + ("金卡",)
STAGES = ("引入期",) * 3 + ("成长期",) + ("成熟期",) * 5 + ("沉睡唤醒",)
JOURNEYS = {"first-week": 4, "repurchase-coupon": 1, "win-back": 2, "level-up": 1,
            "sugar-control": 11}
STEP_IDS = {"first-week": ["tip-ripeness", "tip-storage", "tip-season", "first-order-coupon"],
            "repurchase-coupon": ["coupon"], "win-back": ["miss-you", "last-call"],
            "level-up": ["congrats"],
            "sugar-control": ["seed-low-gi", "seed-portion", "seed-breakfast", "seed-myth",
                              "seed-story", "convert-intro", "convert-trial",
                              "convert-member-day", "convert-faq", "convert-coupon",
                              "convert-last"]}
STEP_FATES = (("queued", ""),) * 14 + (("skipped", "allowance: full"),) * 2 + (
    ("skipped", "stopped: bought"), ("skipped", "gone: no friend"), ("task", ""))


def generate_people(conn: Any, members: int, stores: int, days: int,
                    first: date, rng: random.Random) -> None:
    start = bounds(first, TZ)[0]
    now = time.time()
    batch: dict[str, list[tuple[Any, ...]]] = {"m": [], "p": [], "q": [], "e": [], "s": []}
    entry_id = step_id = 0
    for m in range(members):
        store = rng.randrange(stores)
        code, ext = f"M{m:08d}", f"wm{m:012d}"
        at = start + rng.random() * days * DAY_S
        batch["m"].append((code, ext, rng.randrange(1, 90_000), 1, at, at,
                           rng.choice(LEVELS), rng.choice(STAGES)))
        batch["p"].append((f"O{m:09d}", code, f"{store:04d}", rng.randrange(500, 90_000), at))
        if rng.random() < 0.2:
            batch["q"].append(("welcome", ext, f"mgr{store:04d}", json.dumps(
                {"situation": [rng.choice("123")], "wish": [rng.choice("ABCD")]}), at))
        if rng.random() < 0.3:
            entry_id += 1
            journey = rng.choice(list(JOURNEYS))
            entered = start + rng.random() * days * DAY_S
            entry_day = datetime.fromtimestamp(entered, TZ).date().isoformat()
            reached = min(JOURNEYS[journey], int((now - entered) // DAY_S))
            status, reason, ended = "active", "", None
            if reached >= JOURNEYS[journey]:
                status, reason, ended = "finished", "last step", entered + reached * DAY_S
            elif rng.random() < 0.15:
                status, reason = "stopped", rng.choice(["bought", "got the tag 已购/控糖果切套餐",
                                                        "gone: no longer a friend"])
                ended = entered + reached * DAY_S
            batch["e"].append((entry_id, journey, ext, entry_day, entered, "staff_added",
                               f"mgr{store:04d}", f"{store:04d}", status, reason, ended))
            for n in range(reached):
                step_id += 1
                fate, why = rng.choice(STEP_FATES)
                batch["s"].append((step_id, entry_id, journey, STEP_IDS[journey][n], ext,
                                   entry_day, entered + (n + 1) * DAY_S, fate, why,
                                   min(entered + (n + 1) * DAY_S, now)))
        if len(batch["m"]) >= 50_000 or m == members - 1:
            _flush(conn, batch)


def _flush(conn: Any, batch: dict[str, list[tuple[Any, ...]]]) -> None:
    conn.executemany(
        "INSERT INTO loyalty_member (member_code, external_userid, total_fen, purchases, "
        "first_at, last_at, growth, level, stage, level_tag, stage_tag, level_tag_synced, "
        "stage_tag_synced, tag_dirty, sync_attempts) VALUES (?, ?, ?, ?, ?, ?, 0, ?, ?, '', "
        "'', '', '', 0, 0)", batch["m"])
    conn.executemany("INSERT INTO purchase (order_id, member_code, store_id, amount_fen, at, "
                     "items) VALUES (?, ?, ?, ?, ?, '')", batch["p"])
    conn.executemany("INSERT INTO questionnaire_answer (form, external_userid, userid, codes, "
                     "answered_at) VALUES (?, ?, ?, ?, ?)", batch["q"])
    conn.executemany("INSERT INTO journey_entry (id, journey, external_userid, entry_day, "
                     "entered_at, event, sender, store_id, status, reason, ended_at) VALUES "
                     "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch["e"])
    conn.executemany("INSERT INTO journey_step (id, entry_id, journey, step, external_userid, "
                     "due_day, due_at, status, reason, updated_at) VALUES "
                     "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", batch["s"])
    for rows in batch.values():
        rows.clear()


async def build_people(db: Database, first: date, days: int) -> None:
    """Every day's answers and journey cohorts, and the member rollup, timed as the job
    runs them; prints the figures."""
    took: dict[str, list[float]] = {"answers": [], "journeys": []}
    for n in range(days):
        day = first + timedelta(days=n)
        for name, build in (("answers", lambda c, d=day: build_answer_day(c, d, TZ)),
                            ("journeys", lambda c, d=day: build_journey_days(c, [d]))):
            started = time.perf_counter()
            await db.write(build)
            took[name].append(time.perf_counter() - started)
    for name, values in took.items():
        print(f"{name} rollup of a day: mean {statistics.mean(values):.2f}s, "
              f"max {max(values):.2f}s over {len(values)} days")
    for label, since in (("after a start (2 days back)", time.time() - 2 * DAY_S),
                         ("a run 5 minutes after the last", time.time() - 900)):
        started = time.perf_counter()
        cohorts = await db.write(lambda c, s=since: _refresh_journeys(
            c, s, first + timedelta(days=days - 1)))
        print(f"journey cohorts refreshed {label}: {cohorts} cohorts in "
              f"{time.perf_counter() - started:.2f}s")
    await _members(db, first, days)


def _refresh_journeys(conn: Any, since: float, last: date) -> int:
    days = cohorts_to_refresh(conn, since, [last - timedelta(days=1), last])
    build_journey_days(conn, days)
    return len(days)


async def _members(db: Database, first: date, days: int) -> None:
    last = first + timedelta(days=days - 1)
    started = time.perf_counter()
    moved = await db.write(lambda c: follow_members(c, last - timedelta(days=3)))
    print(f"member rollup, first look ({moved:,} new members): "
          f"{time.perf_counter() - started:.2f}s")
    took = []
    for back in (2, 1, 0):  # 1 % of the members: the codes ending in two given digits
        await db.write(lambda c, b=back: c.execute(sql("""UPDATE loyalty_member SET
            level = CASE level WHEN '普通' THEN '银卡' WHEN '银卡' THEN '金卡' ELSE '普通' END,
            stage = CASE stage WHEN '引入期' THEN '成长期' ELSE '成熟期' END
            WHERE member_code LIKE :ending"""), {"ending": f"%{17 * b + 3:02d}"}))
        started = time.perf_counter()
        await db.write(lambda c, b=back: follow_members(c, last - timedelta(days=b)))
        took.append(time.perf_counter() - started)
    print(f"member rollup of a day (1 % of members moved): mean {statistics.mean(took):.2f}s, "
          f"max {max(took):.2f}s")
    await db.write(lambda c: _copy_history(c, first, days - 4, last))


def _copy_history(conn: Any, first: date, days: int, last: date) -> None:
    """The earlier days' member rows, copied from today's: rows for the pages to read."""
    for n in range(days):
        day = (first + timedelta(days=n)).isoformat()
        for table in ("console_member_day", "console_member_move"):
            columns = ("store_id, kind, name, members" if table == "console_member_day" else
                       "store_id, kind, from_name, to_name, members")
            conn.execute(sql(f"""INSERT INTO {table} (day, {columns})
                SELECT :day, {columns} FROM {table} WHERE day = :last"""),  # noqa: S608 (constants)
                {"day": day, "last": last.isoformat()})


def people_pages(store: str) -> list[tuple[str, str, str]]:
    start90 = date.today() - timedelta(days=89)
    return [
        ("members (chain, 30 d)", "op", "/console/members"),
        ("members (chain, 90 d)", "op", f"/console/members?start={start90}"),
        ("members (manager)", "mgr", "/console/members"),
        ("members (one store)", "op", f"/console/members?store={store}"),
        ("members CSV moves", "op", "/console/members?format=csv&table=moves"),
        ("journeys (chain, 30 d)", "op", "/console/journeys"),
        ("journeys (chain, 90 d)", "op", f"/console/journeys?start={start90}"),
        ("journeys (manager)", "mgr", "/console/journeys"),
        ("journey step (chain)", "op", "/console/journeys?journey=sugar-control"
                                       "&step=seed-low-gi"),
        ("journeys CSV steps", "op", "/console/journeys?format=csv&table=steps"),
    ]
