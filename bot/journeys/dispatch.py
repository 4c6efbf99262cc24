"""At a step's time: its planned rows become outbox sends, once, or skipped with a reason.

One transaction per batch moves each step row planned → queued (guarded: a row another
replica or an earlier run moved is not moved again, and the batch is rolled back) and
writes the outbox sends the worker then makes: one one-to-one 群发 (add_msg_template,
chat_type single) per staff member, step and rendered text, at most 10,000 customers each,
or, for ``via: staff_task``, one app message per staff member listing today's follow-ups.
Customers who left since the morning are skipped and their reservation freed; a day the
bot was not running at all is recorded as missed, never sent late on another day.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.engine import Connection

from bot.db.engine import sql
from bot.journeys import rows
from bot.journeys.book import JourneyBook
from bot.journeys.bulk import run_values, select_in, update_in
from bot.journeys.facts import load_customers, needs
from bot.journeys.model import Journey, RenderedStep, Step
from bot.journeys.planner import stop_entries
from bot.journeys.render import StepRenderError, context, render_step
from bot.journeys.stops import EntryRow, sender_for, stop_reason
from bot.journeys.tasks import write_tasks
from bot.members.links import CustomerLinks
from bot.outbox.owner_posts import REMIND_VIA
from bot.outbox.status import DeliveryStatus, SendStatus

log = logging.getLogger(__name__)

MAX_CUSTOMERS_PER_SEND = 10_000  # add_msg_template external_userid limit (reference §4)
BATCH = 20_000  # planned rows handed over per transaction (by time, then staff member)
TASK_LINES = 15  # a staff task lists this many customers, then "等 N 位"


class DispatchConflict(RuntimeError):
    """Another planner moved some of these rows first: this batch is rolled back."""


@dataclass(frozen=True, slots=True)
class DueRow:
    step_row: int
    step: str
    slot_id: int
    due_day: str
    entry: EntryRow


@dataclass
class Dispatched:
    sends: int = 0
    customers: int = 0
    tasks: int = 0
    skipped: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    more: bool = False  # a full batch: call again


_DUE = sql(f"""
    SELECT s.id, s.step, s.slot_id, s.due_day,
           {', '.join('e.' + c for c in rows.ENTRY_COLUMNS.split(', '))}
    FROM journey_step s JOIN journey_entry e ON e.id = s.entry_id
    WHERE s.status = 'planned' AND s.due_at <= :now
    ORDER BY s.due_at, e.sender, s.id LIMIT :limit
""")  # noqa: S608 (constants only)
# "still planned", written as not any later status: with `status = 'planned'` SQLite walks
# the (status, due_at) index over every planned row of the day instead of the ids
_TAKE = ("UPDATE journey_step SET status = :status, updated_at = :at WHERE id IN {in} "
         "AND status NOT IN ('postponed', 'queued', 'task', 'skipped')")
_SEND_NEW = ("""
    INSERT INTO outbox_send (key, slot_id, via, sender, robot, store_id, payload, status,
                             attempts, next_at, created_at, msgid, reminders)
    VALUES {values} ON CONFLICT (key) DO NOTHING
""", "(?, ?, ?, ?, '', ?, ?, ?, 0, ?, ?, '', 0)")
_SEND_IDS = "SELECT key, id FROM outbox_send WHERE key IN {in}"
_RESERVE = ("""
    INSERT INTO outbox_delivery (slot_id, chat_id, send_id, via, slot_at, status, updated_at)
    VALUES {values} ON CONFLICT (slot_id, chat_id) DO NOTHING
""", "(?, ?, NULL, 'group_send', ?, ?, ?)")
_LINK = ("""
    UPDATE outbox_delivery SET send_id = v.column3, updated_at = :at
    FROM (VALUES {values}) AS v
    WHERE outbox_delivery.slot_id = v.column1 AND outbox_delivery.chat_id = v.column2
      AND outbox_delivery.send_id IS NULL
""", "(CAST(? AS BIGINT), CAST(? AS VARCHAR), CAST(? AS BIGINT))")


@dataclass
class _Handover:
    """What a batch writes, gathered first and written set-based (`flush`): a statement
    per few thousand rows, not a round trip per send and per customer (PostgreSQL took
    150 s for 16k sends that way)."""

    take: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    sends: dict[str, tuple[Any, ...]] = field(default_factory=dict)  # key -> row
    reserve: list[tuple[int, str]] = field(default_factory=list)  # (slot_id, customer)
    links: list[tuple[int, str, str]] = field(default_factory=list)  # (slot, customer, key)

    def send(self, key: str, slot_id: int, via: str, sender: str, store_id: str | None,
             body: dict[str, Any], now: float) -> str:
        key = key[:192]
        self.sends.setdefault(key, (key, slot_id, via, sender, store_id,
                                    json.dumps(body, ensure_ascii=False),
                                    str(SendStatus.QUEUED), now, now))
        return key

    def flush(self, conn: Connection, now: float) -> None:
        for status, ids in self.take.items():
            moved = update_in(conn, _TAKE, ids, {"status": status, "at": now})
            if moved != len(ids):
                raise DispatchConflict(f"{len(ids) - moved} rows taken by another planner")
        if self.sends:
            run_values(conn, _SEND_NEW[0], _SEND_NEW[1], list(self.sends.values()))
        queued = str(DeliveryStatus.QUEUED)
        run_values(conn, _RESERVE[0], _RESERVE[1],
                   [(slot, ext, now, queued, now) for slot, ext in self.reserve])
        if self.links:
            send_ids = {str(k): int(i) for k, i in
                        select_in(conn, _SEND_IDS, sorted({k for _, _, k in self.links}))}
            run_values(conn, _LINK[0], _LINK[1],
                       [(slot, ext, send_ids[key]) for slot, ext, key in self.links],
                       {"at": now})


def dispatch_due(conn: Connection, book: JourneyBook, now: float, today: date) -> Dispatched:
    """Hand every step due by `now` to the outbox (one write transaction)."""
    done = Dispatched()
    due = [DueRow(int(r[0]), str(r[1]), int(r[2]), str(r[3]), EntryRow(*r[4:]))
           for r in conn.execute(_DUE, {"now": now, "limit": BATCH})]
    done.more = len(due) == BATCH
    by_journey: dict[str, list[DueRow]] = defaultdict(list)
    for row in due:
        by_journey[row.entry.journey].append(row)
    for name, items in by_journey.items():
        journey = book.get(name)
        if journey is None:
            _skip(conn, items, "the journey was removed from the files", now, done)
            continue
        _dispatch_journey(conn, book, journey, items, now, today, done)
    return done


def _dispatch_journey(conn: Connection, book: JourneyBook, journey: Journey,
                      items: list[DueRow], now: float, today: date, done: Dispatched) -> None:
    missed = [i for i in items if date.fromisoformat(i.due_day) < today]
    _skip(conn, missed, "missed: the bot was not running that day", now, done)
    items = [i for i in items if date.fromisoformat(i.due_day) >= today]
    customers = load_customers(conn, (i.entry.external_userid for i in items),
                               **needs(journey))
    leaving: dict[int, tuple[EntryRow, str]] = {}
    for item in items:
        reason = stop_reason(journey, item.entry, customers[item.entry.external_userid])
        if reason is not None:
            leaving[item.entry.id] = (item.entry, reason)
    if leaving:
        stop_entries(conn, journey, list(leaving.values()), now)
        done.skipped["stopped"] += sum(1 for i in items if i.entry.id in leaving)
    staying = [i for i in items if i.entry.id not in leaving]
    groups: dict[tuple[str, str, str], list[tuple[DueRow, RenderedStep]]] = defaultdict(list)
    rendered_for: dict[tuple[str, ...], RenderedStep | StepRenderError] = {}
    for item in staying:
        step = journey.step(item.step)
        if step is None:
            _skip(conn, [item], "the step was removed from the journey", now, done)
            continue
        customer = customers[item.entry.external_userid]
        sender = sender_for(item.entry, customer)
        # rendered once per store, staff member and day, unless it names the customer
        key = (step.id, item.entry.store_id or "", sender, item.entry.entry_day,
               item.entry.external_userid if step.personal else "")
        if key not in rendered_for:
            rendered_for[key] = _render(book, journey, step, item, customer.name, sender)
        rendered = rendered_for[key]
        if isinstance(rendered, StepRenderError):
            _skip(conn, [item], f"render: {rendered}"[:200], now, done)
            continue
        # a staff task is one list per staff member and step, each customer's own text
        text_key = "" if journey.via == "staff_task" else rendered.key()
        groups[(item.step, sender, text_key)].append((item, rendered))
    out = _Handover()
    for (step_id, sender, _), members in groups.items():
        step = journey.step(step_id)
        assert step is not None
        _write_sends(conn, out, journey, step, sender, members, now, done)
    out.flush(conn, now)
    _finish(conn, journey, staying, now)


def _render(book: JourneyBook, journey: Journey, step: Step, item: DueRow, name: str,
            sender: str) -> RenderedStep | StepRenderError:
    scope = context(journey, step, customer=name or "您", staff=book.stores.staff_name(sender),
                    store=book.stores.get(item.entry.store_id or ""),
                    entered=date.fromisoformat(item.entry.entry_day),
                    questionnaire=CustomerLinks(book.links_base, item.entry.external_userid,
                                                sender))
    try:
        return render_step(book.templates, step, scope)
    except StepRenderError as exc:
        log.error("journey %s: %s", journey.name, exc)
        return exc


def _write_sends(conn: Connection, out: _Handover, journey: Journey, step: Step,
                 sender: str, members: list[tuple[DueRow, RenderedStep]], now: float,
                 done: Dispatched) -> None:
    status = "queued" if journey.via == "group_send" else "task"
    out.take[status].extend(m[0].step_row for m in members)
    first, rendered = members[0]
    if journey.via == "staff_task":
        _staff_task(conn, out, journey, step, sender, members, now)
        done.tasks += 1
        done.customers += len(members)
        return
    digest = hashlib.sha1(rendered.key().encode()).hexdigest()[:10]  # noqa: S324 (a label)
    for start in range(0, len(members), MAX_CUSTOMERS_PER_SEND):
        part = members[start:start + MAX_CUSTOMERS_PER_SEND]
        exts = [m[0].entry.external_userid for m in part]
        body: dict[str, Any] = {"chat_type": "single", "sender": sender,
                                "external_userid": exts}
        if rendered.text:
            body["text"] = {"content": rendered.text}
        if rendered.attachments:
            body["attachments"] = rendered.attachments
        key = (f"j|{journey.name}|{step.id}|{first.due_day}|{sender}|{digest}|"
               f"{start // MAX_CUSTOMERS_PER_SEND}")
        key = out.send(key, first.slot_id, "group_send", sender, first.entry.store_id, body,
                       now)
        out.reserve += ((first.slot_id, ext) for ext in exts)  # a reservation missing: add it
        out.links += ((m[0].slot_id, m[0].entry.external_userid, key) for m in part)
        done.sends += 1
        done.customers += len(part)


def _staff_task(conn: Connection, out: _Handover, journey: Journey, step: Step, sender: str,
                members: list[tuple[DueRow, RenderedStep]], now: float) -> None:
    """One app message to the staff member: who to follow up today, and how; each
    customer's text as a task the chat sidebar shows and sends (`bot.journeys.tasks`)."""
    first = members[0][0]
    write_tasks(conn, [{"step_row": m.step_row, "journey": journey.name, "step": step.id,
                        "ext": m.entry.external_userid, "sender": sender, "day": m.due_day,
                        "title": f"{journey.title}·第{step.day}天"[:128], "text": r.text,
                        "at": now,
                        "attachments": json.dumps(r.attachments, ensure_ascii=False)}
                       for m, r in members])
    names = load_customers(conn, (m[0].entry.external_userid for m in members))
    lines = [f"今日跟进：{journey.title}·第{step.day}天，{len(members)} 位顾客"]
    lines += [f"· {names[m[0].entry.external_userid].name or '顾客'}"
              for m in members[:TASK_LINES]]
    if len(members) > TASK_LINES:
        lines.append(f"……等 {len(members)} 位")
    lines.append(f"话术：{members[0][1].text[:300]}")
    lines.append("发送方法：打开与这位顾客的聊天，点聊天工具栏的「话术」侧边栏，在「今日跟进」"
                 "里点「发送跟进」，发出即记为已跟进。今天没发的记为未跟进。")
    body = {"touser": sender, "msgtype": "text", "text": {"content": "\n".join(lines)},
            "enable_duplicate_check": 1, "duplicate_check_interval": 1800}
    key = f"j|{journey.name}|{step.id}|{first.due_day}|task:{sender}"
    out.send(key, first.slot_id, REMIND_VIA, sender, first.entry.store_id, body, now)


def _skip(conn: Connection, items: list[DueRow], reason: str, now: float,
          done: Dispatched) -> None:
    if not items:
        return
    rows.skip_open_steps(conn, [(i.entry.id, i.step, reason) for i in items], now)
    done.skipped[reason.partition(":")[0]] += len(items)


def _finish(conn: Connection, journey: Journey, items: list[DueRow], now: float) -> None:
    """An entry ends when its last step (by day, or marked ``last``) has gone out."""
    final_day = journey.length_days
    ended = {i.entry.id for i in items
             if (s := journey.step(i.step)) is not None and (s.last or s.day == final_day)}
    rows.finish_entries(conn, list(ended), "last step", now)


def local_today(journey_zone: Any, now: float) -> date:
    return datetime.fromtimestamp(now, journey_zone).date()


__all__ = ["DispatchConflict", "Dispatched", "dispatch_due", "local_today"]
