"""What the engine needs to know about a customer, read in batches from the bot's records.

One read per batch of customers and table (member, follows, tags, groups, purchases), so a
day's plan for a million members is a few thousand queries, not millions.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.engine import Connection

from bot.db.engine import sql

BATCH = 500
PURCHASES = ("purchase", "first_purchase")


@dataclass
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


def _in(statement: str) -> Any:
    return sql(statement).bindparams(bindparam("ids", expanding=True))


_MEMBERS = _in("SELECT external_userid, name, store_id, channel, status, staff_userid "
               "FROM member WHERE external_userid IN :ids")
_FOLLOWS = _in("SELECT external_userid, userid FROM member_follow WHERE status = 'active' "
               "AND external_userid IN :ids ORDER BY added_at, userid")
_TAGS = _in("SELECT t.external_userid, g.group_name, g.name FROM member_tag t "
            "JOIN tag g ON g.id = t.tag_id WHERE t.external_userid IN :ids")
_GROUPS = _in("SELECT DISTINCT member_id FROM group_member WHERE member_id IN :ids")
_LEFT = _in("SELECT member_id, MAX(at) FROM group_member_log WHERE action = 'leave' "
             "AND member_id IN :ids GROUP BY member_id")
_BOUGHT = _in("SELECT external_userid, MAX(at) FROM member_event WHERE event IN "
              "('purchase', 'first_purchase') AND external_userid IN :ids "
              "GROUP BY external_userid")


def chunks(items: Sequence[str], size: int = BATCH) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def load_customers(conn: Connection, ids: Iterable[str]) -> dict[str, Customer]:
    wanted = sorted(set(ids))
    found = {ext: Customer(ext) for ext in wanted}
    for part in chunks(wanted):
        params = {"ids": part}
        for ext, name, store, channel, status, first in conn.execute(_MEMBERS, params):
            c = found[ext]
            c.name, c.store_id, c.channel, c.status, c.first_staff = (
                name or "", store, channel or "", status, first or "")
        for ext, userid in conn.execute(_FOLLOWS, params):
            found[ext].follows.append(str(userid))
        for ext, group, name in conn.execute(_TAGS, params):
            found[ext].tags.add(f"{group}/{name}")
        for (ext,) in conn.execute(_GROUPS, params):
            found[ext].in_groups = True
        for ext, at in conn.execute(_LEFT, params):
            found[ext].last_left = float(at)
        for ext, at in conn.execute(_BOUGHT, params):
            found[ext].last_purchase = float(at)
    return found


def group_by(pairs: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for key, value in pairs:
        out[key].append(value)
    return out
