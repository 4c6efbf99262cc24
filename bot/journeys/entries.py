"""Who enters a journey: the day's events, read from the bot's records, matched to entries.

Entry is idempotent: ``journey_entry`` is unique per (journey, customer, entry day) and a
customer with an entry still running (or, without ``again_after_days``, any entry at all)
does not enter again, so reading the same events twice after a restart changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Container, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.engine import Connection

from bot.db import pace
from bot.db.engine import driver_execute, sql
from bot.db.statements import Statements
from bot.journeys.facts import Customer, chunks, load_customers
from bot.journeys.model import Journey


@dataclass(frozen=True, slots=True)
class Happened:
    """One event of one customer: what may start a journey."""

    external_userid: str
    event: str
    at: float
    attrs: dict[str, Any] = field(default_factory=dict)
    store_id: str | None = None  # group_joined: the group's store
    sender: str = ""  # staff_added: the staff member added

    def key(self) -> int:
        """This event, as the sweep remembers it once decided (`Entered.decided`)."""
        return event_key(self.event, self.external_userid, self.at, self.sender,
                         self.store_id, str(self.attrs.get("tag", "")))


def event_key(event: str, external_userid: str, at: float, sender: str = "",
              store_id: str | None = None, tag: str = "") -> int:
    """A hash (64 bits; a sweep's window holds some hundred thousand events at most), also
    computed from a row before it becomes a `Happened` (`read_events`' `skip`)."""
    return hash((event, external_userid, at, sender, store_id, tag))


@dataclass(slots=True)
class Entered:
    """What the events start (`rows`, for `write_entries`) and which of the events are
    decided: entered, or turned away by what cannot change on a re-read (the event's own
    kind, tag, level or stage; the customer's channel, store and relation, recorded with
    the add; an entry they already have). An event turned away only for the customer's
    tags is not: the welcome marks the channel's tags a moment after the add."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    decided: list[int] = field(default_factory=list)


_READS = {
    "staff_added": sql("SELECT external_userid, added_at, userid FROM member_follow "
                       "WHERE added_at >= :since AND added_at < :until"),
    "group_joined": sql("SELECT l.member_id, l.at, g.store_id FROM group_member_log l "
                        "JOIN customer_group g ON g.chat_id = l.chat_id "
                        "WHERE l.action = 'join' AND l.at >= :since AND l.at < :until"),
    # only the tags a journey starts on: the welcome marks a few tags on every new friend
    "tag_added": sql("SELECT t.external_userid, t.added_at, g.group_name, g.name "
                     "FROM member_tag t JOIN tag g ON g.id = t.tag_id "
                     "WHERE t.added_at >= :since AND t.added_at < :until "
                     "AND g.name IN :names").bindparams(bindparam("names", expanding=True)),
    # by id, not time: the member data may report a purchase hours after it happened
    "member": sql("SELECT external_userid, at, event, attrs, id FROM member_event "
                  "WHERE id > :after ORDER BY id"),
}
_QUIET = sql("""
    SELECT external_userid, MAX(at),
           SUM(CASE WHEN at >= :year_ago THEN 1 ELSE 0 END)
    FROM member_event WHERE event = 'purchase'
    GROUP BY external_userid
    HAVING MAX(at) >= :start AND MAX(at) < :end
""")


def read_events(conn: Connection, since: float, until: float, journeys: Iterable[Journey],
                after_id: int = 0, skip: Container[int] = frozenset()
                ) -> tuple[list[Happened], int]:
    """The recorded events in [since, until) of the kinds some of `journeys` start on, and
    the member events recorded after `after_id`; with the last member event id read.
    `skip`: keys (`event_key`) of events already decided, left out before they cost more
    than their row (a sweep re-reads a minute of events, on a thread that holds the GIL
    while it turns rows into events: the fewer, the less the event loop waits)."""
    window = {"since": since, "until": until}
    wanted = {j.entry.event for j in journeys}
    tags = sorted({_tag_name(j.entry.tag) for j in journeys
                   if j.entry.event == "tag_added" and j.entry.tag})
    last = after_id
    out: list[Happened] = []
    if "staff_added" in wanted:
        for e, at, u in pace.rows(driver_execute(conn, _READS["staff_added"].text, window)):
            if event_key("staff_added", e, at, u) not in skip:
                out.append(Happened(e, "staff_added", float(at), sender=u))
    if "group_joined" in wanted:
        for e, at, s in pace.rows(driver_execute(conn, _READS["group_joined"].text, window)):
            if event_key("group_joined", e, at, "", s) not in skip:
                out.append(Happened(e, "group_joined", float(at), store_id=s))
    if tags:
        params = {**window, "names": tags}
        for e, at, group, name in pace.rows(conn.execute(_READS["tag_added"], params)):
            tag = f"{group}/{name}"
            if event_key("tag_added", e, at, tag=tag) not in skip:
                out.append(Happened(e, "tag_added", float(at), {"tag": tag}))
    for ext, at, ev, attrs, id_ in pace.rows(conn.execute(_READS["member"], {"after": after_id})):
        last = max(last, int(id_))
        if ev in wanted:
            out.append(Happened(ext, ev, float(at), json.loads(attrs or "{}")))
    return out, last


def quiet_customers(conn: Connection, journey: Journey, day: date) -> list[Happened]:
    """``no_purchase``: whose last purchase was ``days`` days before local `day`."""
    days = journey.entry.days or 0
    zone = journey.timezone
    start = datetime.combine(day - timedelta(days=days), datetime.min.time(), zone)
    year_ago = start.timestamp() - 365 * 86400
    at = datetime.combine(day, datetime.min.time(), zone).timestamp()
    rows = conn.execute(_QUIET, {"start": start.timestamp(), "end": start.timestamp() + 86400,
                                 "year_ago": year_ago})
    need = journey.entry.min_purchases or 1
    return [Happened(ext, "no_purchase", at - 1, {"purchases": int(n)})
            for ext, _last, n in rows if int(n) >= need]


def has_tags(journey: Journey, customer: Customer) -> bool:
    return all(customer.has_tag(t) for t in journey.entry.tags)


def matches_but_tags(journey: Journey, ev: Happened, customer: Customer) -> bool:
    """Does `ev` start `journey` for this customer (event, its parameters, narrowing), the
    customer's tags aside (`has_tags`: the one fact written after the event)?"""
    entry = journey.entry
    if ev.event != entry.event or customer.status != "active" or not customer.follows:
        return False
    if entry.tag is not None and not _same_tag(entry.tag, str(ev.attrs.get("tag", ""))):
        return False
    if entry.level is not None and str(ev.attrs.get("level", "")) != entry.level:
        return False
    if entry.stage is not None and str(ev.attrs.get("stage", "")) != entry.stage:
        return False
    if entry.channels and customer.channel not in entry.channels:
        return False
    store = ev.store_id or customer.store_id
    return not entry.stores or store in entry.stores


def _tag_name(ref: str) -> str:
    return ref.partition("/")[2] if "/" in ref else ref


def _same_tag(ref: str, tag: str) -> bool:
    return tag == ref if "/" in ref else tag.partition("/")[2] == ref


_PAST = sql("SELECT journey, external_userid, entry_day, status FROM journey_entry "
            "WHERE external_userid IN :ids").bindparams(bindparam("ids", expanding=True))
_ENTER = sql("""
    INSERT INTO journey_entry (journey, external_userid, entry_day, entered_at, event, sender,
                               store_id, status, reason)
    VALUES (:journey, :ext, :day, :at, :event, :sender, :store, 'active', '')
    ON CONFLICT (journey, external_userid, entry_day) DO NOTHING
""")


def enter(conn: Connection, journeys: Iterable[Journey], events: list[Happened]) -> int:
    """Write the entries `events` start; returns how many customers entered a journey."""
    return write_entries(conn, entries_for(conn, journeys, events).rows)


def write_entries(conn: Connection, rows: list[dict[str, Any]]) -> int:
    """Insert what `entries_for` found (a row already there is left as it is)."""
    entries_written(rows)(conn)
    return len(rows)


def entries_written(rows: list[dict[str, Any]]) -> Statements:
    """`write_entries` as plain SQL, which may commit in the writer process (bot.db)."""
    return Statements(((_ENTER.text, rows),))


def entries_for(conn: Connection, journeys: Iterable[Journey], events: list[Happened]
                ) -> Entered:
    """The entries `events` start, as rows for `write_entries`, and the events decided:
    only reads, so that the sweep can work them out on a reader, off the event loop
    (where SQLite's Python writes run). Reads only the facts entry looks at."""
    out = Entered()
    if not events:
        return out
    journeys = list(journeys)
    customers = load_customers(conn, (e.external_userid for e in events),
                               tags=any(j.entry.tags for j in journeys), groups=False,
                               purchases=False)
    past: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for part in chunks(sorted(customers)):
        for name, ext, day, status in pace.rows(conn.execute(_PAST, {"ids": part})):
            past.setdefault((name, ext), []).append((day, status))
    undecided: set[int] = set()
    ordered = sorted(events, key=lambda e: e.at)
    for journey in journeys:
        for ev in pace.each(ordered):
            customer = customers[ev.external_userid]
            if not matches_but_tags(journey, ev, customer):
                continue
            if not has_tags(journey, customer):
                undecided.add(id(ev))
                continue
            day = datetime.fromtimestamp(ev.at, journey.timezone).date()
            seen = past.setdefault((journey.name, ev.external_userid), [])
            if not _may_enter(journey, seen, day):
                continue
            seen.append((day.isoformat(), "active"))
            sender = ev.sender if ev.sender in customer.follows else customer.sender()
            out.rows.append({"journey": journey.name, "ext": ev.external_userid,
                             "day": day.isoformat(), "at": ev.at, "event": ev.event,
                             "sender": sender, "store": ev.store_id or customer.store_id})
    out.decided = [ev.key() for ev in pace.each(events) if id(ev) not in undecided]
    return out


def _may_enter(journey: Journey, seen: list[tuple[str, str]], day: date) -> bool:
    if any(status == "active" for _, status in seen):
        return False
    if not seen:
        return True
    again = journey.entry.again_after_days
    if again is None:
        return False
    last = max(date.fromisoformat(d) for d, _ in seen)
    return (day - last).days >= again
