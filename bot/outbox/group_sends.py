"""The 群发 (add_msg_template) calls of the outbox: create once, look up when unanswered,
then follow the task until its owner has sent it.

A 群发 moves queued → sending → created → done. When a call gets no answer the row is
parked `unknown` and, once anything in flight has ended, WeCom is asked
(get_groupmsg_list_v2) whether the task exists before any second call: a group that may get
a message twice is worse, for a store manager, than a late one.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy.engine import Connection

from bot.outbox import rows as outbox
from bot.outbox.listing import GroupMsgListing
from bot.outbox.rows import SendRow
from bot.outbox.sending import Pacer, Sending
from bot.outbox.status import RESULT_STATUS, DeliveryStatus, SendStatus
from bot.wecom import errors
from bot.wecom.errors import WeComError, WeComUnanswered

log = logging.getLogger(__name__)

S = SendStatus
TASK_SENT = 2  # get_groupmsg_task status: the owner has sent it


class GroupSends:
    """Creates, reconciles and follows 群发 rows for the worker."""

    def __init__(self, sending: Sending, pacer: Pacer) -> None:
        self.sending = sending
        self._pacer = pacer
        self._listing = GroupMsgListing(sending.wecom, sending.clock)

    async def create(self, row: SendRow) -> None:
        await self._pacer.wait()
        if not await self.sending.start_call(row):
            return
        try:
            data = await self.sending.wecom.add_msg_template(row.body)
        except WeComUnanswered as exc:
            log.warning("outbox: no answer to the 群发 of %s (%s): checking before any retry",
                        row.key, exc.errmsg)
            await self.sending.db.write(lambda c: self._to_check(c, row))
            return
        except WeComError as exc:
            await self.sending.failed_call(row, exc)
            return
        await self._created(row, S.SENDING, str(data.get("msgid", "")),
                            data.get("fail_list") or [])

    async def _created(self, row: SendRow, was: SendStatus, msgid: str,
                       fail_list: list[Any]) -> None:
        sending = self.sending
        now = sending.clock()
        sending.stats.created += 1
        failed = [str(x) for x in fail_list]
        if failed:
            log.warning("outbox: 群发 %s: WeCom refused %d groups: %s", row.key, len(failed),
                        ", ".join(failed[:5]))
        next_at = now + sending.settings.check_after_minutes * 60
        await sending.db.write(lambda c: outbox.mark_created(
            c, row.id, msgid, now, next_at, failed, was=was))

    def _to_check(self, conn: Connection, row: SendRow) -> None:
        """Park a call that may have gone out; `reconcile` looks it up once it has ended."""
        next_at = self.sending.clock() + self.sending.settle_s
        outbox.mark_retry(conn, row.id, next_at, "no answer: checking", was=S.SENDING,
                          status=S.UNKNOWN)

    async def reconcile(self, row: SendRow, due_by: float) -> None:
        """Did an unanswered add_msg_template create the task? Ask WeCom, then decide.

        Messages created through the API are listed without their creator, so a candidate
        is one created in the time window with the same text and the same attachments as far
        as the list keeps them (`_same_content`), that no other send of ours owns, and whose
        task belongs to this send's owner.
        """
        found = await self.sending.look_up(row, lambda: self._find_task(row, due_by))
        if found:
            await self._created(row, S.UNKNOWN, found, [])

    async def _find_task(self, row: SendRow, due_by: float) -> str:
        """The msgid of the task this send created, or "" if WeCom has none. The list is
        one walked after `due_by`, when the row was due: its call had ended by then."""
        wecom, body = self.sending.wecom, row.body
        # The call went out after the send was planned; a restart long after the crash must
        # still look back that far (a window from "now" would miss it and send it again).
        listed = await self._listing.covering(body.get("chat_type", "group"),
                                              int(row.created_at) - 60, due_by)
        candidates = [str(m["msgid"]) for m in listed
                      if m.get("msgid") and _same_content(m, body)]
        known = await self.sending.db.read(lambda c: outbox.known_msgids(c, candidates))
        for msgid in candidates:
            if msgid in known:
                continue
            tasks = await wecom.get_groupmsg_task(msgid)
            if any(t.get("userid") == row.sender for t in tasks):
                return msgid
        return ""

    async def follow(self, row: SendRow) -> None:
        """Has the owner sent the task? Then record each group's result; else remind."""
        sending = self.sending
        now = sending.clock()
        try:
            per_chat = await self._results(row)
        except WeComError as exc:
            wait = 10.0 if exc.errcode == errors.GROUPMSG_DISPATCHING else 60.0
            note = f"following: {exc.errmsg}"
            await sending.db.write(lambda c: outbox.mark_follow(
                c, row.id, now + wait, row.reminders, note))
            return
        if per_chat is not None:
            sending.stats.followed += 1
            await sending.db.write(lambda c: outbox.mark_final(
                c, row.id, S.DONE, now, was=S.CREATED, deliveries=DeliveryStatus.UNSENT,
                per_chat=per_chat))
            return
        age = now - (row.sent_at or row.created_at)
        if age >= sending.settings.follow_for_hours * 3600:
            sending.stats.followed += 1
            await sending.db.write(lambda c: outbox.mark_final(
                c, row.id, S.DONE, now, was=S.CREATED, deliveries=DeliveryStatus.UNSENT,
                error=f"owner {row.sender} did not send it"))
            return
        reminders = await self._remind_owner(row, age)
        check_s = sending.settings.check_after_minutes * 60
        next_at = now + min(max(check_s, age / 2), 900.0)
        await sending.db.write(lambda c: outbox.mark_follow(c, row.id, next_at, reminders, None))

    async def _results(self, row: SendRow) -> dict[str, DeliveryStatus] | None:
        """Each group's result once the owner has sent the task; None while not yet."""
        wecom = self.sending.wecom
        tasks = await wecom.get_groupmsg_task(row.msgid)
        mine = [t for t in tasks if t.get("userid") == row.sender]
        if not any(int(t.get("status", 0)) == TASK_SENT for t in mine):
            return None
        results = await wecom.get_groupmsg_send_result(row.msgid, row.sender)
        # a group's result names its chat_id, a customer's their external_userid
        return {str(r.get("chat_id") or r["external_userid"]):
                RESULT_STATUS.get(int(r.get("status", 0)), DeliveryStatus.FAILED)
                for r in results if r.get("chat_id") or r.get("external_userid")}

    async def _remind_owner(self, row: SendRow, age: float) -> int:
        """WeCom's own reminder to the owner, spaced out; the reminders sent so far."""
        sending, settings = self.sending, self.sending.settings
        reminders = row.reminders
        remind_s = settings.remind_after_minutes * 60
        if reminders < settings.max_reminders and age >= remind_s * (reminders + 1):
            try:
                await sending.wecom.remind_groupmsg_send(row.msgid)
                reminders += 1
                sending.stats.reminders += 1
                log.info("outbox: reminded %s to send %s (%d)", row.sender, row.key, reminders)
            except WeComError as exc:
                log.warning("outbox: could not remind %s about %s: %s", row.sender, row.key, exc)
        return reminders


def _same_content(listed: dict[str, Any], body: dict[str, Any]) -> bool:
    """Is a get_groupmsg_list_v2 entry the send `body` asked for? Compared on what the list
    keeps: the text, and per attachment (in order) its kind, a link's title and url and a
    mini program's appid, page and title. Media are compared by kind and count only: WeCom
    lists an image sent by `pic_url` under a media id of its own ("优先吐出media_id"), so
    comparing attachments verbatim found nothing and the send was created a second time."""
    text = (listed.get("text") or {}).get("content", "")
    return bool(text == (body.get("text") or {}).get("content", "")
                and _attachment_marks(listed.get("attachments"))
                == _attachment_marks(body.get("attachments")))


def _attachment_marks(attachments: Any) -> list[tuple[str, ...]]:
    marks: list[tuple[str, ...]] = []
    for attachment in attachments or []:
        kind = str(attachment.get("msgtype", ""))
        inner = attachment.get(kind) or {}
        if kind == "link":
            marks.append((kind, str(inner.get("title", "")), str(inner.get("url", ""))))
        elif kind == "miniprogram":
            marks.append((kind, str(inner.get("appid", "")), str(inner.get("page", "")),
                          str(inner.get("title", ""))))
        else:  # image, video, file: the list names WeCom's media id, not what we sent
            marks.append((kind,))
    return marks
