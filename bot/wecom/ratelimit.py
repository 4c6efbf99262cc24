"""Per-API call quotas, enforced on our side so WeCom never has to block us (reference §5.2).

WeCom counts calls per corp per API in fixed windows (10,000 a minute, 150,000 an hour) and
a block lasts the rest of the window, so hitting 45009 costs up to a minute of silence. A
sliding-window limiter that waits for a free slot keeps the bot just under the quota.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from typing import Protocol


class Quota(Protocol):
    """What the client needs of one API's quota (this module's, or bot.wecom.shared_limits')."""

    def try_acquire(self) -> bool: ...
    async def acquire(self) -> None: ...


class Limits(Protocol):
    def for_api(self, api: str) -> Quota: ...


class SlidingWindow:
    """At most `limit` acquisitions in any `window_s` seconds; `acquire` waits for a slot."""

    def __init__(self, limit: int, window_s: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if limit < 1 or window_s <= 0:
            raise ValueError("limit and window must be positive")
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._stamps: deque[float] = deque()
        self._lock = asyncio.Lock()

    def _expire(self, now: float) -> None:
        edge = now - self.window_s
        stamps = self._stamps
        while stamps and stamps[0] <= edge:
            stamps.popleft()

    def has_room(self) -> bool:
        """A slot is free right now and nobody is queued before us."""
        self._expire(self._clock())
        return len(self._stamps) < self.limit and not self._lock.locked()

    def try_acquire(self) -> bool:
        if self.has_room():
            self._stamps.append(self._clock())
            return True
        return False

    async def acquire(self) -> float:
        """Wait for a free slot; the slot's stamp (for `ended`)."""
        if self.try_acquire():
            return self._stamps[-1]
        async with self._lock:  # waiters queue in arrival order
            while True:
                now = self._clock()
                self._expire(now)
                if len(self._stamps) < self.limit:
                    self._stamps.append(now)
                    return now
                await asyncio.sleep(self._stamps[0] + self.window_s - now)

    def ended(self, stamp: float) -> None:
        """The call that took the slot stamped `stamp` is answered: count it from now.

        WeCom counts a call when it arrives, which is after our stamp by however long the
        request took to get there; under load that exceeded the margin and the 21st robot
        post of a minute was refused (45009). The answer comes after the arrival, so a slot
        counted from the answer is never early.
        """
        with contextlib.suppress(ValueError):  # already expired from the window
            self._stamps.remove(stamp)
        self._stamps.append(self._clock())  # every other stamp was taken before now


class ApiQuota:
    """The quotas of one API: every window must have room before a call goes out."""

    def __init__(self, windows: list[SlidingWindow]) -> None:
        self._windows = windows

    def try_acquire(self) -> bool:
        """All windows at once, or none: the common case costs no await at all."""
        if all(w.has_room() for w in self._windows):
            return all(w.try_acquire() for w in self._windows)
        return False

    async def acquire(self) -> None:
        for window in self._windows:
            await window.acquire()


class RateLimits:
    """One `ApiQuota` per API path, created on first use from the configured numbers."""

    def __init__(self, per_minute: int, per_hour: int,
                 overrides: dict[str, list[tuple[int, float]]] | None = None) -> None:
        self._per_minute = per_minute
        self._per_hour = per_hour
        self._overrides = overrides or {}
        self._quotas: dict[str, ApiQuota] = {}

    def for_api(self, api: str) -> ApiQuota:
        quota = self._quotas.get(api)
        if quota is None:
            spec = self._overrides.get(api, [(self._per_minute, 60.0), (self._per_hour, 3600.0)])
            quota = ApiQuota([SlidingWindow(limit, window) for limit, window in spec])
            self._quotas[api] = quota
        return quota
