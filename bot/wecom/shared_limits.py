"""Per-API quotas shared by every replica (PostgreSQL), with `RateLimits`'s interface.

Each replica takes calls from the deployment-wide count in blocks (`quota_block`, 20 by
default): the common call costs a counter decrement in memory, one call in `block` costs a
short transaction (the `reserve` it is given: bot.db.api_quota's, on PostgreSQL). A block
not used up before its window ends is lost: at most replicas x block calls per window, e.g.
60 of 10,000 a minute.

Fixed windows, like WeCom's own counting; their edges are on the database clock's minute
and hour, which need not match WeCom's. The client still waits out a 45009 if the two
disagree (bot.wecom.client).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol


class Grant(Protocol):
    """What a reservation answers (bot.db.api_quota.Grant has this shape): read only."""

    @property
    def calls(self) -> int:
        """How many calls may go out (0: every window is full)."""

    @property
    def until(self) -> float:
        """They must go out before this (the end of the shortest window)."""

    @property
    def retry_at(self) -> float:
        """When calls == 0: when a window with room starts."""


# (api, [(limit, window seconds)], calls wanted) -> the calls granted
Reserve = Callable[[str, Sequence[tuple[int, float]], int], Awaitable[Grant]]


class SharedQuota:
    """One API's share: tokens reserved from the database, spent in memory."""

    def __init__(self, api: str, windows: Sequence[tuple[int, float]], reserve: Reserve,
                 block: int, clock: Callable[[], float] = time.time) -> None:
        self._api = api
        self._windows = tuple(windows)
        self._reserve = reserve
        self._block = max(block, 1)
        self._clock = clock
        self._tokens = 0
        self._until = 0.0
        self._lock = asyncio.Lock()
        self.reservations = 0  # round trips made, for the metrics

    def try_acquire(self) -> bool:
        if self._tokens > 0 and self._clock() < self._until:
            self._tokens -= 1
            return True
        return False

    async def acquire(self) -> None:
        async with self._lock:  # one reservation at a time; the others wait for its tokens
            while not self.try_acquire():
                grant = await self._reserve(self._api, self._windows, self._block)
                self.reservations += 1
                if grant.calls:
                    self._tokens, self._until = grant.calls, grant.until
                else:
                    await asyncio.sleep(max(grant.retry_at - self._clock(), 0.05))


class SharedRateLimits:
    """`RateLimits` for a deployment: one `SharedQuota` per API path."""

    def __init__(self, reserve: Reserve, per_minute: int, per_hour: int, block: int) -> None:
        self._reserve = reserve
        self._windows = ((per_minute, 60.0), (per_hour, 3600.0))
        self._block = block
        self._quotas: dict[str, SharedQuota] = {}

    def for_api(self, api: str) -> SharedQuota:
        quota = self._quotas.get(api)
        if quota is None:
            quota = self._quotas[api] = SharedQuota(api, self._windows, self._reserve,
                                                    self._block)
        return quota
