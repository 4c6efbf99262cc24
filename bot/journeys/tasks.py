"""Staff tasks (``via: staff_task``): each customer's follow-up, sent from the chat sidebar.

At the step's time `bot.journeys.dispatch` moves the step rows to ``task``, writes one
`journey_task` row per customer (the text as rendered for them) and sends the staff member
one app message listing the day's follow-ups. The chat sidebar, opened on a customer's
chat, lists that customer's due tasks of the staff member (`due_for`); 「发送跟进」 sends the
text through the JS-SDK and records it (`mark_sent`: a guarded update, so a second click or
a replayed request records nothing more). The day's plan records the tasks of earlier days
still due as missed (`mark_missed`), with the step's reason, for ``journeys preview``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.engine import Connection

from bot.db.engine import sql
from bot.journeys.bulk import many

MISSED = "missed: not sent from the sidebar that day"
SENT = "sent from the sidebar"
SHOW_SENT_S = 12 * 3600

_NEW = """
    INSERT INTO journey_task (step_row, journey, step, external_userid, sender, day, title,
                              text, attachments, status, sent_at, updated_at)
    VALUES (:step_row, :journey, :step, :ext, :sender, :day, :title, :text, :attachments,
            'due', NULL, :at)
    ON CONFLICT (step_row) DO NOTHING
"""
_DUE = sql("""
    SELECT t.id, t.journey, t.step, t.day, t.text, t.attachments, t.status, t.sent_at,
           t.title
    FROM journey_task t
    WHERE t.sender = :sender AND t.external_userid = :ext
      AND (t.status = 'due' OR (t.status = 'sent' AND t.sent_at >= :since))
    ORDER BY t.status, t.day, t.id
""")
_SEND = sql("""UPDATE journey_task SET status = 'sent', sent_at = :at, updated_at = :at
               WHERE id = :id AND sender = :sender AND external_userid = :ext
                 AND status = 'due'""")
_ONE = sql("SELECT id, journey, step, day, text, attachments, status, sent_at, title, "
           "step_row FROM journey_task "
           "WHERE id = :id AND sender = :sender AND external_userid = :ext")
_STEP_REASON = sql("UPDATE journey_step SET reason = :reason, updated_at = :at "
                   "WHERE id = :row AND status = 'task'")
_MISS_STEPS = sql("""UPDATE journey_step SET reason = :reason, updated_at = :at
                     WHERE status = 'task' AND id IN (SELECT step_row FROM journey_task
                                                      WHERE status = 'due' AND day < :day)""")
_MISS = sql("UPDATE journey_task SET status = 'missed', updated_at = :at "
            "WHERE status = 'due' AND day < :day")
_TALLY = sql("SELECT journey, step, sender, status, COUNT(*) FROM journey_task "
             "WHERE day = :day GROUP BY journey, step, sender, status")


@dataclass(frozen=True, slots=True)
class Task:
    id: int
    journey: str
    step: str
    day: str
    text: str
    attachments: list[dict[str, Any]]
    status: str
    sent_at: float | None
    title: str

    @classmethod
    def of(cls, row: Any) -> Task:
        return cls(int(row[0]), str(row[1]), str(row[2]), str(row[3]), str(row[4]),
                   json.loads(row[5] or "[]"), str(row[6]), row[7], str(row[8]))


def write_tasks(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """One due task per customer: ``step_row, journey, step, ext, sender, day, title,
    text, attachments`` (JSON) and ``at``; a row already written is kept (a replayed hand-over)."""
    many(conn, _NEW, rows)


def due_for(conn: Connection, sender: str, ext: str, now: float) -> list[Task]:
    """The staff member's tasks for this customer: the due ones, then those sent in the
    last `SHOW_SENT_S` (shown as sent)."""
    return [Task.of(r) for r in conn.execute(_DUE, {"sender": sender, "ext": ext,
                                                    "since": now - SHOW_SENT_S})]


def mark_sent(conn: Connection, task_id: int, sender: str, ext: str, at: float
              ) -> tuple[Task | None, bool]:
    """(the task, whether this call recorded it). None: not this staff member's task for
    this customer. Sent before, or missed: the task as it is, nothing recorded."""
    params = {"id": task_id, "sender": sender, "ext": ext, "at": at}
    moved = conn.execute(_SEND, params).rowcount == 1
    row = conn.execute(_ONE, params).first()
    if row is None:
        return None, False
    if moved:
        conn.execute(_STEP_REASON, {"reason": SENT, "at": at, "row": int(row[9])})
    return Task.of(row), moved


def mark_missed(conn: Connection, today: date, at: float) -> int:
    """Tasks of days before `today` still due: missed (and their steps say so)."""
    params = {"day": today.isoformat(), "at": at}
    conn.execute(_MISS_STEPS, {**params, "reason": MISSED})
    return int(conn.execute(_MISS, params).rowcount or 0)


@dataclass
class TaskTally:
    """A day's staff tasks per (journey, step): due / sent / missed, and per staff member."""

    counts: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)
    staff: dict[tuple[str, str], Counter[str]] = field(default_factory=dict)


def tally(conn: Connection, day: date) -> TaskTally:
    out = TaskTally()
    for journey, step, sender, status, n in conn.execute(_TALLY, {"day": day.isoformat()}):
        out.counts.setdefault((journey, step), Counter())[status] += n
        if status != "sent":
            out.staff.setdefault((journey, step), Counter())[sender] += n
    return out
