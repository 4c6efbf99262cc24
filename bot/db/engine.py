"""Engine, migrations, and the two ways the async code touches the database.

`read(fn)` runs `fn(connection)` on a reader thread. `write(fn)` queues `fn`; everything queued
runs in one transaction (each `fn` in its own savepoint, so one failure does not undo the
others) with one commit: group commit. Under a burst of callbacks this turns a hundred
commits into one, which is what lets the bot record every event before acknowledging it and
still keep up with a bare "decrypt and answer".

Where the batch runs depends on the database. SQLite in WAL mode commits in tens of
microseconds without an fsync, so the batch runs right on the event loop, at the end of the
current loop iteration: handing it to a thread costs more (measured: a third of the
throughput, lost to GIL hand-offs) than the work itself. A batch made only of plain-SQL
writes (`Statements`: every callback's record, a welcome's rows, journey entries) goes to
the writer process instead when it is on (bot/db/writer_process.py): another GIL, the other
core. A server database answers over the network, so there the batch runs on a writer
thread and the loop stays free. (SQLite's WAL checkpoints, which do fsync, run on a thread
of their own: bot/db/checkpoint.py.)

The same code serves SQLite (embedded, one process) and PostgreSQL (production, several
replicas): the SQL is written in the dialect both understand (`ON CONFLICT`, no date
functions: times are epoch floats), `driver_execute` turns `:name` into psycopg's
`%(name)s`, and `Database.is_postgres` gates the few things only a server does
(`FOR UPDATE SKIP LOCKED`, advisory locks).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import create_engine, event, text
from sqlalchemy.engine import Connection, Engine

from bot.db import pace, pragmas
from bot.db.checkpoint import Checkpointer, stop_checkpointing_on_commit
from bot.db.revisions import MIGRATIONS_DIR, known_head
from bot.db.statements import Statements
from bot.db.writer_process import WriterGone, WriterProcess

log = logging.getLogger(__name__)
T = TypeVar("T")


def make_engine(url: str, *, reads_only: bool = False) -> Engine:
    """`reads_only` (SQLite): transactions begin deferred, taking no write lock (below)."""
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        _sqlite_tuning(engine, "BEGIN" if reads_only else "BEGIN IMMEDIATE")
        return engine
    # pre-ping: a replica outlives database restarts and failovers without stale sockets
    return create_engine(url, pool_size=10, max_overflow=10, pool_pre_ping=True,
                         connect_args=_pg_connect_args(url))


def _pg_connect_args(url: str) -> dict[str, Any]:
    if not url.startswith("postgresql"):
        return {}
    # TCP keepalives so a dead server (or a cut network) is noticed in seconds, not hours:
    # the leader lock lives on one of these connections. application_name shows up in
    # pg_stat_activity, which is how an operator sees which replica holds what.
    return {"connect_timeout": 5, "keepalives": 1, "keepalives_idle": 5,
            "keepalives_interval": 2, "keepalives_count": 3,
            "application_name": "wecom-bot"}


def is_postgres_url(url: str) -> bool:
    return url.startswith("postgresql")


def sql(statement: str) -> Any:
    """A text statement with its whitespace folded: SQL written readably in the source, one
    line in logs and in the database's statement cache."""
    return text(" ".join(statement.split()))


def _sqlite_tuning(engine: Engine, begin: str) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin: pysqlite's own
        # handling breaks SAVEPOINT, which the group-commit writer relies on.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        for pragma in pragmas.CONNECTION:
            cur.execute(f"PRAGMA {pragma}")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # Writers take the write lock up front: no lock-upgrade deadlocks between processes.
        # Readers (`Database.read`) must not: in WAL mode a read needs no lock, and a reader
        # thread holding the write lock while it waits for the GIL stalled the event loop's
        # group commit in SQLite's busy handler (milliseconds, on every welcome's read).
        conn.exec_driver_sql(begin)


PROCESS_RESTART_S = 5.0  # a writer process that died is replaced at most this often
# A write that may wait for company (`write(fn, linger=True)`: a handler's bookkeeping, off
# every acknowledgement's and welcome's path) joins a group commit once this many wait or
# the first has waited this long. At 600 callbacks a second a commit held about one write:
# each commit wrote every page it touched, hot or not, and crossed the pipe twice. Eight
# welcomes' rows in one commit cost the writer 0.12 ms a callback instead of 0.16 to 0.19
# (docs/capacity.md, eleventh round).
LINGER_WRITES = 8
LINGER_S = 0.02
_SMALL_BATCH = 64  # writes; below this a group commit waits one more loop iteration (once)
_NAMED_PARAM = re.compile(r"(?<!:):([a-z_][a-z0-9_]*)")


def driver_execute(conn: Connection, sql: str,
                   params: dict[str, Any] | list[dict[str, Any]], *,
                   client_side: bool = False) -> Any:
    """Run `sql` (with `:name` parameters) on the DBAPI cursor itself, skipping SQLAlchemy.

    For the statements run for every callback (recording it, a welcome's upserts, marking
    it done), SQLAlchemy's per-execution bookkeeping is the largest cost left; the driver
    call is a fraction of it. A list of parameter dicts runs as one `executemany`. Returns
    the driver's cursor. `client_side`: PostgreSQL gets the values in the statement's text
    (psycopg's ClientCursor), for statements that use one parameter where the server would
    deduce two types for it (a text compared with a varchar column and concatenated).
    """
    raw = conn.connection.driver_connection
    assert raw is not None
    if conn.dialect.name == "sqlite":  # sqlite3 takes :name as is
        if isinstance(params, list):
            return raw.executemany(sql, params)
        return raw.execute(sql, params)
    if client_side:
        import psycopg

        cursor = psycopg.ClientCursor(raw)
    else:
        cursor = raw.cursor()
    if isinstance(params, list):
        cursor.executemany(_pyformat(sql), params)
    else:
        cursor.execute(_pyformat(sql), params)
    return cursor


@functools.lru_cache(maxsize=256)
def _pyformat(sql: str) -> str:
    """`:name` -> `%(name)s` for psycopg, once per statement text."""
    return _NAMED_PARAM.sub(r"%(\1)s", sql)


def _first_row(cursor: Any) -> Any:
    row = cursor.fetchone()
    cursor.close()
    return row


def _alembic_config() -> Any:
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


# Several replicas may start at once: on PostgreSQL the upgrade runs under this advisory
# lock (transaction-scoped, so a replica that dies mid-upgrade releases it), the others wait
# and then find nothing left to do.
_MIGRATION_LOCK = ("SELECT pg_advisory_xact_lock("
                   "hashtextextended('wecom-bot:migrate:' || current_schema(), 0))")


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest migration (Alembic), creating it on a new database.

    A database already at the newest migration (every restart but the first after a
    deploy) is recognised without Alembic: importing it and reading its scripts was a
    quarter of a restart's time to the first callback (docs/capacity.md).
    """
    head = known_head()
    if head is not None:
        with engine.connect() as conn:
            if current_revision(conn) == head:
                return
    from alembic import command

    cfg = _alembic_config()
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(_MIGRATION_LOCK)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@functools.lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest migration this code knows (read once: every readiness probe asked
    Alembic to parse all the scripts again, on the event loop)."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(conn: Connection) -> str | None:
    """The migration the database is at (None: never migrated). Read from Alembic's own
    table directly: cheap enough for every readiness probe, and it logs nothing."""
    from sqlalchemy import inspect, text

    if not inspect(conn).has_table("alembic_version"):
        return None
    value = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return None if value is None else str(value)


class Database:
    def __init__(self, url: str, *, readers: int = 4, writer_process: bool = False) -> None:
        """`writer_process` (SQLite file): batches of `Statements` commit in a child
        process (bot.db.writer_process), the rest as before."""
        self.url = url
        self.engine = make_engine(url)
        self.is_sqlite = url.startswith("sqlite")
        # SQLite: reads on connections of their own that never take the write lock.
        self._read_engine = make_engine(url, reads_only=True) \
            if self.is_sqlite and ":memory:" not in url else self.engine
        self.is_postgres = is_postgres_url(url)
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="db-writer")
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="db-reader")
        self._queue: list[tuple[Callable[[Connection], Any], asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._inline = self.is_sqlite
        self._inline_scheduled = False
        self._inline_deferred = False
        # The inline writer's own connection, kept open: checking one out of the pool and
        # back in for every group commit cost as much as the commit (measured).
        self._inline_conn: Connection | None = None
        self._checkpointer: Checkpointer | None = None  # SQLite: see `_writer_conn`
        self.commits = 0  # group commits done, for the benchmark's report
        self.writes = 0  # writes committed (or failed) in them
        self._use_process = writer_process and self._inline and ":memory:" not in url
        self._process: WriterProcess | None = None
        self._process_started = 0.0  # monotonic; a dead one is replaced at most every 5 s
        self._in_flight: list[tuple[Callable[[Connection], Any], asyncio.Future[Any]]] = []
        self.process_commits = 0  # of `commits`, those the writer process ran
        self._lingering: list[tuple[Callable[[Connection], Any], asyncio.Future[Any]]] = []
        self._linger_timer: asyncio.TimerHandle | None = None

    def migrate(self) -> None:
        migrate(self.engine)

    async def read(self, fn: Callable[[Connection], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._run_read, fn)

    def _run_read(self, fn: Callable[[Connection], T]) -> T:
        pace.reading()
        with self._read_engine.connect() as conn:
            return fn(conn)

    async def lookup(self, statement: str, params: dict[str, Any]) -> Any:
        """The first column of the first row of a read by key (`:name` parameters), or None.

        For the reads on a welcome's path (one indexed row). On SQLite it runs right here on
        the event loop, on the group-commit writer's idle connection outside any transaction
        (WAL: it sees what is committed and takes no lock): tens of microseconds, where a
        reader thread cost a thread hop, a pool check-out and a BEGIN, several times that
        in CPU and more in latency under load. Elsewhere it is an ordinary `read`.
        """
        row = await self.lookup_row(statement, params)
        return None if row is None else row[0]

    async def lookup_row(self, statement: str, params: dict[str, Any]) -> Any:
        """The first row (every column) of a read by key, or None; run as `lookup`."""
        if not self._inline:
            return await self.read(lambda conn: _first_row(driver_execute(conn, statement,
                                                                          params)))
        raw = self._writer_conn().connection.driver_connection
        assert raw is not None
        return _first_row(raw.execute(statement, params))

    async def write(self, fn: Callable[[Connection], T], *, linger: bool = False) -> T:
        """Run `fn(connection)` in the next group commit; returns once it is durable.

        `fn` may be run twice (see `_run_batch`): it must only touch the database.
        `linger` (SQLite): nothing waits on this write but its own caller, so it may wait
        for company, up to `LINGER_WRITES` writes or `LINGER_S`, and commit with them.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if linger and self._inline:
            self._lingering.append((fn, future))
            if len(self._lingering) >= LINGER_WRITES:
                self._linger_over()
            elif self._linger_timer is None:
                self._linger_timer = loop.call_later(LINGER_S, self._linger_over)
            return await future
        self._queue.append((fn, future))
        if self._inline:
            self._flush_soon()
        elif self._flusher is None:
            self._flusher = loop.create_task(self._flush())
        return await future

    def _linger_over(self) -> None:
        """The lingering writes join the queue: the next group commit takes them."""
        if self._linger_timer is not None:
            self._linger_timer.cancel()
            self._linger_timer = None
        if self._lingering:
            self._queue.extend(self._lingering)
            self._lingering = []
            self._flush_soon()

    def _flush_soon(self) -> None:
        """After the other ready callbacks (a batch), unless that is already arranged."""
        if not self._inline_scheduled:
            self._inline_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_inline)

    def _flush_inline(self) -> None:
        # A small batch waits one more loop iteration, once: under load an iteration handles
        # many requests, so the batch grows (one commit for all of them: a commit costs more
        # than several inserts); when idle an iteration takes microseconds, so nobody waits.
        if not self._queue:  # pragma: no cover - every write schedules at most one flush
            self._inline_scheduled = self._inline_deferred = False
            return
        if len(self._queue) < _SMALL_BATCH and not self._inline_deferred:
            self._inline_deferred = True
            asyncio.get_running_loop().call_soon(self._flush_inline)
            return
        self._inline_scheduled = False
        self._inline_deferred = False
        if self._in_flight:  # the writer process holds the lock: its answer flushes again
            return
        if self._use_process and self._hand_to_process():
            return
        batch, self._queue = self._queue, []
        try:
            results = self._run_batch([fn for fn, _ in batch], self._writer_conn())
        except Exception as exc:
            log.exception("group commit of %d writes failed", len(batch))
            results = [(False, exc)] * len(batch)
            self._drop_inline_conn()  # it may be broken: the next batch opens a new one
        self._settle(batch, results)

    def _hand_to_process(self) -> bool:
        """Send the queue to the writer process if it is up and the queue is all
        `Statements`; False: run it here (a Python write among them, or no process)."""
        process = self._process
        if process is None:
            self._start_process()
            return False
        if not process.ready or not all(isinstance(fn, Statements) for fn, _ in self._queue):
            return False
        batch, self._queue = self._queue, []
        try:
            process.send([fn for fn, _ in batch])  # type: ignore[misc]
        except OSError as exc:
            self._queue = batch + self._queue
            self._process_gone(f"cannot write to it: {exc}")
            return False
        self._in_flight = batch
        return True

    def _start_process(self) -> None:
        now = time.monotonic()
        if self._process_started and now - self._process_started < PROCESS_RESTART_S:
            return
        self._process_started = now
        self._writer_conn()  # the checkpointer runs in this process, with the loop's writer
        path = self.url.split("///", 1)[-1]
        try:
            process = WriterProcess(path)
        except OSError:  # no process to be had (fds, memory): the loop writes, as before
            log.exception("cannot start the writer process; writing on the event loop")
            return
        self._process = process
        asyncio.get_running_loop().add_reader(process.replies_fd, self._on_replies, process)

    def _on_replies(self, process: WriterProcess) -> None:
        replies = process.receive()
        if replies is None:
            self._process_gone(f"it ended (exit status {process.process.poll()})")
            return
        for results in replies:
            batch, self._in_flight = self._in_flight, []
            self.commits += 1
            self.process_commits += 1
            self.writes += len(batch)
            self._settle(batch, results)
        if self._queue:
            self._flush_soon()

    def _process_gone(self, why: str) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        log.error("the writer process is gone (%s): %d writes in flight failed; writing on "
                  "the event loop until a new one is up", why, len(self._in_flight))
        asyncio.get_running_loop().remove_reader(process.replies_fd)
        process.stop(timeout_s=1.0)
        batch, self._in_flight = self._in_flight, []
        gone = WriterGone("the writer process ended: this write may or may not be committed")
        self._settle(batch, [(False, gone)] * len(batch))
        if self._queue:
            self._flush_soon()

    def _writer_conn(self) -> Connection:
        """The loop's writer connection (SQLite), opened on first use; it leaves the WAL
        checkpoints to a thread (bot/db/checkpoint.py), started with it."""
        if self._inline_conn is None:
            conn = self.engine.connect()
            if ":memory:" not in self.url:
                stop_checkpointing_on_commit(conn.connection.driver_connection)
                if self._checkpointer is None:
                    self._checkpointer = Checkpointer(self.engine.raw_connection)
                    self._checkpointer.start()
            self._inline_conn = conn
        return self._inline_conn

    def _drop_inline_conn(self) -> None:
        conn, self._inline_conn = self._inline_conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception:  # pragma: no cover - closing a broken connection
                log.exception("closing the writer connection failed")

    @staticmethod
    def _settle(batch: list[tuple[Callable[[Connection], Any], asyncio.Future[Any]]],
                results: list[tuple[bool, Any]]) -> None:
        for (_, future), (ok, value) in zip(batch, results, strict=True):
            if future.done():
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

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
                    results = [(False, exc)] * len(batch)
                self._settle(batch, results)
        finally:
            self._flusher = None

    def _run_batch(self, fns: list[Callable[[Connection], Any]],
                   conn: Connection | None = None) -> list[tuple[bool, Any]]:
        """Run a batch in one transaction; a failing `fn` must not take the others down.

        First try the batch plainly. Only if something fails, roll back and run it again with
        a savepoint around each `fn`: savepoints cost three statements per write, paid only
        when they are needed. A Core connection, because the ORM session's bookkeeping costs
        more than the inserts themselves (about 0.4 ms a write, measured).
        """
        if conn is None:
            with self.engine.connect() as own:
                return self._run_batch(fns, own)
        try:
            with conn.begin():
                results: list[tuple[bool, Any]] = [(True, fn(conn)) for fn in fns]
        except Exception as exc:
            results = [(False, exc)] if len(fns) == 1 else self._run_isolated(conn, fns)
        self.commits += 1
        self.writes += len(fns)
        return results

    @staticmethod
    def _run_isolated(conn: Connection, fns: list[Callable[[Connection], Any]]
                      ) -> list[tuple[bool, Any]]:
        results: list[tuple[bool, Any]] = []
        with conn.begin():
            for fn in fns:
                conn.exec_driver_sql("SAVEPOINT w")
                try:
                    results.append((True, fn(conn)))
                except Exception as exc:
                    conn.exec_driver_sql("ROLLBACK TO SAVEPOINT w")
                    results.append((False, exc))
                conn.exec_driver_sql("RELEASE SAVEPOINT w")
        return results

    async def close(self) -> None:
        while self._flusher is not None:
            await asyncio.shield(self._flusher)
        self._linger_over()
        while self._queue or self._in_flight:  # a group commit is scheduled: let it run
            await asyncio.gather(*(f for _, f in self._queue + self._in_flight),
                                 return_exceptions=True)
        if self._process is not None:
            process, self._process = self._process, None
            asyncio.get_running_loop().remove_reader(process.replies_fd)
            process.stop()
        self._drop_inline_conn()
        if self._checkpointer is not None:
            self._checkpointer.stop()
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        self.engine.dispose()
        self._read_engine.dispose()
