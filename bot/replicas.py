"""This process among the bot's replicas: its liveness, and who runs the SOP scheduler.

Any replica accepts callbacks and sends from the outbox; exactly one fires SOP slots. On
PostgreSQL that one is elected with a session advisory lock held on a dedicated
connection (not a pooled one: the lock must live exactly as long as this process does).
The same connection holds the replica's liveness lock (bot.db.claims). Followers try
the leader lock every `leader_retry_s` (1 s), so when the leader dies, the server frees
the lock at once and a follower leads within about a second; its scheduler's start-up
sweep then plans whatever slot fell due meanwhile (within the SOP's grace).

Stepping down is as important as taking over: if this replica's lock connection fails,
it stops its scheduler before anything else, since the server may already have handed
the lock to another replica. A brief overlap is still harmless: planning a slot is
idempotent by its unique key and each call is claimed before it goes out.

On SQLite only one process may run, and it leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import NullPool

from bot.config import ReplicaSettings
from bot.db.claims import LEADER_KEY, REPLICA_NAMESPACE
from bot.db.engine import Database

log = logging.getLogger(__name__)
Hook = Callable[[], Awaitable[None]]

_TAKE_LIVENESS = text(f"SELECT pg_advisory_lock({REPLICA_NAMESPACE}, :num)")
_TRY_LEAD = text(f"SELECT pg_try_advisory_lock({LEADER_KEY})")
_REGISTER = text("""INSERT INTO bot_replica (id, host, started_at, seen_at, role)
                    VALUES (:id, :host, :at, :at, :role)
                    ON CONFLICT (id) DO UPDATE SET seen_at = excluded.seen_at,
                        role = excluded.role""")
_SEEN = text("UPDATE bot_replica SET seen_at = :at, role = :role WHERE id = :id")
_FORGET_OLD = text("DELETE FROM bot_replica WHERE seen_at < :before")
_FORGET_ME = text("DELETE FROM bot_replica WHERE id = :id")


class Replica:
    def __init__(self, db: Database, settings: ReplicaSettings) -> None:
        self.db = db
        self.settings = settings
        # The number is what liveness locks and claimed_by carry; random so that a
        # restarted process is never mistaken for its earlier, dead self.
        self.number = secrets.randbelow(2**31 - 2) + 1
        self.id = str(self.number)
        self.name = settings.id or f"{socket.gethostname()}:{os.getpid()}"
        self.role = "starting"
        self.elections = 0  # times this replica became leader
        self._on_elected: Hook = _nothing
        self._on_deposed: Hook = _nothing
        self._engine: Engine | None = None
        self._conn: Connection | None = None
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="replica-lock")
        self._task: asyncio.Task[None] | None = None
        self.backend_pid: int | None = None  # of the lock session, in pg_stat_activity

    @property
    def is_leader(self) -> bool:
        return self.role == "leader"

    async def start(self, *, on_elected: Hook, on_deposed: Hook) -> None:
        """Register (and on PostgreSQL take the liveness lock); `on_elected` runs when this
        replica becomes leader (at once when alone), `on_deposed` when it stops leading."""
        self._on_elected, self._on_deposed = on_elected, on_deposed
        if not self.db.is_postgres:
            await self.db.write(lambda c: c.execute(_REGISTER, self._row("leader")))
            await self._become_leader()
            return
        await self._call(self._connect)
        self.role = "follower"
        log.info("replica %s (%s) up; SOP scheduler leadership is tried every %.1f s",
                 self.id, self.name, self.settings.leader_retry_s)
        await self._tick()
        self._task = asyncio.get_running_loop().create_task(self._run(), name="replica")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.is_leader:
            await self._step_down("stopping")
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._call(lambda: self._execute(_FORGET_ME, {"id": self.id}))
            await self._call(self._close)  # frees both locks at once
        self._thread.shutdown(wait=True)
        if self._engine is not None:
            self._engine.dispose()
        self.role = "stopped"

    # -- the loop ----------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.settings.leader_retry_s)
            await self._tick()

    async def _tick(self) -> None:
        try:
            if self._conn is None:
                await self._call(self._connect)
            leads = await self._call(self._heartbeat)
        except Exception as exc:
            log.error("replica %s lost its lock connection (%s): stepping down, reconnecting",
                      self.id, exc)
            if self.is_leader:
                await self._step_down("lock connection lost")
            self.role = "follower"
            await self._call(self._close)
            return
        if leads and not self.is_leader:
            await self._become_leader()

    async def _become_leader(self) -> None:
        self.role = "leader"
        self.elections += 1
        log.info("replica %s (%s) leads: it runs the SOP scheduler", self.id, self.name)
        try:
            await self._on_elected()
        except Exception:
            log.exception("starting the SOP scheduler failed")

    async def _step_down(self, why: str) -> None:
        self.role = "follower"
        # a planned stop is routine; losing the lock while running is what on-call must see
        level = logging.INFO if why == "stopping" else logging.WARNING
        log.log(level, "replica %s no longer leads (%s): SOP scheduler stopped", self.id, why)
        try:
            await self._on_deposed()
        except Exception:
            log.exception("stopping the SOP scheduler failed")

    # -- on the lock connection's own thread --------------------------------------------

    async def _call(self, fn: Callable[[], object]) -> object:
        return await asyncio.get_running_loop().run_in_executor(self._thread, fn)

    def _connect(self) -> None:
        if self._engine is None:
            self._engine = create_engine(self.db.url, poolclass=NullPool,
                                         connect_args=_lock_connect_args())
        conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        try:
            conn.exec_driver_sql("SET statement_timeout = '5s'")  # never hang on the lock line
            # The server's side of the same socket: a replica whose host vanished (no FIN
            # ever comes) loses its locks after ~11 s instead of the kernel's two hours.
            conn.exec_driver_sql("SET tcp_keepalives_idle = 5")
            conn.exec_driver_sql("SET tcp_keepalives_interval = 2")
            conn.exec_driver_sql("SET tcp_keepalives_count = 3")
            self.backend_pid = int(conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one())
            conn.execute(_TAKE_LIVENESS, {"num": self.number})
            conn.execute(_REGISTER, self._row("follower"))
        except Exception:
            conn.close()
            raise
        self._conn = conn

    def _heartbeat(self) -> bool:
        """One round trip or two: try to lead (followers), say we are here. True: we lead."""
        assert self._conn is not None
        leads = self.is_leader or bool(self._conn.execute(_TRY_LEAD).scalar())
        now = time.time()
        self._execute(_SEEN, {"id": self.id, "at": now, "role": "leader" if leads else
                              "follower"})
        if leads:  # replicas that died without a word are forgotten after a day
            self._execute(_FORGET_OLD, {"before": now - 86400})
        return leads

    def _execute(self, statement: object, params: dict[str, object]) -> None:
        assert self._conn is not None
        self._conn.execute(statement, params)  # type: ignore[call-overload]

    def _close(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                conn.close()

    def _row(self, role: str) -> dict[str, object]:
        now = time.time()
        return {"id": self.id, "host": self.name[:128], "at": now, "role": role}


def _lock_connect_args() -> dict[str, object]:
    return {"connect_timeout": 5, "keepalives": 1, "keepalives_idle": 5,
            "keepalives_interval": 2, "keepalives_count": 3,
            "application_name": "wecom-bot-lock"}


async def _nothing() -> None:
    """The hooks of a replica not started yet."""
