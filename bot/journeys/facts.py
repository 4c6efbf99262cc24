"""What the engine needs to know about a customer, read in batches from the bot's records.

One read per batch of customers and table (member, follows, tags, groups, purchases), so a
day's plan for a million members is a few thousand queries, not millions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from sqlalchemy.engine import Connection

from bot.db import pace
from bot.journeys.bulk import select_in
from bot.journeys.model import Journey

BATCH = 500
PURCHASES = ("purchase", "first_purchase")


@dataclass(slots=True)
class Customer:
    external_userid: str
    name: str = ""
    store_id: str | None = None
    channel: str = ""
    status: str = "gone"  # member.status; gone: no member row at all
    first_staff: str = ""
    follows: list[str] = field(default_factory=list)  # active staff relations, oldest first
    tags: set[str] = field(default_factory=set)  # "组/名"
    in_groups: bool = False
    last_left: float | None = None  # when they last left a customer group
    last_purchase: float | None = None

    def has_tag(self, ref: str) -> bool:
        if "/" in ref:
            return ref in self.tags
        return any(t.partition("/")[2] == ref for t in self.tags)

    def sender(self) -> str:
        """Who sends to them: the staff member they first added, if still a friend."""
        if self.first_staff in self.follows:
            return self.first_staff
        return self.follows[0] if self.follows else ""


_MEMBERS = ("SELECT external_userid, name, store_id, channel, status, staff_userid "
            "FROM member WHERE external_userid IN {in}")
_FOLLOWS = ("SELECT external_userid, userid FROM member_follow WHERE status = 'active' "
            "AND external_userid IN {in} ORDER BY added_at, userid")
_TAGS = ("SELECT t.external_userid, g.group_name, g.name FROM member_tag t "
         "JOIN tag g ON g.id = t.tag_id WHERE t.external_userid IN {in}")
_GROUPS = "SELECT DISTINCT member_id FROM group_member WHERE member_id IN {in}"
_LEFT = ("SELECT member_id, MAX(at) FROM group_member_log WHERE action = 'leave' "
         "AND member_id IN {in} GROUP BY member_id")
_BOUGHT = ("SELECT external_userid, MAX(at) FROM member_event WHERE external_userid IN {in} "
           "AND event IN ('purchase', 'first_purchase') GROUP BY external_userid")


def chunks(items: Sequence[str], size: int = BATCH) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def load_customers(conn: Connection, ids: Iterable[str], *, tags: bool = True,
                   groups: bool = True, purchases: bool = True) -> dict[str, Customer]:
    """The customers' facts; a plan reads only what its journey's rules look at."""
    wanted = sorted(set(ids))
    found = {ext: Customer(ext) for ext in pace.each(wanted)}  # thousands at a sweep
    for ext, name, store, channel, status, first in select_in(conn, _MEMBERS, wanted):
        c = found[ext]
        c.name, c.store_id, c.channel, c.status, c.first_staff = (
            name or "", store, channel or "", status, first or "")
    for ext, userid in select_in(conn, _FOLLOWS, wanted):
        found[ext].follows.append(str(userid))
    if tags:
        for ext, group, name in select_in(conn, _TAGS, wanted):
            found[ext].tags.add(f"{group}/{name}")
    if groups:
        for (ext,) in select_in(conn, _GROUPS, wanted):
            found[ext].in_groups = True
        for ext, at in select_in(conn, _LEFT, wanted):
            found[ext].last_left = float(at)
    if purchases:
        for ext, at in select_in(conn, _BOUGHT, wanted):
            found[ext].last_purchase = float(at)
    return found


def needs(journey: Journey) -> dict[str, bool]:
    """Which facts `journey`'s stop rules read (entry narrowing is checked at entry)."""
    return {"tags": bool(journey.stop.tags), "groups": journey.stop.left_groups,
            "purchases": journey.stop.purchase}


def group_by(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for key, value in pairs:
        out[key].append(value)
    return out
