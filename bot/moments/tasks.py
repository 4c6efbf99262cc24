"""The moment calls of the outbox: make the task once, follow its job to a moment, then
follow each staff member until they have posted it, reminding those who have not.

A moment send moves queued → sending → created → done, like a 群发:

- ``sending`` is committed before ``add_moment_task``; with no answer the row is parked
  ``unknown`` and WeCom's moment list is searched (same text and attachments, made since
  the row was planned, not already ours, with the same staff) before any second call;
- ``created`` holds the ``jobid``; ``get_moment_task_result`` is polled until the job has
  made the moment (or failed: the send fails with the job's errcode);
- then ``get_moment_task`` says who has posted; staff still due after
  ``remind_after_minutes`` get an app message (WeCom has no reminder API for moments), at
  most ``max_reminders`` times; after ``follow_for_hours`` the rest count as not posted.

WeCom takes at most 10 moment tasks a minute per corp: calls are paced at that rate here
(45009 past it is waited out by the client, then retried like any busy answer).
"""

from __future__ import annotations

import logging
from typing import Any

from bot.moments import records
from bot.outbox import rows as outbox
from bot.outbox.reminders import RoomForAppMessages
from bot.outbox.rows import SendRow
from bot.outbox.sending import Pacer, Sending
from bot.outbox.status import SendStatus
from bot.wecom import moments as api
from bot.wecom.errors import WeComError, WeComUnanswered

log = logging.getLogger(__name__)

S = SendStatus
JOB_POLL_S = 5.0  # how soon a running job is asked again
BUSY_RETRY_S = 60.0  # 41078: too many moment jobs running; try again this much later


class MomentTasks:
    """Creates, reconciles and follows moment rows for the worker."""

    def __init__(self, sending: Sending, agent_id: int | None,
                 app_limits: RoomForAppMessages | None) -> None:
        self.sending = sending
        self.agent_id = agent_id
        self.app_limits = app_limits
        # WeCom's 10 a minute per corp (api.MOMENT_TASKS_PER_MINUTE) is the default; past
        # it WeCom answers 45009, which the client waits out
        self._pacer = Pacer(sending.settings.moment_per_minute)

    def _job_poll_s(self) -> float:
        """How soon a job is asked (again): 5 s, or sooner when tasks are checked sooner."""
        return max(min(JOB_POLL_S, self.sending.settings.check_after_minutes * 60), 0.05)

    async def handle(self, row: SendRow) -> None:
        if row.status == S.CREATED:
            await self.follow(row)
        elif row.status == S.UNKNOWN:
            await self.reconcile(row)
        else:
            await self.create(row)

    async def create(self, row: SendRow) -> None:
        sending = self.sending
        await self._pacer.wait()
        if not await sending.start_call(row):
            return
        try:
            jobid = await api.add_moment_task(sending.wecom, row.body)
        except WeComUnanswered as exc:
            log.warning("outbox: no answer to moment %s (%s): checking before any retry",
                        row.key, exc.errmsg)
            await sending.db.write(lambda c: outbox.mark_retry(
                c, row.id, sending.clock() + sending.settle_s, "no answer: checking",
                was=S.SENDING, status=S.UNKNOWN))
            return
        except WeComError as exc:
            if exc.errcode == api.TOO_MANY_MOMENT_JOBS:  # nothing made: the same call later
                busy = f"{exc.errcode}: {exc.errmsg}"
                await sending.db.write(lambda c: outbox.mark_retry(
                    c, row.id, sending.clock() + BUSY_RETRY_S, busy, was=S.SENDING))
                return
            await sending.failed_call(row, exc)
            return
        await self._created(row, S.SENDING, jobid, "")

    async def _created(self, row: SendRow, was: SendStatus, jobid: str, moment_id: str) -> None:
        sending = self.sending
        now = sending.clock()
        sending.stats.created += 1

        def write(conn: Any) -> None:
            outbox.mark_created(conn, row.id, jobid or moment_id, now,
                                now + self._job_poll_s(), was=was)
            records.record_job(conn, row.id, jobid, now)
            if moment_id:
                self._record_moment(conn, row, moment_id, {})

        await sending.db.write(write)

    def _record_moment(self, conn: Any, row: SendRow, moment_id: str,
                       result: dict[str, Any]) -> None:
        senders = list(row.body.get("visible_range", {}).get("sender_list", {})
                       .get("user_list", []))
        records.record_result(
            conn, row.id, moment_id=moment_id, errcode=0, senders=senders,
            invalid_senders=(result.get("invalid_sender_list") or {}).get("user_list", []),
            invalid_tags=(result.get("invalid_external_contact_list") or {}).get("tag_list",
                                                                                 []),
            at=self.sending.clock())

    # -- a lost answer ---------------------------------------------------------------------

    async def reconcile(self, row: SendRow) -> None:
        """Did an unanswered add_moment_task make the moment? Ask WeCom, then decide."""
        found = await self.sending.look_up(row, lambda: self._find_moment(row))
        if found:
            await self._created(row, S.UNKNOWN, "", found)

    async def _find_moment(self, row: SendRow) -> str:
        wecom, body = self.sending.wecom, row.body
        listed = await api.get_moment_list(wecom, int(row.created_at) - 60,
                                           int(self.sending.clock()) + 60)
        text = (body.get("text") or {}).get("content", "")
        kinds = sorted(str(a.get("msgtype")) for a in body.get("attachments") or [])
        candidates = [str(m["moment_id"]) for m in listed if m.get("moment_id")
                      and (m.get("text") or {}).get("content", "") == text
                      and _listed_kinds(m) == kinds]
        known = await self.sending.db.read(lambda c: records.known_moment_ids(c, candidates))
        senders = set(body.get("visible_range", {}).get("sender_list", {}).get("user_list", []))
        for moment_id in candidates:
            if moment_id in known:
                continue
            tasks = await api.get_moment_task(wecom, moment_id)
            if {str(t.get("userid")) for t in tasks} <= senders:
                return moment_id
        return ""

    # -- following -------------------------------------------------------------------------

    async def follow(self, row: SendRow) -> None:
        sending = self.sending
        task = await sending.db.read(lambda c: records.task_of(c, row.id))
        try:
            if task is None or not task.moment_id:
                await self._poll_job(row, task.jobid if task else row.msgid)
            else:
                await self._follow_staff(row, task.moment_id)
        except WeComError as exc:
            now = sending.clock()
            note = f"{exc.errcode}: {exc.errmsg}"
            if now - (row.sent_at or row.created_at) >= sending.settings.follow_for_hours * 3600:
                await sending.db.write(lambda c: outbox.mark_final(  # e.g. the jobid expired
                    c, row.id, S.FAILED, now, was=S.CREATED, deliveries=None,
                    error=f"cannot follow: {note}"))
                return
            wait = 10.0 if exc.errcode == api.MOMENT_DISPATCHING else 60.0
            await sending.db.write(lambda c: outbox.mark_follow(
                c, row.id, now + wait, row.reminders, f"following: {note}"))

    async def _poll_job(self, row: SendRow, jobid: str) -> None:
        sending = self.sending
        now = sending.clock()
        answer = await api.get_moment_task_result(sending.wecom, jobid)
        if answer["status"] != api.JOB_DONE:
            await sending.db.write(lambda c: outbox.mark_follow(
                c, row.id, now + self._job_poll_s(), row.reminders, "job running"))
            return
        result = answer["result"]
        errcode = int(result.get("errcode", 0))
        if errcode:
            reason = f"{errcode}: {result.get('errmsg', '')}"
            sending.stats.failed += 1
            log.error("outbox: moment %s: WeCom's job failed: %s", row.key, reason)

            def failed(conn: Any) -> None:
                records.record_result(conn, row.id, moment_id="", errcode=errcode, senders=(),
                                      invalid_senders=(), invalid_tags=(), at=now)
                outbox.mark_final(conn, row.id, S.FAILED, now, was=S.CREATED,
                                  deliveries=None, error=reason)

            await sending.db.write(failed)
            return
        moment_id = str(result.get("moment_id", ""))
        check_s = sending.settings.check_after_minutes * 60

        def made(conn: Any) -> None:
            self._record_moment(conn, row, moment_id, result)
            outbox.mark_follow(conn, row.id, now + check_s, row.reminders, None)

        await sending.db.write(made)

    async def _follow_staff(self, row: SendRow, moment_id: str) -> None:
        sending, settings = self.sending, self.sending.settings
        now = sending.clock()
        tasks = await api.get_moment_task(sending.wecom, moment_id)
        posted = [str(t["userid"]) for t in tasks if int(t.get("publish_status", 0)) == 1]
        await sending.db.write(lambda c: records.mark_posted(c, row.id, posted, now))
        staff = await sending.db.read(lambda c: records.staff_of(c, row.id))
        due = [s for s in staff if s.status == records.DUE]
        age = now - (row.sent_at or row.created_at)
        if not due or age >= settings.follow_for_hours * 3600:
            sending.stats.followed += 1
            error = (f"{len(due)} staff did not post it: {', '.join(s.userid for s in due)}"
                     if due else None)

            def end(conn: Any) -> None:
                records.close(conn, row.id)
                outbox.mark_final(conn, row.id, S.DONE, now, was=S.CREATED, deliveries=None,
                                  error=error)

            await sending.db.write(end)
            return
        reminders = await self._remind(row, due, age)
        next_at = now + min(max(settings.check_after_minutes * 60, age / 2), 900.0)
        await sending.db.write(lambda c: outbox.mark_follow(c, row.id, next_at, reminders, None))

    async def _remind(self, row: SendRow, due: list[records.StaffRow], age: float) -> int:
        """An app message to the staff still due, spaced like 群发 reminders; the number of
        reminder rounds so far."""
        sending, settings = self.sending, self.sending.settings
        rounds = row.reminders
        remind_s = settings.remind_after_minutes * 60
        if rounds >= settings.max_reminders or age < remind_s * (rounds + 1):
            return rounds
        if self.agent_id is None:
            log.warning("outbox: moment %s: WECOM_AGENT_ID is not set, staff not reminded",
                        row.key)
            return rounds
        who = [s.userid for s in due]
        if self.app_limits is not None:
            for userid in who:
                await self.app_limits.wait_for_room(userid)
        body = {"touser": "|".join(who), "msgtype": "text", "agentid": self.agent_id,
                "text": {"content": reminder_text(row.body, rounds + 1)},
                "enable_duplicate_check": 1, "duplicate_check_interval": 1800}
        try:
            await sending.wecom.send_app_message(body)
        except WeComError as exc:
            log.warning("outbox: could not remind %s about moment %s: %s", who, row.key, exc)
            return rounds
        sending.stats.reminders += 1
        log.info("outbox: reminded %s to post moment %s (%d)", who, row.key, rounds + 1)
        at = sending.clock()
        await sending.db.write(lambda c: records.mark_reminded(c, row.id, who, at))
        return rounds + 1


def reminder_text(body: dict[str, Any], round_: int) -> str:
    """What a staff member reads: which post, and where to post it. Each round reads
    differently, so WeCom's duplicate check (meant for a resend of the same round) does not
    drop the next one."""
    text = str((body.get("text") or {}).get("content", "")).strip().replace("\n", " ")
    excerpt = text if len(text) <= 24 else text[:24] + "……"
    again = f"（第 {round_} 次提醒）" if round_ > 1 else ""
    return (f"总部的朋友圈任务你还没发表{again}：「{excerpt}」\n"
            "打开企业微信 → 工作台 → 客户朋友圈，点「发表」就能发出去，顾客等着看呢。")


def _listed_kinds(listed: dict[str, Any]) -> list[str]:
    kinds = ["image"] * len(listed.get("image") or [])
    kinds += [k for k in ("video", "link") if listed.get(k)]
    return sorted(kinds)
