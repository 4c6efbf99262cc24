"""The settings every SQLite connection of the bot starts with: the event loop's writer, the
readers, and the writer process (bot.db.writer_process), which imports no SQLAlchemy, so
they live here, apart from bot.db.engine. Stdlib only."""

from __future__ import annotations

WAL_SIZE_LIMIT = 0
"""Bytes of write-ahead log kept once it starts over: none. The log is cut back to what the
first commit after a start-over wrote, so commits always append to it.

Under a sustained burst the log cannot start over (a checkpoint never catches up with the
commits: 1.5 GB in 30 s at 600 callbacks a second, docs/capacity.md); once the burst ends it
does. A log kept at 64 MB was then written again from its start, and a 4,120-byte frame
covers parts of two 4 KB pages of the file: a page the machine had since dropped from its
cache was read back from the disk first. Measured at 600/s, a burst that followed a quiet
half-minute had 5 to 12 ms commits for its first second; appending needs no read."""

BUSY_TIMEOUT_MS = 30_000

CONNECTION = (
    "journal_mode=WAL",  # readers never block the writer
    "synchronous=NORMAL",  # durable at each WAL checkpoint, fast commits
    "foreign_keys=ON",
    f"busy_timeout={BUSY_TIMEOUT_MS}",
    f"journal_size_limit={WAL_SIZE_LIMIT}",
)
