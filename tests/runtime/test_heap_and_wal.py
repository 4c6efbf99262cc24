"""The two things that kept the event loop from answering: full garbage collections of the
long-lived books, and SQLite's WAL checkpoints inside a commit (bot/heap.py,
bot/db/checkpoint.py)."""

from __future__ import annotations

import asyncio
import gc
import weakref
from pathlib import Path

import pytest

from bot import heap
from bot.db import checkpoint, pace
from bot.db.engine import Database


class Book:
    """Stands for an operator book: objects that point at each other (a cycle)."""

    def __init__(self) -> None:
        self.me = self


def test_settle_freezes_the_books_and_collects_a_swapped_out_one(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(heap, "_enabled", True)
    try:
        book = Book()
        old = weakref.ref(book)
        heap.settle()
        assert gc.get_freeze_count() > 0
        del book  # swapped out: garbage now, but frozen with the rest
        gc.collect()
        assert old() is not None  # a frozen cycle is not walked by ordinary collections
        heap.settle()  # the next settle (after a swap) unfreezes first, so it goes
        assert old() is None
    finally:
        gc.unfreeze()


def test_settle_does_nothing_outside_a_serving_process() -> None:
    gc.unfreeze()
    heap.settle()
    assert gc.get_freeze_count() == 0


async def test_sqlite_commits_leave_the_wal_checkpoints_to_their_own_thread(
        tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    db = Database(f"sqlite:///{path}")
    try:
        await db.write(lambda c: c.exec_driver_sql("CREATE TABLE t (x TEXT)"))
        assert await db.lookup("PRAGMA wal_autocheckpoint", {}) == 0
        row = "果" * 2000  # 6 KB: 1,500 rows are well past the 1,000 pages of a checkpoint
        for _ in range(30):
            await asyncio.gather(*(db.write(lambda c: c.exec_driver_sql(
                "INSERT INTO t VALUES (?)", (row,))) for _ in range(50)))
        for _ in range(100):  # the thread copies the log into the file, a round at a time
            if path.stat().st_size > 8_000_000:
                break
            await asyncio.sleep(0.05)
        assert path.stat().st_size > 8_000_000  # the rows are in the database file itself
        assert await db.lookup("SELECT count(*) FROM t", {}) == 1500
    finally:
        await db.close()


async def after_a_burst(tmp_path: Path) -> tuple[Database, Path]:
    """A database just after 1,500 rows of 6 KB in group commits, and its log (9 MB)."""
    db = Database(f"sqlite:///{tmp_path / 'bot.db'}")
    await db.write(lambda c: c.exec_driver_sql("CREATE TABLE t (x TEXT)"))
    row = "果" * 2000
    await asyncio.gather(*(db.write(lambda c: c.exec_driver_sql(
        "INSERT INTO t VALUES (?)", (row,))) for _ in range(1500)))
    wal = tmp_path / "bot.db-wal"
    assert wal.stat().st_size > 8_000_000
    return db, wal


async def test_once_checkpointed_the_log_starts_over_cut_back_to_what_was_appended(
        tmp_path: Path) -> None:
    """A burst leaves a long log; the first commit after it starts over cuts the file back
    (bot/db/pragmas.WAL_SIZE_LIMIT), so later commits append instead of writing into old
    pages of the file that may have to be read back from the disk first."""
    db, wal = await after_a_burst(tmp_path)
    try:
        for _ in range(100):  # the checkpointer copies it all back; nobody reads meanwhile
            await asyncio.sleep(0.05)
            await db.write(lambda c: c.exec_driver_sql("INSERT INTO t VALUES ('小')"))
            if wal.stat().st_size < 100_000:
                break
        assert wal.stat().st_size < 100_000  # a few frames, not the burst's 8 MB
        assert await db.lookup("SELECT count(*) FROM t", {}) >= 1501
    finally:
        await db.close()


async def test_a_long_log_is_cut_to_nothing_in_the_first_lull_not_while_serving(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Cutting a log of gigabytes took a commit 620 ms: the checkpointer does it, once no
    callback has come in for a moment (bot/db/checkpoint.TRUNCATE_FRAMES)."""
    monkeypatch.setattr(checkpoint, "TRUNCATE_FRAMES", 1000)
    monkeypatch.setattr(pace, "_serving_until", 0.0)  # no callback (an earlier test's) lately
    db, wal = await after_a_burst(tmp_path)
    try:
        for _ in range(20):  # a second of callbacks still coming in: checkpoints, no cut
            pace.serving()
            await asyncio.sleep(0.05)
        assert wal.stat().st_size > 8_000_000
        checkpointer = db._checkpointer
        assert checkpointer is not None and checkpointer.truncations == 0
        for _ in range(100):  # the lull: no write at all, and yet the file is cut
            await asyncio.sleep(0.05)
            if checkpointer.truncations:
                break
        assert checkpointer.truncations >= 1
        assert wal.stat().st_size == 0
        assert await db.lookup("SELECT count(*) FROM t", {}) == 1500
    finally:
        await db.close()
