"""What journeys will do, read from the database without changing it.

``--customer``: where this customer is in each journey, what they got, what comes in the
next days (rendered as they will read it) and what would take them out; steps the operator
added behind them, removed, or reworded show up here, since progress is keyed by step id.
``--date``: the planner itself in dry mode (`plan_journey(dry=...)`), so the counts per
step and staff member, and what the daily allowance postpones, are the real plan's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import date, datetime, timedelta

from sqlalchemy.engine import Connection

from bot.db.engine import sql
from bot.journeys import tasks
from bot.journeys.book import JourneyBook
from bot.journeys.facts import Customer, load_customers
from bot.journeys.model import Journey
from bot.journeys.planner import plan_journey
from bot.journeys.render import StepRenderError, context, render_step
from bot.journeys.stops import EntryRow, sender_for, stop_reason
from bot.members.links import sample_link

_ENTRIES = sql("SELECT id, journey, external_userid, entry_day, entered_at, sender, store_id, "
               "status, reason, event FROM journey_entry WHERE external_userid = :ext "
               "ORDER BY entered_at")
_STEPS = sql("""SELECT s.entry_id, s.step, s.status, s.reason, s.due_day, d.status
                FROM journey_step s LEFT JOIN outbox_delivery d
                  ON d.slot_id = s.slot_id AND d.chat_id = s.external_userid
                WHERE s.external_userid = :ext ORDER BY s.due_at""")


def customer_preview(conn: Connection, book: JourneyBook, ext: str, today: date,
                     days: int) -> list[str]:
    customer = load_customers(conn, [ext])[ext]
    lines = [f"{customer.name or ext} · 门店 {customer.store_id or '-'} · "
             f"{customer.status} · 标签 {', '.join(sorted(customer.tags)) or '-'}"]
    steps: dict[int, list[tuple[str, str, str, str, str | None]]] = {}
    for entry_id, *rest in conn.execute(_STEPS, {"ext": ext}):
        steps.setdefault(int(entry_id), []).append(tuple(rest))  # type: ignore[arg-type]
    found = list(conn.execute(_ENTRIES, {"ext": ext}))
    if not found:
        lines.append("  not in any journey")
    for row in found:
        entry = EntryRow(*row[:7])
        status, reason, event = str(row[7]), str(row[8]), str(row[9])
        journey = book.get(entry.journey)
        lines += _entry_lines(book, journey, entry, status, reason, event, customer,
                              steps.get(entry.id, []), today, days)
    return lines


def _entry_lines(book: JourneyBook, journey: Journey | None, entry: EntryRow, status: str,
                 reason: str, event: str, customer: Customer,
                 had: list[tuple[str, str, str, str, str | None]], today: date,
                 days: int) -> list[str]:
    entered = date.fromisoformat(entry.entry_day)
    head = f"{entry.journey}: entered {entered} ({event})"
    if status != "active":
        head += f", {status}" + (f": {reason}" if reason else "")
    else:
        head += f", today is day {(today - entered).days}"
    lines = [head]
    for step, st, why, due_day, delivered in had:
        outcome = delivered if st == "queued" and delivered else st
        lines.append(f"  {due_day} {step}: {outcome}" + (f" ({why})" if why else ""))
    if journey is None:
        return [*lines, "  this journey is no longer in the files: nothing more is sent"]
    recorded = {step for step, *_ in had}
    lines += [f"  {step}: no longer in the file (nothing more for it)"
              for step in sorted(recorded - {s.id for s in journey.steps})]
    if status != "active":
        return lines
    lines += _upcoming(book, journey, entry, customer, recorded, today, days)
    leaving = stop_reason(journey, entry, customer)
    if leaving:
        lines.append(f"  leaves at the next plan: {leaving}")
    lines.append(f"  leaves if: {_rules(journey, entry)}")
    return lines


def _upcoming(book: JourneyBook, journey: Journey, entry: EntryRow, customer: Customer,
              recorded: set[str], today: date, days: int) -> list[str]:
    entered = date.fromisoformat(entry.entry_day)
    sender = sender_for(entry, customer)
    lines: list[str] = []
    for step in journey.steps:
        if step.id in recorded:
            continue
        when = journey.step_time(entered, step)
        if when.date() < today:
            lines.append(f"  {step.id} (day {step.day}) is behind them: added after their "
                         f"day {step.day}, they will not get it")
            continue
        if when.date() >= today + timedelta(days=days):
            continue
        scope = context(journey, step, customer=customer.name or "您", staff=book.stores
                        .staff_name(sender), store=book.stores.get(entry.store_id or ""),
                        entered=entered, questionnaire=sample_link)
        try:
            text = render_step(book.templates, step, scope).text.replace("\n", " ")
        except StepRenderError as exc:
            text = f"(does not render: {exc})"
        how = "群发 from" if journey.via == "group_send" else "staff task for"
        lines.append(f"  {when:%Y-%m-%d %H:%M} day {step.day} {step.id} ({how} {sender}): "
                     f"{text[:80]}")
    return lines


def _rules(journey: Journey, entry: EntryRow) -> str:
    rules = []
    if journey.stop.purchase:
        rules.append("buys")
    rules += [f"gets the tag {t}" for t in journey.stop.tags]
    if journey.stop.left_groups:
        rules.append("leaves the store groups")
    if journey.stop.staff_deleted:
        rules.append(f"deletes {entry.sender}")
    last = [s.id for s in journey.steps if s.last]
    rules.append(f"after {', '.join(last) if last else 'the last step'}")
    return "; ".join(rules)


def date_preview(conn: Connection, book: JourneyBook, day: date,
                 claims: Mapping[str, frozenset[str]]) -> list[str]:
    """Per journey and step on local `day`: customers, staff, postponed and skipped."""
    now = datetime.combine(day, datetime.min.time(),
                           book.enabled()[0].timezone if book.enabled() else None).timestamp()
    taken: dict[str, int] = {}
    lines = [f"journeys on {day} (each customer: {book.allowance.per_day} 群发 a day; "
             f"precedence: {', '.join(book.allowance.precedence) or '-'})"]
    for journey in book.enabled():
        result = plan_journey(conn, book, journey, day, now, claims, dry=taken)
        for step in journey.steps:
            n = result.planned.get(step.id, 0)
            if not n:
                continue
            staff = ", ".join(f"{book.stores.staff_name(s)}({s}) {c}"
                              for s, c in result.staff[step.id].most_common(5))
            more = len(result.staff[step.id]) - 5
            lines.append(f"  {step.at:%H:%M} {journey.name}/{step.id} (day {step.day}): "
                         f"{n} customers · {staff}{f' … +{more} staff' if more > 0 else ''}")
        if result.postponed or result.skipped:
            lines.append(f"  {journey.name}: {result.postponed} postponed by the allowance, "
                         f"skipped {dict(result.skipped) or 0}")
    if len(lines) == 1:
        lines.append("  nothing due")
    return lines + _task_lines(conn, book, day)


def _task_lines(conn: Connection, book: JourneyBook, day: date) -> list[str]:
    """The day's staff tasks (``via: staff_task``): sent from the sidebar, missed, due."""
    found = tasks.tally(conn, day)
    lines = [f"staff tasks on {day} (sent from the chat sidebar):"] if found.counts else []
    for (journey, step), counts in sorted(found.counts.items()):
        unsent = ", ".join(f"{book.stores.staff_name(s)}({s}) {c}"
                           for s, c in found.staff.get((journey, step), Counter()).most_common(5))
        lines.append(f"  {journey}/{step}: {counts['sent']} sent, {counts['missed']} missed, "
                     f"{counts['due']} still due" + (f" · not sent: {unsent}" if unsent else ""))
    return lines
