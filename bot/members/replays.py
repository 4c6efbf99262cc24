"""Request ids of signed till calls: a replay is refused, also after a restart.

Every accepted POS request id goes to `pos_request` (kept two time windows, then deleted
by the recompute), the one durable record on SQLite and PostgreSQL alike:

- the purchases webhook writes it with its effects, in the same transaction (`remember`);
- the till lookup is a read: it checks the record in the same statement as its answer
  and this process's memory (`RecentIds`). On PostgreSQL, whose replicas share the
  callers, that statement records the id too, before the answer (a replay sent to another
  replica at once is refused; one transaction, where a read and a write were two); on
  SQLite, where one process serves the till, the ids of the lookups answered in the last
  RECORD_EVERY_S go in one write after the answers (the bot's stop writes the last ones):
  a write and its commit per lookup would put SQLite's WAL checkpoints, each an fsync, on
  one lookup in a hundred (p99 40 ms on a busy disk, measured, where the lookup itself
  takes 1 ms).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from bot.db.engine import Database, sql
from bot.members.signing import RecentIds, SignedRequest

__all__ = ["RECORD_EVERY_S", "SEEN_BEFORE", "LookupIds", "Replayed", "remember"]
log = logging.getLogger(__name__)
RECORD_EVERY_S = 0.1
_INSERT = ("INSERT INTO pos_request (request_id, at) VALUES (:request_id, :at) "
           "ON CONFLICT (request_id) DO NOTHING")
SEEN_BEFORE = "(SELECT 1 FROM pos_request r WHERE r.request_id = :request_id)"  # a column
_SEEN_UNLESS_NEW = "(SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM new))"  # the insert did nothing


class Replayed(Exception):
    pass


def remember(conn: Connection, signed: SignedRequest, now: float) -> None:
    """Record the request id in the caller's transaction; raises `Replayed` if it was."""
    if not conn.execute(sql(_INSERT), {"request_id": signed.request_id, "at": now}).rowcount:
        raise Replayed


@dataclass
class LookupIds:
    """The till lookups' request ids: this process's memory and `pos_request`."""

    db: Database
    recent: RecentIds = field(default_factory=RecentIds)
    _pending: list[dict[str, Any]] = field(default_factory=list)
    _timer: asyncio.TimerHandle | None = None
    _writes: set[asyncio.Task[None]] = field(default_factory=set)

    async def lookup(self, statement: str, params: dict[str, Any]) -> Any:
        """The till's read (`statement`, whose last column is `SEEN_BEFORE`), one row. On
        PostgreSQL the request id is recorded by the same statement, in one transaction,
        before the answer: a replay sent to another replica at once is refused too."""
        if not self.db.is_postgres:
            return await self.db.lookup_row(statement, params)
        recording = f"WITH new AS ({_INSERT} RETURNING 1) {statement}".replace(
            SEEN_BEFORE, _SEEN_UNLESS_NEW)
        return await self.db.write(lambda conn: conn.execute(sql(recording), params).one())

    def first_time(self, signed: SignedRequest, seen: bool, now: float) -> bool:
        """False for a replay (`seen`: the lookup found the id recorded); SQLite: the id is
        recorded with the others of the last RECORD_EVERY_S."""
        if seen or not self.recent.first_time(signed.request_id, now):
            return False
        if not self.db.is_postgres:
            self._pending.append({"request_id": signed.request_id, "at": now})
            if self._timer is None:
                self._timer = asyncio.get_running_loop().call_later(RECORD_EVERY_S,
                                                                    self._record)
        return True

    def _record(self) -> None:
        self._timer = None
        rows, self._pending = self._pending, []
        if rows:
            task = asyncio.get_running_loop().create_task(self._write(rows))
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)

    async def _write(self, rows: list[dict[str, Any]]) -> None:
        try:
            await self.db.write(lambda conn: conn.execute(sql(_INSERT), rows) and None)
        except Exception:  # the ids stay in memory: this life still refuses them
            log.exception("recording %d till lookup request ids failed", len(rows))

    async def flush(self) -> None:
        """Write the ids not yet recorded (at the bot's stop)."""
        if self._timer is not None:
            self._timer.cancel()
            self._record()
        await asyncio.gather(*self._writes, return_exceptions=True)
