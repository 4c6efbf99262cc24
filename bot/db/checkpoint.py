"""SQLite's WAL checkpoints, on a thread of their own instead of inside a commit.

SQLite copies the write-ahead log back into the database file (a checkpoint) whenever a
commit leaves more than 1,000 pages in it, and it does so inside that commit, fsync
included. The bot's group commit runs on the event loop (bot.db.engine), so every few
hundred callbacks one commit took 20 to 170 ms instead of tens of microseconds, and every
callback and welcome in flight waited for it: measured at 300 callbacks/s, those commits
every 0.2 s were the whole tail of the welcome latency.

So the loop's writer connection (and the writer process's, bot/db/writer_process.py) does
not checkpoint (`wal_autocheckpoint = 0`) and a
`Checkpointer` thread runs a PASSIVE checkpoint every `INTERVAL_S` on a connection of its
own. PASSIVE takes no lock a writer needs: commits go on meanwhile, and sqlite3 releases the
GIL while the copy and the fsync run, so the loop does too. Durability is unchanged: with
`synchronous = NORMAL` a commit is safe from a crash of the process once it returns, and
the checkpoint's fsync is what makes it safe from a power cut, as before. The same thread
cuts a long log to nothing once callbacks stop for a moment (`TRUNCATE_FRAMES`).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from bot.db import pace, pragmas

log = logging.getLogger(__name__)

INTERVAL_S = 0.25
"""Often enough that the log stays near the size SQLite's own checkpoint would keep it at
(about 1,000 pages at a few hundred commits a second), rarely enough to cost nothing idle."""
TRUNCATE_FRAMES = 16_384
"""A log this long (64 MB of 4 KB pages) is cut to nothing by the checkpointer in the first
lull after it (no callback for `pace.SERVING_S`), not by the next commit: under a sustained
burst the log grows without bound (1.5 GB in 30 s at 600 callbacks a second), and cutting
such a file took the commit that did it 620 ms, with every write waiting, and the event
loop too when it was one of SQLite's Python writes (measured, docs/capacity.md)."""


def stop_checkpointing_on_commit(dbapi_conn: Any) -> None:
    """For the connection that commits on the event loop: leave checkpoints to the thread."""
    dbapi_conn.execute("PRAGMA wal_autocheckpoint=0")


class Checkpointer:
    """Runs `PRAGMA wal_checkpoint(PASSIVE)` every `INTERVAL_S` on its own connection."""

    def __init__(self, connect: Any, interval_s: float = INTERVAL_S) -> None:
        self._connect = connect  # () -> a DB-API connection in autocommit mode
        self._interval_s = interval_s
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
        self.checkpoints = 0  # passive checkpoints run, for tests and the curious
        self.truncations = 0  # logs cut to nothing in a lull

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Stop, after one last checkpoint (the log is copied back before the bot ends)."""
        if not self._thread.is_alive():
            return
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        conn = self._connect()
        try:
            while not self._stopping.wait(self._interval_s):
                self._checkpoint(conn)
            self._checkpoint(conn)
        finally:
            conn.close()

    def _checkpoint(self, conn: Any) -> None:
        try:
            _, frames, copied = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
            self.checkpoints += 1
            if frames >= TRUNCATE_FRAMES and copied == frames and not pace.serving_now():
                self._truncate(conn)
        except Exception:  # a busy or broken file: the next round tries again
            log.exception("WAL checkpoint failed")

    def _truncate(self, conn: Any) -> None:
        """Cut the log to nothing if no writer holds it and no reader reads from it right
        now; else leave it to a later round. Without waiting: TRUNCATE holds the write lock
        while it waits for readers, and the writers would wait with it."""
        conn.execute("PRAGMA busy_timeout=0")
        try:
            busy, _, _ = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                self.truncations += 1
        finally:
            conn.execute(f"PRAGMA busy_timeout={pragmas.BUSY_TIMEOUT_MS}")
