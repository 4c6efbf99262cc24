"""Engine, migrations, and the two ways the async code touches the database.

`read(fn)` runs `fn(session)` on a reader thread. `write(fn)` queues `fn` for the single
writer thread, which runs everything queued in one transaction (each `fn` in its own
savepoint, so one failure does not undo the others) and commits once: group commit. Under a
burst of callbacks this turns a hundred fsyncs into one, which is what lets the bot record
every event before acknowledging it and still keep up with a bare "decrypt and answer".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlmodel import Session, create_engine

log = logging.getLogger("bot.store")
T = TypeVar("T")
MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _sqlite_tuning(engine)
        return engine
    return create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True)


def _sqlite_tuning(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin: pysqlite's own
        # handling breaks SAVEPOINT, which the group-commit writer relies on.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
        cur.execute("PRAGMA synchronous=NORMAL")  # durable at each WAL checkpoint, fast commits
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Take the write lock up front: no lock-upgrade deadlocks between processes.
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (Alembic), creating it on a new database."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


class Database:
    def __init__(self, url: str, *, readers: int = 4) -> None:
        self.url = url
        self.engine = make_engine(url)
        self.is_sqlite = url.startswith("sqlite")
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="db-writer")
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="db-reader")
        self._queue: list[tuple[Callable[[Session], Any], asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.commits = 0  # group commits done, for the benchmark's report

    def migrate(self) -> None:
        migrate(self.engine)

    def session(self) -> Session:
        return Session(self.engine, expire_on_commit=False)

    async def read(self, fn: Callable[[Session], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._run_read, fn)

    def _run_read(self, fn: Callable[[Session], T]) -> T:
        with self.session() as session:
            return fn(session)

    async def write(self, fn: Callable[[Session], T]) -> T:
        """Run `fn(session)` in the next group commit; returns once it is durable."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.append((fn, future))
        if self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                try:
                    results = await loop.run_in_executor(
                        self._writer, self._run_batch, [fn for fn, _ in batch]
                    )
                except Exception as exc:  # the commit itself failed: nothing in the batch holds
                    log.exception("group commit of %d writes failed", len(batch))
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), (ok, value) in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if ok:
                        future.set_result(value)
                    else:
                        future.set_exception(value)
        finally:
            self._flusher = None

    def _run_batch(self, fns: list[Callable[[Session], Any]]) -> list[tuple[bool, Any]]:
        results: list[tuple[bool, Any]] = []
        with self.session() as session:
            for fn in fns:
                try:
                    with session.begin_nested():
                        results.append((True, fn(session)))
                except Exception as exc:
                    results.append((False, exc))
            session.commit()
        self.commits += 1
        return results

    async def close(self) -> None:
        while self._flusher is not None:
            await asyncio.shield(self._flusher)
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        self.engine.dispose()
