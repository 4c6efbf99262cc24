"""What every kind of outbox call shares: its dependencies, its counters, claiming a row for
one call, and what an error answer makes of a row.

The worker (`bot.outbox.worker`) decides which row is handled when; the handlers for 群发
(`group_sends`), robot posts (`robot_posts`) and owner reminders (`reminders`) each make
their own call, and all of them go through `Sending` so a failed call is treated alike.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from bot.config import SopSettings
from bot.db.engine import Database
from bot.outbox import rows as outbox
from bot.outbox.rows import SendRow
from bot.outbox.status import DeliveryStatus, SendStatus
from bot.wecom.client import WeComClient
from bot.wecom.errors import WeComError, WeComTransientError

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 8  # transient failures (busy, rate-limited, unreachable) before giving up


class Pacer:
    """Spreads calls evenly at `per_minute`: the corp-wide quota is shared with other apps,
    so a burst of 10,000 calls in ten seconds would starve them (and risk 45009 for all)."""

    def __init__(self, per_minute: int) -> None:
        self.interval = 60.0 / per_minute
        self._next = 0.0

    async def wait(self) -> None:
        now = time.monotonic()
        slot = max(now, self._next)
        self._next = slot + self.interval
        if slot > now:
            await asyncio.sleep(slot - now)


@dataclass
class DeliveryStats:
    created: int = 0  # 群发 tasks WeCom accepted
    robot_posts: int = 0
    retries: int = 0
    reconciled_found: int = 0  # an unanswered call that had in fact created the task
    reconciled_absent: int = 0  # ... that had not: sent again
    failed: int = 0
    uncertain: int = 0
    reminders: int = 0
    followed: int = 0  # tasks followed to their end
    owner_reminders: int = 0  # owner-post reminders WeCom accepted
    owner_resends: int = 0  # ... sent again after a lost answer or a crash (duplicate check)


@dataclass
class Sending:
    """The worker's dependencies, shared by its call handlers."""

    db: Database
    wecom: WeComClient
    settings: SopSettings
    clock: Callable[[], float]
    replica_id: str
    settle_s: float  # an unanswered call has ended by then
    stats: DeliveryStats = field(default_factory=DeliveryStats)

    async def start_call(self, row: SendRow) -> bool:
        """Claim a queued row for one call (`sending`, committed before the call goes out);
        False when another round or replica has it."""
        at = self.clock()
        return bool(await self.db.write(
            lambda c: outbox.mark_sending(c, row.id, at, self.replica_id)))

    async def look_up(self, row: SendRow, find: Callable[[], Awaitable[str]]) -> str:
        """After a call that got no answer: did it make something at WeCom? `find` asks
        WeCom; the id it found is returned for the caller to record. Else "": not there
        (the row is due again, to be sent) or WeCom could not be asked (looked at in 30 s)."""
        try:
            found = await find()
        except WeComError as exc:
            log.warning("outbox: cannot check %s yet (%s)", row.key, exc)
            note = f"checking: {exc.errmsg}"
            await self.db.write(lambda c: outbox.mark_follow(
                c, row.id, self.clock() + 30, row.reminders, note))
            return ""
        if found:
            self.stats.reconciled_found += 1
            log.info("outbox: %s had been made (%s): not made again", row.key, found)
            return found
        self.stats.reconciled_absent += 1
        log.info("outbox: %s had not reached WeCom: sending it", row.key)
        # due since it was planned: it keeps its place in line, not behind the slot's backlog
        due = min(row.created_at, self.clock())
        await self.db.write(lambda c: outbox.mark_retry(
            c, row.id, due, "resend", was=SendStatus.UNKNOWN))
        return ""

    async def failed_call(self, row: SendRow, exc: WeComError) -> None:
        """WeCom answered with an error: nothing was created, so trying again is safe."""
        attempts = row.attempts + 1
        if isinstance(exc, WeComTransientError) and attempts < MAX_ATTEMPTS:
            self.stats.retries += 1
            delay = min(2.0**attempts, 300.0)
            log.warning("outbox: %s: %s; retry %d in %.0fs", row.key, exc, attempts, delay)
            await self.db.write(lambda c: outbox.mark_retry(
                c, row.id, self.clock() + delay, f"{exc.errcode}: {exc.errmsg}",
                was=SendStatus.SENDING))
            return
        await self.final_failure(row, f"{exc.errcode}: {exc.errmsg}", was=SendStatus.SENDING)

    async def final_failure(self, row: SendRow, reason: str, *, was: SendStatus) -> None:
        self.stats.failed += 1
        log.error("outbox: %s failed for good: %s", row.key, reason)
        await self.db.write(lambda c: outbox.mark_final(
            c, row.id, SendStatus.FAILED, self.clock(), was=was,
            deliveries=DeliveryStatus.FAILED, error=reason))

    async def uncertain(self, row: SendRow, error: str, *,
                        deliveries: DeliveryStatus | None) -> None:
        """No answer to a call that cannot be looked up or repeated: recorded, not resent."""
        self.stats.uncertain += 1
        await self.db.write(lambda c: outbox.mark_final(
            c, row.id, SendStatus.UNCERTAIN, self.clock(), was=SendStatus.SENDING,
            deliveries=deliveries, error=error))
