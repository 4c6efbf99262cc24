"""The settings every SQLite connection of the bot starts with: the event loop's writer, the
readers, and the writer process (bot.db.writer_process), which imports no SQLAlchemy, so
they live here, apart from bot.db.engine. Stdlib only."""

from __future__ import annotations

WAL_SIZE_LIMIT = 64 << 20
"""Bytes of write-ahead log kept on disk once it starts over. Under a sustained burst the
log cannot start over (a checkpoint never catches up with the commits: 1.5 GB in 30 s at
600 callbacks a second, docs/capacity.md); without a limit the file stays that large."""

CONNECTION = (
    "journal_mode=WAL",  # readers never block the writer
    "synchronous=NORMAL",  # durable at each WAL checkpoint, fast commits
    "foreign_keys=ON",
    "busy_timeout=30000",
    f"journal_size_limit={WAL_SIZE_LIMIT}",
)
