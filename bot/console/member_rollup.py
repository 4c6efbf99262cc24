"""The member rollups: members per level and stage each day, the moves between them, and
the questionnaire answers per code, per store (``*``: the chain).

The member data (bot/members/) keeps each member's level and stage, not their history, so
the console keeps its own copy of what it saw last (`console_member_state`) and each run
compares the two in the database, set-based: the members whose level or stage differ are
the day's moves (added to `console_member_move`), the copy is brought up to date, and the
day's counts (`console_member_day`) are the copy counted per store. A member's store is the
store of their first purchase (开卡门店); it never changes, so no member moves between stores.

A move is dated the day the console saw it (at most one rollup interval after the
recompute that made it); a member seen for the first time moves from ``''`` (新会员). Moves
cannot be back-filled: a day's counts are only known on that day.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import date, tzinfo
from typing import Any

from sqlalchemy.engine import Connection

from bot.console.days import bounds
from bot.db.engine import sql

KINDS = ("level", "stage")

_NEW_MEMBERS = sql("""
    INSERT INTO console_member_state (member_code, store_id, level, stage)
    SELECT m.member_code, coalesce((SELECT p.store_id FROM purchase p
        WHERE p.member_code = m.member_code ORDER BY p.at LIMIT 1), ''), '', ''
    FROM loyalty_member m WHERE m.level <> '' AND NOT EXISTS (
        SELECT 1 FROM console_member_state s WHERE s.member_code = m.member_code)""")
_FOLLOW = sql("""
    UPDATE console_member_state SET level = m.level, stage = m.stage FROM loyalty_member m
    WHERE m.member_code = console_member_state.member_code AND m.level <> ''
    AND (console_member_state.level <> m.level OR console_member_state.stage <> m.stage)""")
_ADD_MOVES = sql("""
    INSERT INTO console_member_move (day, store_id, kind, from_name, to_name, members)
    VALUES (:day, :store_id, :kind, :from_name, :to_name, :members)
    ON CONFLICT (day, store_id, kind, from_name, to_name)
    DO UPDATE SET members = console_member_move.members + excluded.members""")


_CHANGED = sql("""
    SELECT s.store_id, s.level, m.level, s.stage, m.stage, count(*) FROM loyalty_member m
    JOIN console_member_state s ON s.member_code = m.member_code
    WHERE m.level <> '' AND (s.level <> m.level OR s.stage <> m.stage)
    GROUP BY s.store_id, s.level, m.level, s.stage, m.stage""")
_ADD_COUNTS = sql("""
    INSERT INTO console_member_day (day, store_id, kind, name, members)
    VALUES (:day, :store_id, :kind, :name, :members)
    ON CONFLICT (day, store_id, kind, name)
    DO UPDATE SET members = console_member_day.members + excluded.members""")


def _moves(conn: Connection) -> Counter[tuple[str, str, str, str]]:
    """(store, kind, from, to) → members, of those whose level or stage differ from the
    copy; each store's and the chain's (``*``)."""
    moved: Counter[tuple[str, str, str, str]] = Counter()
    for store, level_was, level, stage_was, stage, n in conn.execute(_CHANGED):
        for kind, before, after in (("level", level_was, level), ("stage", stage_was, stage)):
            if before != after:
                moved[(str(store), kind, str(before), str(after))] += int(n)
                moved[("*", kind, str(before), str(after))] += int(n)
    return moved


def _add_new_members(conn: Connection) -> None:
    """Copy the members not seen before. On PostgreSQL without nested loops: while the copy
    is empty its statistics say one row, the planner then checks each member against it by
    a scan, and that scan also walks every row this very statement has inserted so far
    (invisible to it, but on the pages): quadratic, 87 s for the first 100,000 members
    (scripts/bench_console.py). A hash anti-join reads the copy once, before the inserts."""
    postgres = conn.dialect.name == "postgresql"
    if postgres:
        conn.exec_driver_sql("SET LOCAL enable_nestloop = off")
    conn.execute(_NEW_MEMBERS)
    if postgres:  # the rest of the group commit's transaction plans as usual
        conn.exec_driver_sql("SET LOCAL enable_nestloop = on")


def follow_members(conn: Connection, day: date) -> int:
    """Record the moves since the last look as `day`'s, bring the copy up to date and the
    day's counts with it; the number of members whose level changed (new ones included).

    The day's first run counts the copy whole (a recount a day keeps the counts true);
    later runs add the moves to the counts."""
    _add_new_members(conn)
    moved = _moves(conn)
    conn.execute(_FOLLOW)
    key = day.isoformat()
    if moved:
        conn.execute(_ADD_MOVES, [
            {"day": key, "store_id": store, "kind": kind, "from_name": before,
             "to_name": after, "members": n}
            for (store, kind, before, after), n in sorted(moved.items())])
    counted = conn.execute(sql("SELECT 1 FROM console_member_day WHERE day = :day LIMIT 1"),
                           {"day": key}).first()
    if counted is None:
        count_members(conn, day)
    elif moved:
        deltas: Counter[tuple[str, str, str]] = Counter()
        for (store, kind, before, after), n in moved.items():
            deltas[(store, kind, after)] += n
            if before:
                deltas[(store, kind, before)] -= n
        conn.execute(_ADD_COUNTS, [{"day": key, "store_id": store, "kind": kind, "name": name,
                                    "members": n} for (store, kind, name), n in deltas.items()
                                   if n])
    return sum(n for (store, kind, _, _), n in moved.items() if store == "*" and kind == "level")


def count_members(conn: Connection, day: date) -> None:
    """`day`'s members per store and level / stage, counted from the console's copy."""
    conn.execute(sql("DELETE FROM console_member_day WHERE day = :day"),
                 {"day": day.isoformat()})
    for kind in KINDS:
        for store in ("store_id", "'*'"):
            conn.execute(sql(f"""
                INSERT INTO console_member_day (day, store_id, kind, name, members)
                SELECT CAST(:day AS VARCHAR(10)), {store}, CAST(:kind AS VARCHAR(8)),
                       {kind}, count(*)
                FROM console_member_state WHERE {kind} <> ''
                GROUP BY {"store_id, " if store == "store_id" else ""}{kind}"""),  # noqa: S608 (constant names; values bound)
                {"day": day.isoformat(), "kind": kind})


def build_answer_day(conn: Connection, day: date, tz: tzinfo) -> int:
    """Rebuild `console_answer_day` for one local day: the answers given that day (each
    customer's latest; answering again counts on the day of the new answer)."""
    t0, t1 = bounds(day, tz)
    counts: Counter[tuple[str, str, str, str]] = Counter()
    for form, codes, store in conn.execute(sql("""
            SELECT q.form, q.codes, coalesce(m.store_id, '') FROM questionnaire_answer q
            LEFT JOIN member m ON m.external_userid = q.external_userid
            WHERE q.answered_at >= :t0 AND q.answered_at < :t1"""), {"t0": t0, "t1": t1}):
        for question, code in _codes(codes):
            for key in (str(store), "*"):
                counts[(key, str(form), question, code)] += 1
    conn.execute(sql("DELETE FROM console_answer_day WHERE day = :day"),
                 {"day": day.isoformat()})
    rows: list[dict[str, Any]] = [
        {"day": day.isoformat(), "store_id": store, "form": form, "question": question,
         "code": code, "answers": n} for (store, form, question, code), n in counts.items()]
    if rows:
        conn.execute(sql("""INSERT INTO console_answer_day (day, store_id, form, question,
            code, answers) VALUES (:day, :store_id, :form, :question, :code, :answers)"""),
                     rows)
    return len(rows)


def _codes(text: str) -> list[tuple[str, str]]:
    """(question, code) pairs of a stored answer (JSON {question id: [codes]})."""
    try:
        found = json.loads(text)
    except ValueError:
        return []
    if not isinstance(found, dict):
        return []
    return [(str(q)[:32], str(c)[:8]) for q, codes in found.items()
            for c in (codes if isinstance(codes, list) else [codes])]
