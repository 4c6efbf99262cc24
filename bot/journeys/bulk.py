"""Bulk SQL for a day's plan: a million members means statements with hundreds of values.

SQLAlchemy's per-execution work (compiling an expanding ``IN``, building each row's
parameters for ``executemany``) was most of a day's plan, measured by
scripts/bench_journeys.py; these go to the driver (`bot.db.engine.driver_execute`) with
plain ``:name`` parameters, portable between SQLite and PostgreSQL.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from typing import Any

from sqlalchemy.engine import Connection

from bot.db import pace
from bot.db.engine import driver_execute

CHUNK = 2000  # values in one IN (...): far below SQLite's 32,766 variables
_SIZES = (1, 4, 16, 64, 256, 1000, CHUNK)  # IN lists are padded (repeating the last value)
VALUE_PARAMS = 6000  # parameters in one multi-row VALUES (SQLite allows 32,766)
_NAMED = re.compile(r"(?<!:):([a-z_][a-z0-9_]*)")


def select_in(conn: Connection, template: str, values: Sequence[Any],
              params: dict[str, Any] | None = None) -> Iterator[tuple[Any, ...]]:
    """Rows of `template` (``... IN {in} ...``) for `values`, CHUNK at a time (on a
    reader, the event loop gets the GIL between rows: bot.db.pace)."""
    for start in range(0, len(values), CHUNK):
        yield from pace.rows(_run_in(conn, template, values[start:start + CHUNK], params))


def update_in(conn: Connection, template: str, values: Sequence[Any],
              params: dict[str, Any]) -> int:
    """`template` (``UPDATE ... IN {in}``) for `values`; the rows it changed."""
    return sum(int(_run_in(conn, template, values[start:start + CHUNK], params).rowcount)
               for start in range(0, len(values), CHUNK))


def run_values(conn: Connection, template: str, shape: str,
               values: Sequence[Sequence[Any]], params: dict[str, Any] | None = None) -> int:
    """`template` with ``{values}`` replaced by `shape` (one row's ``(?, ?, ...)``) once
    per row: a multi-row INSERT or an ``UPDATE ... FROM (VALUES {values}) AS v``, rows
    VALUE_PARAMS parameters at a time instead of a round trip per row. The last part is
    padded by repeating its last row, so the statement must be one a repeated row does not
    change (ON CONFLICT DO NOTHING, an UPDATE to the same value). The rows changed."""
    per = max(1, VALUE_PARAMS // max(1, shape.count("?")))
    sizes = [*(b for b in _SIZES if b < per), per]
    total = 0
    for start in range(0, len(values), per):
        part = list(values[start:start + per])
        size = next(b for b in sizes if b >= len(part))
        part += [part[-1]] * (size - len(part))
        total += int(_run(conn, template, "{values}", ", ".join([shape] * size),
                          [v for row in part for v in row], params).rowcount)
    return total


def _run_in(conn: Connection, template: str, part: Sequence[Any],
            params: dict[str, Any] | None) -> Any:
    """Positional parameters: binding 2,000 named ones cost sqlite3 three times as much."""
    # a few statement shapes, not one per list length: the driver caches each prepared
    # statement, and thousands of 2,000-value shapes cost tens of MB (measured)
    size = next(b for b in _SIZES if b >= len(part))
    part = [*part, *[part[-1]] * (size - len(part))]
    return _run(conn, template, "{in}", "(" + ", ".join(["?"] * len(part)) + ")", part,
                params)


def _run(conn: Connection, template: str, hole: str, filling: str, values: Sequence[Any],
         params: dict[str, Any] | None) -> Any:
    """`template` with `hole` replaced by `filling` (``?`` marks for `values`), its
    ``:name`` parameters from `params`, on the driver's cursor."""
    raw = conn.connection.driver_connection
    assert raw is not None
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    head, _, tail = template.partition(hole)
    statement = (_NAMED.sub(mark, head) + filling.replace("?", mark) + _NAMED.sub(mark, tail))
    before = [(params or {})[n] for n in _NAMED.findall(head)]
    after = [(params or {})[n] for n in _NAMED.findall(tail)]
    cursor = raw.cursor()
    cursor.execute(statement, (*before, *values, *after))
    return cursor


def many(conn: Connection, statement: str, rows: list[dict[str, Any]]) -> None:
    """One executemany of `rows` (nothing when empty)."""
    if rows:
        driver_execute(conn, " ".join(statement.split()), rows)
