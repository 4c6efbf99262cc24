"""Robot posts (webhook/send) of the outbox: posted once, never repeated.

A robot post moves queued → sending → done. It cannot be looked up afterwards, so a post
without an answer, or one whose process died mid-call, is recorded `uncertain` and not sent
again: a staff group that may have missed one post is better than one that gets it twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from sqlalchemy.engine import Connection

from bot.outbox import rows as outbox
from bot.outbox.rows import SendRow
from bot.outbox.sending import Sending
from bot.outbox.status import DeliveryStatus, SendStatus
from bot.wecom.errors import WeComError, WeComUnanswered
from bot.wecom.ratelimit import SlidingWindow

log = logging.getLogger(__name__)

ROBOT_PER_MINUTE = 20  # reference §5.2: 20 messages a minute per robot
STOPPED = "process stopped during the call"


class RobotPosts:
    """Posts robot rows for the worker, each robot within its own per-minute limit."""

    def __init__(self, sending: Sending, robot_key: Callable[[str], str | None],
                 window_s: float) -> None:
        self.sending = sending
        self.robot_key = robot_key
        self._window_s = window_s
        self._robots: dict[str, SlidingWindow] = {}

    async def post(self, row: SendRow) -> None:
        sending = self.sending
        # on a thread: before the leader's SOP book is there (the outbox starts before the
        # books are read), the key's lookup reads the SOP files, seconds at 10,000 stores
        key = await asyncio.to_thread(self.robot_key, row.robot)
        if not key:
            await sending.final_failure(row, f"robot {row.robot}: its webhook key is not set",
                                        was=SendStatus.QUEUED)
            return
        window = self._robots.get(row.robot)
        if window is None:
            # a little longer than WeCom's minute: its clock starts when our post arrives
            window = self._robots[row.robot] = SlidingWindow(
                ROBOT_PER_MINUTE, self._window_s * 1.02 + 0.05)
        stamp = await window.acquire()  # wait for the robot's minute to have room: never fail
        if not await sending.start_call(row):
            return
        try:
            try:
                await sending.wecom.robot_send(key, row.body)
            finally:
                window.ended(stamp)  # WeCom counted it on arrival: count it from the answer
        except WeComUnanswered:
            log.warning("outbox: no answer to robot post %s: recorded as uncertain, "
                        "not repeated", row.key)
            await sending.uncertain(row, "no answer from WeCom",
                                    deliveries=DeliveryStatus.UNCERTAIN)
            return
        except WeComError as exc:
            await sending.failed_call(row, exc)
            return
        sending.stats.robot_posts += 1
        await sending.db.write(lambda c: outbox.mark_final(
            c, row.id, SendStatus.DONE, sending.clock(), was=SendStatus.SENDING,
            deliveries=DeliveryStatus.SENT))


def take_over_uncertain(sending: Sending, conn: Connection, row: SendRow, now: float) -> bool:
    """An orphaned call that cannot be looked up nor safely repeated: take it over and record
    it `uncertain` (False when another survivor took it first)."""
    if not outbox.take_over(conn, row, sending.replica_id, SendStatus.SENDING, row.next_at,
                            STOPPED):
        return False
    outbox.mark_final(conn, row.id, SendStatus.UNCERTAIN, now, was=SendStatus.SENDING,
                      deliveries=DeliveryStatus.UNCERTAIN, error=STOPPED)
    return True
