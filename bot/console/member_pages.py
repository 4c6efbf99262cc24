"""The Members and Journeys pages as tables, read from their rollups (bot.console.
member_rollup, journey_rollup) for one store or the chain (key ``*``)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any

from sqlalchemy.engine import Connection

from bot.console.catalog import Names
from bot.console.journey_rollup import ENTRY_COUNTS, STEP_COUNTS
from bot.console.pages import LIST_LIMIT, Table
from bot.db.engine import sql

KIND_TITLE = {"level": "会员等级", "stage": "生命周期阶段"}
NEW = "（新会员）"


def _period(key: str, first: date, last: date) -> dict[str, Any]:
    return {"key": key, "first": first.isoformat(), "last": last.isoformat()}


def _ordered(found: set[str], known: Sequence[str]) -> list[str]:
    return [n for n in known if n in found] + sorted(n for n in found if n not in known)


def member_days(conn: Connection, kind: str, key: str, first: date, last: date,
                known: Sequence[str]) -> Table:
    """Members per level (stage) at the end of each day: one column per level (stage)."""
    by_day: dict[str, dict[str, Any]] = {}
    for day, name, n in conn.execute(sql("""SELECT day, name, members FROM console_member_day
            WHERE store_id = :key AND kind = :kind AND day >= :first AND day <= :last
            ORDER BY day"""), {**_period(key, first, last), "kind": kind}):
        by_day.setdefault(day, {"day": day})[name] = int(n)
    names = _ordered({n for row in by_day.values() for n in row if n != "day"}, known)
    for row in by_day.values():
        for name in names:
            row.setdefault(name, 0)
    return Table(f"{kind}s", f"各{KIND_TITLE[kind]}会员数（每天结束时）",
                 [("day", "日期"), *((n, n) for n in names)], list(by_day.values()),
                 chart={"type": "bar", "x": "day", "series": names, "stack": True})


def member_moves(conn: Connection, key: str, first: date, last: date,
                 names: Names) -> Table:
    order = {n: i for i, n in enumerate(("", *names.levels, *names.stages))}
    rows = [{"kind": KIND_TITLE.get(kind, kind), "from": a or NEW, "to": b,
             "move": f"{a or NEW} → {b}", "members": int(n), "_order": (kind, order.get(a, 99),
                                                                         order.get(b, 99))}
            for kind, a, b, n in conn.execute(sql("""
                SELECT kind, from_name, to_name, sum(members) FROM console_member_move
                WHERE store_id = :key AND day >= :first AND day <= :last
                GROUP BY kind, from_name, to_name"""), _period(key, first, last))]
    rows.sort(key=lambda r: r.pop("_order"))
    return Table("moves", "期间的等级、阶段变化", [("kind", "类别"), ("from", "从"), ("to", "到"),
                                             ("members", "会员数")], rows,
                 chart={"type": "bar", "x": "move", "series": ["members"]},
                 note="变化记在控制台看到它的那天（会员数据每 6 小时按规则重算一次，"
                      "消费后即时重算）；「新会员」是第一次出现的会员。")


def answer_codes(conn: Connection, key: str, first: date, last: date, names: Names) -> Table:
    rows = []
    for form, question, code, n in conn.execute(sql("""
            SELECT form, question, code, sum(answers) FROM console_answer_day
            WHERE store_id = :key AND day >= :first AND day <= :last
            GROUP BY form, question, code ORDER BY form, question, code"""),
            _period(key, first, last)):
        text = names.answers.get((form, question, code), "")
        rows.append({"form": form, "question": question, "code": code, "text": text,
                     "label": f"{question}·{code}", "answers": int(n)})
    return Table("answers", "问卷答案（按编码）", [
        ("form", "问卷"), ("question", "题目"), ("code", "编码"), ("text", "选项"),
        ("answers", "人数")], rows, chart={"type": "bar", "x": "label", "series": ["answers"]},
        note="期间内答卷的顾客各选了哪些编码；同一位顾客再答一次，算在新答卷那天。")


ENTRY_TITLES = [("entered", "进入"), ("active", "仍在旅程"), ("finished", "走完"),
                ("left_purchase", "因购买退出"), ("left_tag", "因标签退出"),
                ("left_groups", "因退群退出"), ("left_staff", "因删员工退出"),
                ("left_gone", "已不是好友")]
STEP_TITLES = [("reached", "到达"), ("waiting", "待发"), ("sent", "已发出"),
               ("skipped_stopped", "跳过：已退出"), ("skipped_allowance", "跳过：额度"),
               ("skipped_gone", "跳过：联系不到"), ("skipped_other", "跳过：其他")]


def _sums(columns: Sequence[str]) -> str:
    return ", ".join(f"sum({c})" for c in columns)


def journey_totals(conn: Connection, key: str, first: date, last: date,
                   names: Names) -> Table:
    rows = []
    for r in conn.execute(sql(f"""SELECT journey, {_sums(ENTRY_COUNTS)} FROM console_journey_day
            WHERE store_id = :key AND step = '*' AND day >= :first AND day <= :last
            GROUP BY journey ORDER BY journey"""), _period(key, first, last)):  # noqa: S608 (constant names)
        title = names.journeys.get(r[0], (r[0], ()))[0]
        rows.append({"journey": r[0], "title": title,
                     **{c: int(v or 0) for c, v in zip(ENTRY_COUNTS, r[1:], strict=True)}})
    return Table("journeys", "各旅程：期间进入的顾客现在怎样", [
        ("title", "旅程"), ("journey", "名称"), *ENTRY_TITLES], rows,
        chart={"type": "bar", "x": "title", "series": [c for c, _ in ENTRY_TITLES[1:]],
               "stack": True},
        note="按进入旅程的日期统计：所选期间进入的顾客，到现在走到了哪里。")


def journey_steps(conn: Connection, key: str, journey: str | None, first: date, last: date,
                  names: Names) -> Table:
    where = " AND journey = :journey" if journey else ""
    found = {(r[0], r[1]): r[2:] for r in conn.execute(sql(f"""
        SELECT journey, step, {_sums(STEP_COUNTS)} FROM console_journey_day
        WHERE store_id = :key AND step <> '*' AND day >= :first AND day <= :last{where}
        GROUP BY journey, step"""), {**_period(key, first, last), "journey": journey})}  # noqa: S608 (constant names)

    def order(item: tuple[str, str]) -> tuple[str, int, int, str]:
        """The file's order; a step no longer in it after them, the most reached first."""
        steps = names.journeys.get(item[0], ("", ()))[1]
        where = steps.index(item[1]) if item[1] in steps else len(steps)
        return item[0], where, -int(found[item][0] or 0), item[1]

    rows = [{"journey": j, "step": s, "label": f"{names.journeys.get(j, (j,))[0]}·{s}",
             **{c: int(v or 0) for c, v in zip(STEP_COUNTS, found[(j, s)], strict=True)}}
            for j, s in sorted(found, key=order)][:LIST_LIMIT]
    title = names.journeys.get(journey, (journey,))[0] if journey else "各旅程"
    return Table("steps", f"{title}：每一步", [("journey", "旅程"), ("step", "步骤"),
                                           *STEP_TITLES], rows,
                 chart={"type": "bar", "x": "label", "series": [c for c, _ in STEP_TITLES[2:]],
                        "stack": True})


def journey_days(conn: Connection, key: str, journey: str | None, step: str | None,
                 first: date, last: date, names: Names) -> Table:
    """Per entry day: the journey's (or all journeys') entries, or one step's fate."""
    counts, titles = (STEP_COUNTS, STEP_TITLES) if step else (ENTRY_COUNTS, ENTRY_TITLES)
    where = " AND journey = :journey" if journey else ""
    rows = [{"day": r[0], **{c: int(v or 0) for c, v in zip(counts, r[1:], strict=True)}}
            for r in conn.execute(sql(f"""
        SELECT day, {_sums(counts)} FROM console_journey_day
        WHERE store_id = :key AND step = :step AND day >= :first AND day <= :last{where}
        GROUP BY day ORDER BY day"""),  # noqa: S608 (constant names)
        {**_period(key, first, last), "journey": journey, "step": step or "*"})]
    name = names.journeys.get(journey, (journey,))[0] if journey else "全部旅程"
    title = f"{name}·{step}：按进入日期" if step else f"{name}：每天进入的顾客"
    return Table("step_days" if step else "days", title, [("day", "进入日期"), *titles], rows,
                 chart={"type": "line", "x": "day",
                        "series": [c for c, _ in titles if c not in ("waiting", "active")]})
