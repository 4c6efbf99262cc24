# ruff: noqa: S608  (SQL built from the rules' shape; every value in it is a bound parameter)
"""Levels and stages in SQL: one statement for one member after a purchase and for all.

The rules (bot.members.rules) become CASE expressions over each member's roll-up (total
spent, purchases, first and last purchase). Run with a list of member codes it recomputes
those members (a webhook, an import chunk); without one, every member (at night, after a
rule change, after a bulk import): the same SQL, so the two cannot disagree, and the work
stays in the database, which never loads members into Python (1,000,000 members in
seconds, in constant memory).

Portable SQL (SQLite ≥ 3.35 and PostgreSQL): `UPDATE ... FROM`, `WITH ... AS MATERIALIZED`,
CASE, correlated counts; times are epoch seconds, days are 86,400 s, so no date functions.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from bot.members.rules import MemberRules

__all__ = ["TOUCHED", "TOUCHED_ONLY", "Moves", "preview", "recompute"]
DAY_S = 86_400


@dataclass
class _Sql:
    """CASE expressions being built, with their bound values (p0, p1, ...)."""

    params: dict[str, Any] = field(default_factory=dict)

    def bind(self, value: float) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f":{name}"

    def bind_text(self, value: str) -> str:
        name = f"p{len(self.params)}"
        self.params[name] = value
        return f"CAST(:{name} AS VARCHAR(64))"  # PostgreSQL types an untyped CASE as text


def _growth(rules: MemberRules, q: _Sql) -> str:
    return f"((total_fen * {q.bind(rules.growth_per_yuan)}) / 100)"


def _level_case(rules: MemberRules, q: _Sql, growth: str, column: str) -> str:
    return _named(q, _rank_case(rules, q, growth), rules.levels, column)


def _named(q: _Sql, number: str, items: Sequence[Any], column: str) -> str:
    """The name (tag) of item number `number` (an SQL expression) of `items`."""
    whens = " ".join(f"WHEN {rank} THEN {q.bind_text(_value(item, column))}"
                     for rank, item in enumerate(items[:-1]))
    last = q.bind_text(_value(items[-1], column))
    return f"CASE {number} {whens} ELSE {last} END" if whens else last


def _value(item: Any, column: str) -> str:
    return str(item.name) if column == "name" else "/".join(item.tag)


def _bounds(q: _Sql, expr: str, low: int | None, high: int | None) -> list[str]:
    parts = []
    if low is not None:
        parts.append(f"{expr} >= {q.bind(low)}")
    if high is not None:
        parts.append(f"{expr} <= {q.bind(high)}")
    return parts


def _since(q: _Sql, column: str, now: float, low: int | None, high: int | None) -> list[str]:
    """Whole days since `column`: at least N ⇔ at ≤ now − N days; at most N ⇔ at > now −
    (N+1) days. A member who never bought matches neither (NULL)."""
    parts = []
    if low is not None:
        parts.append(f"{column} <= {q.bind(now - low * DAY_S)}")
    if high is not None:
        parts.append(f"{column} > {q.bind(now - (high + 1) * DAY_S)}")
    return parts


def _condition(q: _Sql, measure: str, values: tuple[int | None, ...], now: float,
               growth: str, member: str) -> list[str]:
    if measure == "purchases":
        return _bounds(q, "purchases", values[0], values[1])
    if measure == "growth":
        return _bounds(q, growth, values[0], values[1])
    if measure == "days_since_first":
        return _since(q, "first_at", now, values[0], values[1])
    if measure == "days_since_last":
        return _since(q, "last_at", now, values[0], values[1])
    days = values[0]
    assert measure == "purchases_in_days" and days is not None
    count = (f"(SELECT count(*) FROM purchase p WHERE p.member_code = "
             f"{member} AND p.at > {q.bind(now - days * DAY_S)})")
    return _bounds(q, count, values[1], values[2])


def _stage_case(rules: MemberRules, q: _Sql, now: float, growth: str, column: str) -> str:
    return _named(q, _stage_no(rules, q, now, growth), rules.stages, column)


def _stage_no(rules: MemberRules, q: _Sql, now: float, growth: str,
              member: str = "loyalty_member.member_code") -> str:
    """The number of the first stage whose conditions all hold (the last: otherwise). The
    window counts (a correlated count each) come last in each AND, so they are counted
    only for the members the cheap conditions leave."""
    whens = []
    for rank, stage in enumerate(rules.stages[:-1]):
        when = sorted(stage.when, key=lambda item: item[0] == "purchases_in_days")
        parts = [c for measure, values in when
                 for c in _condition(q, measure, values, now, growth, member)]
        whens.append(f"WHEN {' AND '.join(parts)} THEN {rank}")
    last = str(len(rules.stages) - 1)
    return f"CASE {' '.join(whens)} ELSE {last} END" if whens else last


TOUCHED = "members_touched"  # the import's temporary table of member codes to recompute


def _where(codes: Sequence[str] | None, prefix: str = "WHERE") -> str:
    if codes is TOUCHED_ONLY:
        return f" {prefix} member_code IN (SELECT member_code FROM {TOUCHED})"
    return f" {prefix} member_code IN :codes" if codes is not None else ""


class _Touched(tuple):  # type: ignore[type-arg]
    """`codes` meaning: the members listed in the temporary table `TOUCHED`."""


TOUCHED_ONLY: Sequence[str] = _Touched(("(touched)",))


def _run(conn: Connection, sql: str, params: dict[str, Any],
         codes: Sequence[str] | None) -> int:
    statement = text(" ".join(sql.split()))
    if codes is not None and codes is not TOUCHED_ONLY:
        statement = statement.bindparams(bindparam("codes", expanding=True))
        params = {**params, "codes": list(codes)}
    return int(conn.execute(statement, params).rowcount or 0)


_MISSING = """(SELECT p.member_code, CAST(sum(p.amount_fen) AS BIGINT) AS total_fen,
    count(*) AS purchases, min(p.at) AS first_at, max(p.at) AS last_at FROM purchase p
    WHERE NOT EXISTS
    (SELECT 1 FROM loyalty_member o WHERE o.member_code = p.member_code)
    GROUP BY p.member_code)"""  # the roll-up of members with purchases and no row yet
# (a sum of bigint is numeric on PostgreSQL: growth would round, not cut, and be written again)


def recompute(conn: Connection, rules: MemberRules, now: float,
              codes: Sequence[str] | None = None) -> int:
    """Roll up purchases, link by unionid, set growth, level, stage and the wanted tags,
    and mark for the tag sync what now differs from WeCom. `codes`: only these members
    (None: all; `TOUCHED_ONLY`: those in the temporary table `TOUCHED`). Returns how
    many members now wait for the tag sync (of those touched)."""
    if codes is not None and not codes:
        return 0
    if codes is None:
        _insert_missing(conn, rules, now)
    # only the rows whose roll-up changed are written: an unchanged row rewritten costs a
    # new row version and its index entries on PostgreSQL (17 s for 1,000,000, measured)
    _run(conn, f"""UPDATE loyalty_member SET total_fen = a.t, purchases = a.n,
        first_at = a.f, last_at = a.l FROM (SELECT member_code, sum(amount_fen) AS t,
        count(*) AS n, min(at) AS f, max(at) AS l FROM purchase{_where(codes)}
        GROUP BY member_code) AS a WHERE a.member_code = loyalty_member.member_code
        AND (loyalty_member.total_fen <> a.t OR loyalty_member.purchases <> a.n
             OR COALESCE(loyalty_member.first_at, 0) <> a.f
             OR COALESCE(loyalty_member.last_at, 0) <> a.l)""", {}, codes)
    _run(conn, f"""UPDATE loyalty_member SET external_userid = (SELECT c.external_userid
        FROM customer_unionid c WHERE c.unionid = loyalty_member.unionid)
        WHERE external_userid IS NULL AND unionid IN (SELECT unionid FROM customer_unionid)
        {_where(codes, "AND")}""", {}, codes)
    _record_moves(conn, rules, now, codes)
    _set_levels(conn, rules, now, codes)
    return _run(conn, f"""UPDATE loyalty_member SET tag_dirty = 1 WHERE tag_dirty = 0
        AND external_userid IS NOT NULL AND (level_tag <> level_tag_synced
        OR stage_tag <> stage_tag_synced){_where(codes, "AND")}""", {}, codes)


def _numbers(rules: MemberRules, q: _Sql, now: float, source: str, where: str = "") -> str:
    """SELECT of each member of `source` (a relation, aliased m, with loyalty_member's
    roll-up columns): its roll-up, growth `g`, level number `lv` and stage number `st`."""
    growth = _growth(rules, q)
    return (f"SELECT m.member_code, m.total_fen, m.purchases, m.first_at, m.last_at, "
            f"{growth} AS g, {_rank_case(rules, q, growth)} AS lv, "
            f"{_stage_no(rules, q, now, growth, 'm.member_code')} AS st FROM {source} m{where}")


def _new(rules: MemberRules, q: _Sql) -> dict[str, str]:
    """The columns a recompute sets, from the numbers of `_numbers` (as `r`)."""
    return {"growth": "r.g", "level": _named(q, "r.lv", rules.levels, "name"),
            "level_tag": _named(q, "r.lv", rules.levels, "tag"),
            "stage": _named(q, "r.st", rules.stages, "name"),
            "stage_tag": _named(q, "r.st", rules.stages, "tag")}


def _insert_missing(conn: Connection, rules: MemberRules, now: float) -> None:
    """The members a bulk import left to be made (bot.members.importer), made whole in
    one insert: rolled up, with their growth, level and stage, so the statements after
    leave them alone (each row written once, not three times: rewriting 1,000,000 rows
    costs PostgreSQL 16 s, measured). Not a move: a first level is no event."""
    q = _Sql()
    numbers, new = _numbers(rules, q, now, _MISSING), _new(rules, q)
    _run(conn, f"""WITH r AS MATERIALIZED ({numbers}) INSERT INTO loyalty_member
        (member_code, total_fen, purchases, first_at, last_at, {", ".join(new)},
         level_tag_synced, stage_tag_synced, tag_dirty, sync_attempts)
        SELECT r.member_code, r.total_fen, r.purchases, r.first_at, r.last_at,
            {", ".join(new.values())}, '', '', 0, 0 FROM r""", q.params, None)


def _set_levels(conn: Connection, rules: MemberRules, now: float,
                codes: Sequence[str] | None) -> None:
    """Growth, level, stage and their tags, written only where one of them changes (an
    unchanged row rewritten costs PostgreSQL a row version and its index entries). Each
    member's level and stage number is worked out once, in the materialized CTE `r` (the
    names and tags are looked up from those numbers); left to the planner, a subquery's
    expression is copied into each place it is used, the window counts with it."""
    q = _Sql()
    numbers = _numbers(rules, q, now, "loyalty_member", _where(codes))
    new = _new(rules, q)
    _run(conn, f"""WITH r AS MATERIALIZED ({numbers}) UPDATE loyalty_member
        SET {", ".join(f"{column} = {value}" for column, value in new.items())} FROM r
        WHERE r.member_code = loyalty_member.member_code
        AND ({" OR ".join(f"loyalty_member.{c} <> {v}" for c, v in new.items())})""",
         q.params, codes)


def _rank_case(rules: MemberRules, q: _Sql, growth: str) -> str:
    whens = " ".join(f"WHEN {growth} >= {q.bind(level.threshold)} THEN {rank}"
                     for rank, level in reversed(list(enumerate(rules.levels))[1:]))
    return f"CASE {whens} ELSE 0 END" if whens else "0"


def _record_moves(conn: Connection, rules: MemberRules, now: float,
                  codes: Sequence[str] | None) -> None:
    """The journeys' ``level_reached`` (a member moved up a level) and ``stage_changed``
    events, in the same statement run as the move itself, before levels and stages are
    written. A member's first level and stage are not events (an import of years of
    history would congratulate every gold member at once); a level is reached once per
    member, a stage change once per member, stage and day."""
    q = _Sql()
    growth = _growth(rules, q)
    old_rank = "CASE level " + " ".join(
        f"WHEN {q.bind_text(level.name)} THEN {rank}"
        for rank, level in enumerate(rules.levels)) + " ELSE 0 END"
    attrs = "CASE " + " ".join(
        f"WHEN {growth} >= {q.bind(level.threshold)} THEN "
        f"{q.bind_text(json.dumps({'level': level.name}, ensure_ascii=False))}"
        for level in reversed(rules.levels[1:])) + " ELSE '' END"
    attrs = attrs if len(rules.levels) > 1 else "''"  # one level: never reached
    _run(conn, f"""INSERT INTO member_event (dedupe_key, external_userid, event, at, attrs)
        SELECT 'level_reached|' || external_userid || '|' || {_level_case(rules, q, growth,
                                                                         "name")},
            external_userid, 'level_reached', {q.bind(now)}, {attrs}
        FROM loyalty_member WHERE external_userid IS NOT NULL AND level <> ''
            AND {_rank_case(rules, q, growth)} > {old_rank}{_where(codes, "AND")}
        ON CONFLICT (dedupe_key) DO NOTHING""", q.params, codes)
    q = _Sql()
    growth = _growth(rules, q)
    stage = _stage_case(rules, q, now, growth, "name")
    _run(conn, f"""WITH s AS MATERIALIZED (SELECT external_userid, stage, {stage} AS new_stage
            FROM loyalty_member WHERE external_userid IS NOT NULL
            AND stage <> ''{_where(codes, "AND")})
        INSERT INTO member_event (dedupe_key, external_userid, event, at, attrs)
        SELECT 'stage_changed|' || external_userid || '|' || s.new_stage || '|'
                || {q.bind_text(str(int(now // DAY_S)))},
            external_userid, 'stage_changed', {q.bind(now)},
            '{{"stage": "' || s.new_stage || '"}}'
        FROM s WHERE s.new_stage <> s.stage
        ON CONFLICT (dedupe_key) DO NOTHING""", q.params, codes)


@dataclass(frozen=True)
class Moves:
    """How many members would move from one level (stage) to another under new rules."""

    levels: list[tuple[str, str, int]]  # (now, then, members)
    stages: list[tuple[str, str, int]]


def preview(conn: Connection, rules: MemberRules, now: float) -> Moves:
    """What `recompute` would do with `rules`, counted, written nowhere."""
    q = _Sql()
    growth = _growth(rules, q)
    found: list[list[tuple[str, str, int]]] = []
    for column, case in (("level", _level_case(rules, q, growth, "name")),
                         ("stage", _stage_case(rules, q, now, growth, "name"))):
        rows = conn.execute(text(f"SELECT {column}, {case} AS then_, count(*) "
                                 f"FROM loyalty_member GROUP BY {column}, then_"), q.params)
        found.append(sorted((str(a), str(b), int(n)) for a, b, n in rows))
    return Moves(found[0], found[1])
