"""Long reads on a reader thread rest now and then while callbacks come in, so the event loop
gets the GIL back (bot/db/pace.py); with none coming in they never rest, and the same code
on the event loop itself never sleeps."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.engine import Connection

from bot.db import pace
from bot.db.engine import Database
from bot.journeys.bulk import select_in

CUSTOMERS = [f"wm{i:06d}" for i in range(6000)]


def all_rows(conn: Connection) -> list[tuple[str, int]]:
    """What a sweep does: thousands of rows turned into Python objects."""
    rows = list(select_in(conn, "SELECT ext, n FROM t WHERE ext IN {in}", CUSTOMERS))
    for n, _ in enumerate(pace.rows(conn.exec_driver_sql("SELECT ext, n FROM t"))):
        if n % 64 == 0:
            sum(i * i for i in range(2000))  # some work per row, as entries_for does
    return rows


async def test_a_long_read_rests_on_its_reader_and_never_on_the_loop(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pace, "_serving_until", 0.0)  # no callback (an earlier test's) lately
    db = Database(f"sqlite:///{tmp_path / 'bot.db'}")
    try:
        def fill(conn: Connection) -> None:
            conn.exec_driver_sql("CREATE TABLE t (ext TEXT PRIMARY KEY, n INTEGER)")
            conn.exec_driver_sql("INSERT INTO t VALUES (?, ?)",
                                 [(ext, i) for i, ext in enumerate(CUSTOMERS)])
        await db.write(fill)

        before = pace.rests
        rows = await db.read(all_rows)  # no callback: a night's plan runs at full speed
        assert sorted(rows) == [(ext, i) for i, ext in enumerate(CUSTOMERS)]  # all, once
        assert pace.rests == before

        pace.serving()  # a callback came in
        rows = await db.read(all_rows)
        assert sorted(rows) == [(ext, i) for i, ext in enumerate(CUSTOMERS)]
        assert pace.rests > before

        before = pace.rests
        pace.serving()
        rows = await db.write(all_rows)  # SQLite's Python writes run on the event loop
        assert len(rows) == len(CUSTOMERS)
        assert pace.rests == before
    finally:
        await db.close()
