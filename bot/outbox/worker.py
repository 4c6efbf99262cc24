"""The outbox worker: makes each planned WeCom call once, then follows it to its outcome.

A send row moves queued → sending → created → done (group send) or queued → sending → done
(robot). `sending` is committed *before* the call goes out, so after a crash the worker
knows which calls may have reached WeCom. For a 群发 it then asks WeCom
(get_groupmsg_list_v2) whether the task exists before calling again; a robot post cannot be
looked up, so it is recorded as `uncertain` and never repeated: a group that may have got a
message twice is worse, for a store manager, than one the operator is told may have missed.

Replicas (PostgreSQL): every replica runs a worker on the one queue. Due rows are leased in
batches with `FOR UPDATE SKIP LOCKED`, so workers asking together get different rows; the
per-row claims below still decide who makes a call. Calls left `sending` by a replica that
died are taken over by a live one within `TAKE_OVER_EVERY_S` (then checked as above).

Owner-post reminders (via ``owner_remind``, one app message per owner and slot) are claimed
the same way (``sending`` before ``message/send``, ``done`` after). An app message cannot be
looked up, but WeCom can drop a repeat itself: every reminder goes out with
``enable_duplicate_check: 1`` and an interval that covers the slot's grace, so one whose
answer was lost (or whose process died mid-call) is sent again with the same content while
the interval still covers the first attempt, and WeCom delivers it at most once. Past that,
it is recorded ``uncertain`` and not repeated, like a robot post.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy.engine import Connection

from bot.config import SopSettings
from bot.db.engine import Database
from bot.outbox import rows as outbox
from bot.outbox.owner_posts import REMIND_VIA
from bot.outbox.rows import SendRow
from bot.wecom import errors
from bot.wecom.client import WeComClient
from bot.wecom.errors import WeComError, WeComTransientError, WeComUnanswered
from bot.wecom.ratelimit import SlidingWindow

log = logging.getLogger(__name__)

LEASE_S = 120.0  # a claimed row is not looked at again for this long (unless updated)
TAKE_OVER_EVERY_S = 2.0  # PostgreSQL: how often calls orphaned by a dead replica are looked for
MAX_ATTEMPTS = 8  # transient failures (busy, rate-limited, unreachable) before giving up
ROBOT_PER_MINUTE = 20  # reference §5.2: 20 messages a minute per robot
RESEND_MARGIN_S = 60.0  # a reminder is resent only this long before its duplicate check ends
# WeCom's send_result status per group → our delivery status
RESULT_STATUS = {1: "sent", 3: "quota_exceeded", 2: "failed", 0: "unsent"}


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


class RoomForAppMessages(Protocol):
    """What the worker needs of `bot.replies.messenger.AppMessenger`: the per-member limit."""

    async def wait_for_room(self, userid: str) -> None: ...


class DeliveryWorker:
    """Runs in the bot's event loop; `wake()` after planning a slot."""

    def __init__(self, db: Database, wecom: WeComClient, settings: SopSettings,
                 robot_key: Callable[[str], str | None], *, request_timeout_s: float = 10.0,
                 robot_window_s: float = 60.0, clock: Callable[[], float] = time.time,
                 replica_id: str = "", agent_id: int | None = None,
                 app_limits: RoomForAppMessages | None = None) -> None:
        self.db = db
        self.agent_id = agent_id
        self.app_limits = app_limits
        self.replica_id = replica_id
        self.wecom = wecom
        self.settings = settings
        self.robot_key = robot_key
        self.clock = clock
        self.stats = DeliveryStats()
        self._settle_s = max(2 * request_timeout_s, 1.0)  # an unanswered call has ended by then
        self._robot_window_s = robot_window_s
        self._pacer = Pacer(settings.send_per_minute)
        self._slots = asyncio.Semaphore(settings.send_concurrency)
        self._robots: dict[str, SlidingWindow] = {}
        self._wake = asyncio.Event()
        self._in_flight: set[int] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None

    # -- life --------------------------------------------------------------------------

    def start(self) -> None:
        self._runner = asyncio.get_running_loop().create_task(self._run(), name="sop-outbox")

    def wake(self) -> None:
        self._wake.set()

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop taking work; let calls in flight finish for `grace_s`, then cancel them.

        A cancelled call stays `sending` in the database and is checked at the next start.
        """
        if self._runner is not None:
            self._runner.cancel()
            await asyncio.gather(self._runner, return_exceptions=True)
            self._runner = None
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _run(self) -> None:
        await self.recover()
        last_take_over = time.monotonic()
        while True:
            if self.db.is_postgres and time.monotonic() - last_take_over >= TAKE_OVER_EVERY_S:
                last_take_over = time.monotonic()
                await self.recover()
            if self.db.is_postgres:
                rows = await self.db.write(self._lease_due)
            else:
                rows = await self.db.read(self._due)
            fresh = [r for r in rows if r.id not in self._in_flight]
            for row in fresh:
                await self._slots.acquire()
                self._in_flight.add(row.id)
                task = asyncio.get_running_loop().create_task(self._handle(row))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            if not fresh:
                await self._idle()

    def _due(self, conn: Connection) -> list[SendRow]:
        return outbox.due_sends(conn, self.clock(), 4 * self.settings.send_concurrency)

    def _lease_due(self, conn: Connection) -> list[SendRow]:
        limit = 4 * self.settings.send_concurrency
        # long enough for the batch to get through the pacer; a dead replica's lease only
        # delays its rows by this much
        lease = max(30.0, 2 * limit * self._pacer.interval)
        now = self.clock()
        return outbox.lease_due(conn, now, limit, now + lease, self.replica_id)

    async def _idle(self) -> None:
        """Sleep until woken, or until the next row falls due (at most 5 s: a safety net)."""
        next_at = await self.db.read(outbox.next_due)
        cap = TAKE_OVER_EVERY_S if self.db.is_postgres else 5.0
        delay = cap if next_at is None else min(max(next_at - self.clock(), 0.05), cap)
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def recover(self) -> None:
        """Calls that were going out when their process died (an earlier run of this bot,
        or another replica): never the calls a live replica has in flight."""
        me = self.replica_id
        now = self.clock()
        if self.db.is_postgres:
            released = await self.db.write(
                lambda c: outbox.release_orphaned_leases(c, me, now))
            if released:
                log.info("outbox: %d queued calls leased by a stopped replica are due again",
                         released)
        rows = await self.db.read(lambda c: outbox.orphaned_sends(c, me))
        taken = 0
        for row in rows:
            if row.via == "group_send":  # look it up once anything in flight has ended
                taken += await self.db.write(lambda c, r=row: outbox.take_over(
                    c, r, me, "unknown", now + self._settle_s, "no answer: checking"))
            elif row.via == REMIND_VIA:
                if self._may_resend(row, now):  # WeCom's duplicate check drops a repeat
                    taken += await self.db.write(lambda c, r=row: outbox.take_over(
                        c, r, me, "queued", now, "process stopped during the call: resend"))
                elif await self.db.write(lambda c, r=row: self._robot_uncertain(c, r, now)):
                    taken += 1
                    self.stats.uncertain += 1
            elif await self.db.write(lambda c, r=row: self._robot_uncertain(c, r, now)):
                taken += 1
                self.stats.uncertain += 1
                log.warning("robot post %s may or may not have gone out before its process "
                            "stopped: recorded as uncertain, not repeated", row.key)
        if taken:
            log.info("outbox: %d calls interrupted by a stopped process are being checked",
                     taken)

    def _robot_uncertain(self, conn: Connection, row: SendRow, now: float) -> bool:
        if not outbox.take_over(conn, row, self.replica_id, "sending", row.next_at,
                                "process stopped during the call"):
            return False
        outbox.mark_final(conn, row.id, "uncertain", now, deliveries="uncertain",
                          error="process stopped during the call")
        return True

    async def _handle(self, row: SendRow) -> None:
        try:
            # A queued row is claimed by mark_sending itself (status must still be queued);
            # others take a lease, so a stale read cannot work on them twice.
            lease = self.clock() + LEASE_S
            if row.status != "queued" and not await self.db.write(
                    lambda c: outbox.claim(c, row, lease)):
                return  # read before another round changed it: that round has it
            if row.status == "created":
                await self._follow(row)
            elif row.status == "unknown":
                await self._reconcile(row)
            elif row.via == "group_send":
                await self._create(row)
            elif row.via == REMIND_VIA:
                await self._remind(row)
            else:
                await self._post_robot(row)
        except asyncio.CancelledError:
            raise
        except Exception:  # one bad row must not stop the worker; it is retried later
            log.exception("outbox: send %s failed unexpectedly", row.key)
            await self.db.write(lambda c: outbox.mark_follow(
                c, row.id, self.clock() + 60, row.reminders, "internal error, retrying"))
        finally:
            self._in_flight.discard(row.id)
            self._slots.release()
            self._wake.set()

    # -- 群发 --------------------------------------------------------------------------

    async def _create(self, row: SendRow) -> None:
        await self._pacer.wait()
        at = self.clock()
        if not await self.db.write(lambda c: outbox.mark_sending(c, row.id, at, self.replica_id)):
            return
        try:
            data = await self.wecom.add_msg_template(row.body)
        except WeComUnanswered as exc:
            log.warning("outbox: no answer to the 群发 of %s (%s): checking before any retry",
                        row.key, exc.errmsg)
            await self.db.write(lambda c: self._to_check(c, row, self.clock()))
            return
        except WeComError as exc:
            await self._failed_call(row, exc)
            return
        await self._created(row, str(data.get("msgid", "")), data.get("fail_list") or [])

    async def _created(self, row: SendRow, msgid: str, fail_list: list[Any]) -> None:
        now = self.clock()
        self.stats.created += 1
        failed = [str(x) for x in fail_list]
        if failed:
            log.warning("outbox: 群发 %s: WeCom refused %d groups: %s", row.key, len(failed),
                        ", ".join(failed[:5]))
        next_at = now + self.settings.check_after_minutes * 60
        await self.db.write(lambda c: outbox.mark_created(c, row.id, msgid, now, next_at, failed))

    def _to_check(self, conn: Connection, row: SendRow, now: float) -> None:
        """Park a call that may have gone out; `_reconcile` looks it up once it has ended."""
        outbox.mark_retry(conn, row.id, now + self._settle_s, "no answer: checking")
        outbox.set_send_status(conn, row.id, "unknown")

    async def _reconcile(self, row: SendRow) -> None:
        """Did an unanswered add_msg_template create the task? Ask WeCom, then decide.

        Messages created through the API are listed without their creator, so a candidate
        is one with the same text and attachments in the time window that no other send of
        ours owns, and whose task belongs to this send's owner.
        """
        body = row.body
        # The call went out after the send was planned; a restart long after the crash must
        # still look back that far (a window from "now" would miss it and send it again).
        since = int(row.created_at) - 60
        try:
            listed = await self.wecom.get_groupmsg_list_v2(
                since, int(self.clock()) + 60, chat_type=body.get("chat_type", "group"))
            candidates = [str(m["msgid"]) for m in listed
                          if m.get("msgid") and _same_content(m, body)]
            known = await self.db.read(lambda c: outbox.known_msgids(c, candidates))
            found = ""
            for msgid in candidates:
                if msgid in known:
                    continue
                tasks = await self.wecom.get_groupmsg_task(msgid)
                if any(t.get("userid") == row.sender for t in tasks):
                    found = msgid
                    break
        except WeComError as exc:
            log.warning("outbox: cannot check %s yet (%s)", row.key, exc)
            note = f"checking: {exc.errmsg}"
            await self.db.write(lambda c: outbox.mark_follow(
                c, row.id, self.clock() + 30, row.reminders, note))
            return
        if found:
            self.stats.reconciled_found += 1
            log.info("outbox: %s had been created (msgid %s): not sent again", row.key, found)
            await self._created(row, found, [])
            return
        self.stats.reconciled_absent += 1
        log.info("outbox: %s had not reached WeCom: sending it", row.key)
        await self.db.write(lambda c: outbox.mark_retry(c, row.id, self.clock(), "resend"))

    async def _follow(self, row: SendRow) -> None:
        """Has the owner sent the task? Then record each group's result; else remind."""
        now = self.clock()
        try:
            tasks = await self.wecom.get_groupmsg_task(row.msgid)
            mine = [t for t in tasks if t.get("userid") == row.sender]
            if any(int(t.get("status", 0)) == 2 for t in mine):
                results = await self.wecom.get_groupmsg_send_result(row.msgid, row.sender)
                # a group's result names its chat_id, a customer's their external_userid
                per_chat = {str(r.get("chat_id") or r["external_userid"]):
                            RESULT_STATUS.get(int(r.get("status", 0)), "failed")
                            for r in results if r.get("chat_id") or r.get("external_userid")}
                self.stats.followed += 1
                await self.db.write(lambda c: outbox.mark_final(
                    c, row.id, "done", now, deliveries="unsent", per_chat=per_chat))
                return
        except WeComError as exc:
            wait = 10.0 if exc.errcode == errors.GROUPMSG_DISPATCHING else 60.0
            note = f"following: {exc.errmsg}"
            await self.db.write(lambda c: outbox.mark_follow(
                c, row.id, now + wait, row.reminders, note))
            return
        sent_at = row.sent_at or row.created_at
        age = now - sent_at
        settings = self.settings
        if age >= settings.follow_for_hours * 3600:
            self.stats.followed += 1
            await self.db.write(lambda c: outbox.mark_final(
                c, row.id, "done", now, deliveries="unsent",
                error=f"owner {row.sender} did not send it"))
            return
        reminders = row.reminders
        remind_s = settings.remind_after_minutes * 60
        if reminders < settings.max_reminders and age >= remind_s * (reminders + 1):
            try:
                await self.wecom.remind_groupmsg_send(row.msgid)
                reminders += 1
                self.stats.reminders += 1
                log.info("outbox: reminded %s to send %s (%d)", row.sender, row.key, reminders)
            except WeComError as exc:
                log.warning("outbox: could not remind %s about %s: %s", row.sender, row.key, exc)
        check_s = settings.check_after_minutes * 60
        next_at = now + min(max(check_s, age / 2), 900.0)
        await self.db.write(lambda c: outbox.mark_follow(c, row.id, next_at, reminders, None))

    # -- robots ------------------------------------------------------------------------

    async def _post_robot(self, row: SendRow) -> None:
        key = self.robot_key(row.robot)
        if not key:
            await self._final_failure(row, f"robot {row.robot}: its webhook key is not set")
            return
        window = self._robots.get(row.robot)
        if window is None:
            # a little longer than WeCom's minute: its clock starts when our post arrives
            window = self._robots[row.robot] = SlidingWindow(
                ROBOT_PER_MINUTE, self._robot_window_s * 1.02 + 0.05)
        await window.acquire()  # wait for the robot's minute to have room: never fail for it
        at = self.clock()
        if not await self.db.write(lambda c: outbox.mark_sending(c, row.id, at, self.replica_id)):
            return
        try:
            await self.wecom.robot_send(key, row.body)
        except WeComUnanswered:
            self.stats.uncertain += 1
            log.warning("outbox: no answer to robot post %s: recorded as uncertain, "
                        "not repeated", row.key)
            await self.db.write(lambda c: outbox.mark_final(
                c, row.id, "uncertain", self.clock(), deliveries="uncertain",
                error="no answer from WeCom"))
            return
        except WeComError as exc:
            await self._failed_call(row, exc)
            return
        self.stats.robot_posts += 1
        await self.db.write(lambda c: outbox.mark_final(
            c, row.id, "done", self.clock(), deliveries="sent"))

    # -- owner-post reminders (message/send) ---------------------------------------------

    @staticmethod
    def _may_resend(row: SendRow, now: float) -> bool:
        """Is a first attempt still inside WeCom's duplicate check? It went out after the
        row was planned, so `created_at` + interval bounds it from below."""
        interval = float(row.body.get("duplicate_check_interval", 1800))
        return now - row.created_at < interval - RESEND_MARGIN_S

    async def _remind(self, row: SendRow) -> None:
        if self.agent_id is None:
            await self._final_failure(row, "WECOM_AGENT_ID is not set: message/send needs "
                                           "the app's agentid")
            return
        if self.app_limits is not None:
            await self.app_limits.wait_for_room(row.sender)  # §5.2: never past 30/min, 1000/h
        at = self.clock()
        if not await self.db.write(lambda c: outbox.mark_sending(c, row.id, at, self.replica_id)):
            return
        if row.attempts:
            self.stats.owner_resends += 1
        body = {**row.body, "agentid": self.agent_id}
        try:
            data = await self.wecom.send_app_message(body)
        except WeComUnanswered:
            now = self.clock()
            if self._may_resend(row, now):
                log.warning("outbox: no answer to reminder %s: sending it again (WeCom's "
                            "duplicate check drops it if the first one arrived)", row.key)
                await self.db.write(lambda c: outbox.mark_retry(
                    c, row.id, now + self._settle_s, "no answer: resend with duplicate check"))
                return
            self.stats.uncertain += 1
            await self.db.write(lambda c: outbox.mark_final(
                c, row.id, "uncertain", now, deliveries=None, error="no answer from WeCom"))
            return
        except WeComError as exc:
            await self._failed_call(row, exc)
            return
        self.stats.owner_reminders += 1
        if data.get("invaliduser"):
            log.warning("outbox: reminder %s: WeCom does not know %s", row.key,
                        data["invaliduser"])
        msgid = str(data.get("msgid", ""))
        await self.db.write(lambda c: self._reminded(c, row.id, msgid))

    def _reminded(self, conn: Connection, send_id: int, msgid: str) -> None:
        now = self.clock()
        outbox.mark_created(conn, send_id, msgid, now, now)  # records msgid and sent_at
        outbox.mark_final(conn, send_id, "done", now, deliveries=None)

    # -- failures ----------------------------------------------------------------------

    async def _failed_call(self, row: SendRow, exc: WeComError) -> None:
        """WeCom answered with an error: nothing was created, so trying again is safe."""
        attempts = row.attempts + 1
        if isinstance(exc, WeComTransientError) and attempts < MAX_ATTEMPTS:
            self.stats.retries += 1
            delay = min(2.0**attempts, 300.0)
            log.warning("outbox: %s: %s; retry %d in %.0fs", row.key, exc, attempts, delay)
            await self.db.write(lambda c: outbox.mark_retry(
                c, row.id, self.clock() + delay, f"{exc.errcode}: {exc.errmsg}"))
            return
        await self._final_failure(row, f"{exc.errcode}: {exc.errmsg}")

    async def _final_failure(self, row: SendRow, reason: str) -> None:
        self.stats.failed += 1
        log.error("outbox: %s failed for good: %s", row.key, reason)
        await self.db.write(lambda c: outbox.mark_final(
            c, row.id, "failed", self.clock(), deliveries="failed", error=reason))


def _same_content(listed: dict[str, Any], body: dict[str, Any]) -> bool:
    """A get_groupmsg_list_v2 entry carries the text and attachments it was created with."""
    text = (listed.get("text") or {}).get("content", "")
    return bool(text == (body.get("text") or {}).get("content", "")
                and (listed.get("attachments") or []) == (body.get("attachments") or []))
