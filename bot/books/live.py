"""Operator files that go live without a restart: one `LiveBook` for channels, 话术 and SOPs.

A store opening on Monday prints its QR codes on Friday; the operator adds the store and its
channel in git and the running bot welcomes its first customers correctly. The same holds
for a new 话术 and a changed SOP. A bad edit is logged line by line (``file:line:col:
reason``) and the value loaded before stays in use: customers never wait on an operator's
typo. A later edit is tried again, until one loads. Readers take `current` once per event
or request, so swapping it whole is safe mid-burst.

Polling rather than inotify: it works the same on every filesystem a deployment puts
`sop/` and `templates/` on (bind mounts, NFS, a git checkout updated by rename), and a
stat of a few dozen files every couple of seconds costs nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Generic, TypeVar

from bot import heap
from bot.books.yamlfile import OperatorFileError, OperatorFileErrors

log = logging.getLogger(__name__)
T = TypeVar("T")
Stamp = tuple[tuple[str, int, int], ...]


def stamp_of(paths: Iterable[Path]) -> Stamp:
    """What changes when any of `paths` is edited, added or removed."""
    return tuple((str(p), st.st_mtime_ns, st.st_size)
                 for p in sorted(paths) if p.is_file() for st in [p.stat()])


class LiveBook(Generic[T]):
    """The value loaded from a set of operator files, reloaded when they change.

    `name` says what it is in log lines ("channels", "话术", "SOPs"); `describe` what a
    fresh value holds. `current` is None only until a first load succeeds (the SOP book is
    loaded after the start: see bot.leader). `listen` adds a callback run after each swap.
    """

    def __init__(self, name: str, files: Callable[[], Iterable[Path]], load: Callable[[], T],
                 poll_s: float, *, describe: Callable[[T], str] = lambda _: "ok",
                 current: T | None = None) -> None:
        self.name = name
        self.files = files
        self.load = load
        self.poll_s = poll_s
        self.describe = describe
        self.current = current
        self.last_error: str | None = None
        self.reloads = 0
        self._stamp: Stamp | None = stamp_of(files())
        self._listeners: list[Callable[[T], None]] = []
        self._task: asyncio.Task[None] | None = None
        self._swapped = asyncio.Event()

    @property
    def value(self) -> T:
        """`current`, for a book loaded at start (`load_now`): never None there."""
        if self.current is None:
            raise LookupError(f"no {self.name} loaded yet")
        return self.current

    def load_now(self) -> T:
        """The first load, at start: raises (a broken file there stops the start)."""
        self._stamp = stamp_of(self.files())  # before reading: an edit meanwhile counts
        self.current = self.load()
        return self.current

    def listen(self, callback: Callable[[T], None]) -> None:
        self._listeners.append(callback)

    # -- life --------------------------------------------------------------------------

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._watch(), name=f"{self.name}-reload")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def request_reload(self) -> None:
        """Reload at the next poll even if no file changed (SIGHUP)."""
        self._stamp = None

    async def loaded(self) -> T:
        """The current value, once there is one (waits for a first good load)."""
        while self.current is None:
            self._swapped.clear()
            await self._swapped.wait()
        return self.current

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            if stamp_of(self.files()) != self._stamp:
                await self.reload()

    # -- reload ------------------------------------------------------------------------

    async def reload(self) -> bool:
        """Load the files again; swap `current` only if they load cleanly."""
        self._stamp = stamp_of(self.files())  # before reading: an edit meanwhile counts
        try:
            value = await asyncio.get_running_loop().run_in_executor(None, self.load)
        except (OperatorFileError, OperatorFileErrors) as exc:
            self.last_error = str(exc)
            problems = exc.errors if isinstance(exc, OperatorFileErrors) else [exc]
            for problem in problems:
                log.error("%s reload refused: %s", self.name, problem)
            self._refused()
            return False
        except Exception as exc:  # an error class we did not foresee: the same rule
            self.last_error = f"{type(exc).__name__}: {exc}"
            log.exception("%s reload refused", self.name)
            self._refused()
            return False
        self.current = value
        self.last_error = None
        self.reloads += 1
        for listener in self._listeners:
            listener(value)
        self._swapped.set()
        heap.settle_soon()  # the new book is long-lived now, the old one garbage
        log.info("%s reloaded: %s", self.name, self.describe(value))
        return True

    def _refused(self) -> None:
        if self.current is None:
            log.error("no %s are in use until the files are fixed (the bot keeps welcoming)",
                      self.name)
        else:
            log.error("the %s loaded before stay in use until the files are fixed", self.name)
