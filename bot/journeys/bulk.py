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

from bot.db.engine import driver_execute

CHUNK = 2000  # values in one IN (...): far below SQLite's 32,766 variables
_SIZES = (1, 4, 16, 64, 256, 1000, CHUNK)  # IN lists are padded (repeating the last value)
_NAMED = re.compile(r"(?<!:):([a-z_][a-z0-9_]*)")


def select_in(conn: Connection, template: str, values: Sequence[Any],
              params: dict[str, Any] | None = None) -> Iterator[tuple[Any, ...]]:
    """Rows of `template` (``... IN {in} ...``) for `values`, CHUNK at a time."""
    for start in range(0, len(values), CHUNK):
        yield from _run_in(conn, template, values[start:start + CHUNK], params).fetchall()


def update_in(conn: Connection, template: str, values: Sequence[Any],
              params: dict[str, Any]) -> int:
    """`template` (``UPDATE ... IN {in}``) for `values`; the rows it changed."""
    return sum(int(_run_in(conn, template, values[start:start + CHUNK], params).rowcount)
               for start in range(0, len(values), CHUNK))


def _run_in(conn: Connection, template: str, part: Sequence[Any],
            params: dict[str, Any] | None) -> Any:
    """Positional parameters: binding 2,000 named ones cost sqlite3 three times as much."""
    raw = conn.connection.driver_connection
    assert raw is not None
    # a few statement shapes, not one per list length: the driver caches each prepared
    # statement, and thousands of 2,000-value shapes cost tens of MB (measured)
    size = next(b for b in _SIZES if b >= len(part))
    part = [*part, *[part[-1]] * (size - len(part))]
    mark = "?" if conn.dialect.name == "sqlite" else "%s"
    head, _, tail = template.partition("{in}")
    names = _NAMED.findall(head) + _NAMED.findall(tail)
    statement = (_NAMED.sub(mark, head) + "(" + ", ".join([mark] * len(part)) + ")"
                 + _NAMED.sub(mark, tail))
    before = [(params or {})[n] for n in _NAMED.findall(head)]
    after = [(params or {})[n] for n in _NAMED.findall(tail)]
    assert len(before) + len(after) == len(names)
    cursor = raw.cursor()
    cursor.execute(statement, (*before, *part, *after))
    return cursor


def many(conn: Connection, statement: str, rows: list[dict[str, Any]]) -> None:
    """One executemany of `rows` (nothing when empty)."""
    if rows:
        driver_execute(conn, " ".join(statement.split()), rows)
