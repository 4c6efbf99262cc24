"""The moments' rows in SQL (bot/moments/tables.py): a task's job and moment, each staff
member's part, and the sums operators read in ``sop report``. Plain functions of a
connection, like `bot.outbox.rows`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam
from sqlalchemy.engine import Connection

from bot.db.engine import sql
from bot.i18n import t

DUE, POSTED, UNPOSTED, INVALID = "due", "posted", "unposted", "invalid"


@dataclass(frozen=True, slots=True)
class TaskRow:
    send_id: int
    jobid: str
    moment_id: str
    errcode: int


@dataclass(frozen=True, slots=True)
class StaffRow:
    userid: str
    status: str
    reminders: int
    reminded_at: float | None


_JOB = sql("""
    INSERT INTO moment_task (send_id, jobid, moment_id, errcode, invalid_senders, invalid_tags,
                             created_at)
    VALUES (:send_id, :jobid, '', 0, '[]', '[]', :at)
    ON CONFLICT (send_id) DO UPDATE SET jobid = excluded.jobid, errcode = 0,
        invalid_senders = '[]', invalid_tags = '[]', created_at = excluded.created_at,
        result_at = NULL
    WHERE moment_task.moment_id = ''
""")
_TASK = sql("SELECT send_id, jobid, moment_id, errcode FROM moment_task WHERE send_id = :id")
_RESULT = sql("""
    UPDATE moment_task SET moment_id = :moment_id, errcode = :errcode,
        invalid_senders = :senders, invalid_tags = :tags, result_at = :at
    WHERE send_id = :send_id AND result_at IS NULL
""")
_STAFF_NEW = sql("""
    INSERT INTO moment_staff (send_id, userid, status, reminders)
    VALUES (:send_id, :userid, :status, 0)
    ON CONFLICT (send_id, userid) DO NOTHING
""")
_STAFF = sql("""SELECT userid, status, reminders, reminded_at FROM moment_staff
                WHERE send_id = :send_id ORDER BY id""")
_POSTED = sql("""
    UPDATE moment_staff SET status = 'posted', posted_seen_at = :at
    WHERE send_id = :send_id AND userid IN :userids AND status IN ('due', 'unposted')
""").bindparams(bindparam("userids", expanding=True))
_REMINDED = sql("""
    UPDATE moment_staff SET reminders = reminders + 1, reminded_at = :at
    WHERE send_id = :send_id AND userid IN :userids AND status = 'due'
""").bindparams(bindparam("userids", expanding=True))
_CLOSE = sql("UPDATE moment_staff SET status = 'unposted' WHERE send_id = :send_id "
             "AND status = 'due'")
_KNOWN = sql("SELECT moment_id FROM moment_task WHERE moment_id IN :ids").bindparams(
    bindparam("ids", expanding=True))


def record_job(conn: Connection, send_id: int, jobid: str, at: float) -> None:
    """add_moment_task answered: its job. A send retried after its job failed (an
    operator's retry in the console) gets the new job; a made moment is never replaced."""
    conn.execute(_JOB, {"send_id": send_id, "jobid": jobid, "at": at})


def task_of(conn: Connection, send_id: int) -> TaskRow | None:
    row = conn.execute(_TASK, {"id": send_id}).first()
    return None if row is None else TaskRow(int(row[0]), str(row[1]), str(row[2]), int(row[3]))


def record_result(conn: Connection, send_id: int, *, moment_id: str, errcode: int,
                  senders: Sequence[str], invalid_senders: Sequence[str],
                  invalid_tags: Sequence[str], at: float) -> None:
    """The job ended: its moment (or error), and one row per staff member to post it."""
    conn.execute(_RESULT, {"send_id": send_id, "moment_id": moment_id, "errcode": errcode,
                           "senders": json.dumps(list(invalid_senders)),
                           "tags": json.dumps(list(invalid_tags)), "at": at})
    if errcode or not senders:
        return
    bad = set(invalid_senders)
    conn.execute(_STAFF_NEW, [{"send_id": send_id, "userid": userid,
                               "status": INVALID if userid in bad else DUE}
                              for userid in senders])


def staff_of(conn: Connection, send_id: int) -> list[StaffRow]:
    return [StaffRow(str(u), str(s), int(n), None if r is None else float(r))
            for u, s, n, r in conn.execute(_STAFF, {"send_id": send_id})]


def mark_posted(conn: Connection, send_id: int, userids: Iterable[str], at: float) -> None:
    """They posted it (first seen now); a second call changes nothing."""
    ids = list(userids)
    if ids:
        conn.execute(_POSTED, {"send_id": send_id, "userids": ids, "at": at})


def mark_reminded(conn: Connection, send_id: int, userids: Iterable[str], at: float) -> None:
    ids = list(userids)
    if ids:
        conn.execute(_REMINDED, {"send_id": send_id, "userids": ids, "at": at})


def close(conn: Connection, send_id: int) -> None:
    """Followed to the end: who has still not posted is recorded as not posted."""
    conn.execute(_CLOSE, {"send_id": send_id})


def known_moment_ids(conn: Connection, moment_ids: Sequence[str]) -> set[str]:
    if not moment_ids:
        return set()
    return {str(r[0]) for r in conn.execute(_KNOWN, {"ids": list(moment_ids)})}


# -- for operators -----------------------------------------------------------------------

_TASKS = sql("""
    SELECT s.sop, s.slot_local, o.status, COUNT(*)
    FROM outbox_send o JOIN sop_slot s ON s.id = o.slot_id
    WHERE o.via = 'moment' AND s.slot_at >= :start AND s.slot_at < :end
    GROUP BY s.sop, s.slot_local, o.status
""")
_STAFF_SUMS = sql("""
    SELECT s.sop, s.slot_local, m.status, COUNT(*), SUM(m.reminders)
    FROM moment_staff m JOIN outbox_send o ON o.id = m.send_id
    JOIN sop_slot s ON s.id = o.slot_id
    WHERE s.slot_at >= :start AND s.slot_at < :end AND m.status <> 'invalid'
    GROUP BY s.sop, s.slot_local, m.status
""")


@dataclass
class SlotMoments:
    """One moment slot for operators: tasks (one per store), staff who posted or not."""

    sop: str
    slot_local: str
    tasks: int = 0
    tasks_failed: int = 0
    staff: int = 0
    posted: int = 0
    unposted: int = 0  # followed to the end without posting
    reminders: int = 0

    @property
    def due(self) -> int:
        return self.staff - self.posted - self.unposted

    def line(self) -> str:
        failed = t("report.moment_failed", count=self.tasks_failed) if self.tasks_failed else ""
        late = t("report.moment_unposted", count=self.unposted) if self.unposted else ""
        return t("report.moment", tasks=self.tasks, failed=failed, staff=self.staff,
                 posted=self.posted, due=self.due, late=late, reminders=self.reminders)


def report(conn: Connection, start: float, end: float) -> list[SlotMoments]:
    """Per moment slot in [start, end): tasks, staff due vs posted, reminders sent."""
    slots: dict[tuple[str, str], SlotMoments] = {}
    params = {"start": start, "end": end}
    for sop, local, status, n in conn.execute(_TASKS, params):
        entry = slots.setdefault((str(sop), str(local)), SlotMoments(str(sop), str(local)))
        entry.tasks += int(n)
        if status == "failed":
            entry.tasks_failed += int(n)
    for sop, local, status, n, reminders in conn.execute(_STAFF_SUMS, params):
        entry = slots.setdefault((str(sop), str(local)), SlotMoments(str(sop), str(local)))
        entry.staff += int(n)
        entry.reminders += int(reminders or 0)
        if status == POSTED:
            entry.posted += int(n)
        elif status == UNPOSTED:
            entry.unposted += int(n)
    return sorted(slots.values(), key=lambda s: (s.slot_local, s.sop))
