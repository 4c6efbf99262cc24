"""SQLite's group commit in a child process (bot/db/writer_process.py): the callbacks'
plain-SQL writes commit there, Python writes on the loop, never both at once; a child that
dies fails only what it held and is replaced; it ends with its parent."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from bot.db import engine as engine_module
from bot.db.engine import Database
from bot.db.statements import Statements
from bot.db.writer_process import WriterGone

INSERT = ("INSERT INTO t (k, v) VALUES (:k, :v) ON CONFLICT (k) DO NOTHING RETURNING id")


def insert(k: str, v: int = 0) -> Statements:
    return Statements(((INSERT, {"k": k, "v": v}),), returns=0)


async def started(path: Path) -> Database:
    db = Database(f"sqlite:///{path}", writer_process=True)
    await db.write(lambda c: c.exec_driver_sql(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT UNIQUE, v INTEGER CHECK (v >= 0))"))
    for _ in range(200):  # the child says it is ready within tens of milliseconds
        if db._process is not None and db._process.ready:
            return db
        await asyncio.sleep(0.01)
    raise AssertionError("the writer process never became ready")


async def test_plain_sql_writes_commit_in_the_child_with_their_results(tmp_path: Path) -> None:
    db = await started(tmp_path / "bot.db")
    try:
        first = await asyncio.gather(*(db.write(insert(f"k{i}")) for i in range(300)))
        again = await db.write(insert("k7"))  # a redelivery: nothing inserted, no row
        assert sorted(row[0] for row in first) == list(range(1, 301))
        assert again is None
        assert db.process_commits >= 1
        assert await db.lookup("SELECT count(*) FROM t", {}) == 300
        assert db._process is not None
        assert db._process.process.pid != os.getpid()
    finally:
        await db.close()


async def test_a_failing_write_fails_alone_and_the_batch_commits(tmp_path: Path) -> None:
    db = await started(tmp_path / "bot.db")
    try:
        writes = [db.write(insert("a", 1)), db.write(insert("bad", -1)), db.write(insert("b", 2))]
        results = await asyncio.gather(*writes, return_exceptions=True)
        assert isinstance(results[1], Exception)
        assert "CHECK" in str(results[1])
        assert results[0] is not None and results[2] is not None
        assert await db.lookup("SELECT group_concat(k) FROM (SELECT k FROM t ORDER BY k)",
                               {}) == "a,b"
        assert db.process_commits >= 1
    finally:
        await db.close()


async def test_python_writes_run_on_the_loop_between_the_childs_batches(tmp_path: Path) -> None:
    db = await started(tmp_path / "bot.db")
    try:
        def bump(conn: object) -> int:
            cur = conn.exec_driver_sql("UPDATE t SET v = v + 1 WHERE k = 'counter'")  # type: ignore[attr-defined]
            return int(cur.rowcount)

        await db.write(insert("counter"))
        mixed = []
        for i in range(50):
            mixed.append(db.write(insert(f"m{i}")))
            mixed.append(db.write(bump))
        results = await asyncio.gather(*mixed)
        assert all(r is not None for r in results)  # no "database is locked" anywhere
        assert await db.lookup("SELECT v FROM t WHERE k = 'counter'", {}) == 50
        assert await db.lookup("SELECT count(*) FROM t WHERE k LIKE 'm%'", {}) == 50
    finally:
        await db.close()


async def test_a_killed_child_fails_what_it_held_and_is_replaced(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(engine_module, "PROCESS_RESTART_S", 0.0)
    db = await started(tmp_path / "bot.db")
    try:
        assert db._process is not None
        first = db._process.process
        first.send_signal(signal.SIGSTOP)  # holds the batch that comes next
        held = asyncio.gather(*(db.write(insert(f"h{i}")) for i in range(5)),
                              return_exceptions=True)
        await asyncio.sleep(0.2)
        assert db._in_flight  # the batch is with the stopped child
        first.kill()
        results = await asyncio.wait_for(held, 5)
        assert all(isinstance(r, WriterGone) for r in results)
        assert first.wait(5) is not None

        after = await db.write(insert("after"))  # written on the loop meanwhile
        assert after is not None
        for _ in range(300):
            await db.write(insert(f"n{time.monotonic()}"))
            if db._process is not None and db._process.ready:
                break
            await asyncio.sleep(0.01)
        assert db._process is not None and db._process.process.pid != first.pid
        before = db.process_commits
        assert await db.write(insert("on the new child")) is not None
        assert db.process_commits == before + 1
    finally:
        await db.close()


async def test_close_ends_the_child(tmp_path: Path) -> None:
    db = await started(tmp_path / "bot.db")
    assert db._process is not None
    child = db._process.process
    await db.write(insert("x"))
    await db.close()
    assert child.poll() == 0


def test_the_child_ends_when_its_parent_is_killed(tmp_path: Path) -> None:
    script = textwrap.dedent(f"""
        import asyncio, sys
        from bot.db.engine import Database
        from bot.db.statements import Statements

        async def main():
            db = Database("sqlite:///{tmp_path / 'bot.db'}", writer_process=True)
            await db.write(lambda c: c.exec_driver_sql("CREATE TABLE t (k TEXT)"))
            while db._process is None or not db._process.ready:
                await asyncio.sleep(0.01)
            await db.write(Statements((("INSERT INTO t VALUES (:k)", {{"k": "x"}}),)))
            print(db._process.process.pid, flush=True)
            await asyncio.sleep(60)

        asyncio.run(main())
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert parent.stdout is not None
        child_pid = int(parent.stdout.readline())
        parent.send_signal(signal.SIGKILL)
        parent.wait(5)
        for _ in range(500):  # the pipe closes with the parent; the child reads EOF, ends
            if not _running(child_pid):
                return
            time.sleep(0.01)
        raise AssertionError("the writer process outlived its parent")
    finally:
        if parent.poll() is None:
            parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()


def _running(pid: int) -> bool:
    """Alive and not a zombie (an orphan waits for whoever adopts it to reap it)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


async def test_without_a_child_the_loop_writes(tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """No process to be had (out of file descriptors, say): every write still commits."""
    def refuse(path: str) -> None:
        raise OSError(24, "Too many open files")

    monkeypatch.setattr(engine_module, "WriterProcess", refuse)
    db = Database(f"sqlite:///{tmp_path / 'bot.db'}", writer_process=True)
    try:
        await asyncio.wait_for(db.write(lambda c: c.exec_driver_sql(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT UNIQUE, v INTEGER)")), 10)
        rows = await asyncio.wait_for(
            asyncio.gather(*(db.write(insert(f"k{i}")) for i in range(20))), 10)
        assert sorted(row[0] for row in rows) == list(range(1, 21))
        assert db.process_commits == 0 and db._process is None
    finally:
        await db.close()


async def test_lingering_writes_wait_for_company_and_commit_together(tmp_path: Path) -> None:
    db = await started(tmp_path / "bot.db")
    try:
        before = db.process_commits
        rows = await asyncio.gather(*(db.write(insert(f"l{i}"), linger=True)
                                      for i in range(engine_module.LINGER_WRITES)))
        assert all(row is not None for row in rows)
        assert db.process_commits == before + 1  # eight welcomes' rows, one commit
    finally:
        await db.close()


async def test_a_plain_write_does_not_wait_for_a_lingering_one(tmp_path: Path) -> None:
    db = await started(tmp_path / "bot.db")
    try:
        lingering = asyncio.ensure_future(db.write(insert("later"), linger=True))
        await asyncio.sleep(0)
        assert await db.write(insert("now")) is not None  # a record: committed at once
        assert not lingering.done()  # still waiting for company, not taken along
        assert await db.lookup("SELECT count(*) FROM t WHERE k = 'later'", {}) == 0
        assert await asyncio.wait_for(lingering, 5) is not None  # alone, after LINGER_S
        assert await db.lookup("SELECT count(*) FROM t WHERE k = 'later'", {}) == 1
    finally:
        await db.close()


async def test_close_commits_what_lingers(tmp_path: Path) -> None:
    path = tmp_path / "bot.db"
    db = await started(path)
    lingering = asyncio.ensure_future(db.write(insert("last"), linger=True))
    await asyncio.sleep(0)
    await db.close()
    assert lingering.done() and lingering.result() is not None
    again = Database(f"sqlite:///{path}")
    try:
        assert await again.lookup("SELECT count(*) FROM t WHERE k = 'last'", {}) == 1
    finally:
        await again.close()
