"""Owner-post reminders (via ``owner_remind``): one app message (message/send) per owner and
slot, claimed like any call (``sending`` before ``message/send``, ``done`` after).

An app message cannot be looked up, but WeCom can drop a repeat itself: every reminder goes
out with ``enable_duplicate_check: 1`` and an interval that covers the slot's grace, so one
whose answer was lost (or whose process died mid-call) is sent again with the same content
while the interval still covers the first attempt, and WeCom delivers it at most once. Past
that, it is recorded ``uncertain`` and not repeated, like a robot post.
"""

from __future__ import annotations

import logging
from typing import Protocol

from sqlalchemy.engine import Connection

from bot.outbox import rows as outbox
from bot.outbox.rows import SendRow
from bot.outbox.sending import Sending
from bot.outbox.status import SendStatus
from bot.wecom.errors import WeComError, WeComUnanswered

log = logging.getLogger(__name__)

RESEND_MARGIN_S = 60.0  # a reminder is resent only this long before its duplicate check ends


class RoomForAppMessages(Protocol):
    """What the worker needs of `bot.replies.messenger.AppMessenger`: the per-member limit."""

    async def wait_for_room(self, userid: str) -> None: ...


def may_resend(row: SendRow, now: float) -> bool:
    """Is a first attempt still inside WeCom's duplicate check? It went out after the
    row was planned, so `created_at` + interval bounds it from below."""
    interval = float(row.body.get("duplicate_check_interval", 1800))
    return now - row.created_at < interval - RESEND_MARGIN_S


class OwnerReminders:
    """Sends owner-reminder rows for the worker."""

    def __init__(self, sending: Sending, agent_id: int | None,
                 app_limits: RoomForAppMessages | None) -> None:
        self.sending = sending
        self.agent_id = agent_id
        self.app_limits = app_limits

    async def remind(self, row: SendRow) -> None:
        sending = self.sending
        if self.agent_id is None:
            await sending.final_failure(row, "WECOM_AGENT_ID is not set: message/send needs "
                                             "the app's agentid", was=SendStatus.QUEUED)
            return
        if self.app_limits is not None:
            await self.app_limits.wait_for_room(row.sender)  # §5.2: never past 30/min, 1000/h
        if not await sending.start_call(row):
            return
        if row.attempts:
            sending.stats.owner_resends += 1
        body = {**row.body, "agentid": self.agent_id}
        try:
            data = await sending.wecom.send_app_message(body)
        except WeComUnanswered:
            await self._unanswered(row)
            return
        except WeComError as exc:
            await sending.failed_call(row, exc)
            return
        sending.stats.owner_reminders += 1
        if data.get("invaliduser"):
            log.warning("outbox: reminder %s: WeCom does not know %s", row.key,
                        data["invaliduser"])
        msgid = str(data.get("msgid", ""))
        await sending.db.write(lambda c: self._reminded(c, row.id, msgid))

    async def _unanswered(self, row: SendRow) -> None:
        sending = self.sending
        now = sending.clock()
        if may_resend(row, now):
            log.warning("outbox: no answer to reminder %s: sending it again (WeCom's "
                        "duplicate check drops it if the first one arrived)", row.key)
            await sending.db.write(lambda c: outbox.mark_retry(
                c, row.id, now + sending.settle_s, "no answer: resend with duplicate check",
                was=SendStatus.SENDING))
            return
        await sending.uncertain(row, "no answer from WeCom", deliveries=None)

    def _reminded(self, conn: Connection, send_id: int, msgid: str) -> None:
        now = self.sending.clock()
        # records msgid and sent_at
        outbox.mark_created(conn, send_id, msgid, now, now, was=SendStatus.SENDING)
        outbox.mark_final(conn, send_id, SendStatus.DONE, now, was=SendStatus.CREATED,
                          deliveries=None)
