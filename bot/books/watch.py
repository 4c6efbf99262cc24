"""Operator files that go live without a restart: poll their size and modification time,
call back when they change.

Polling rather than inotify: it works the same on every filesystem a deployment puts
`sop/` and `templates/` on (bind mounts, NFS, a git checkout updated by rename), and a
stat of a few dozen files every couple of seconds costs nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path

Stamp = tuple[tuple[str, int, int], ...]


def stamp_of(paths: Iterable[Path]) -> Stamp:
    """What changes when any of `paths` is edited, added or removed."""
    return tuple((str(p), st.st_mtime_ns, st.st_size)
                 for p in sorted(paths) if p.is_file() for st in [p.stat()])


class FileWatch:
    """Calls `on_change` after the files `paths()` lists change; one task, started and
    stopped with the bot."""

    def __init__(self, paths: Callable[[], Iterable[Path]],
                 on_change: Callable[[], Awaitable[object]], poll_s: float, name: str) -> None:
        self.paths = paths
        self.on_change = on_change
        self.poll_s = poll_s
        self.name = name
        self._stamp = stamp_of(paths())
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._watch(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            stamp = stamp_of(self.paths())
            if stamp != self._stamp:
                self._stamp = stamp
                await self.on_change()
