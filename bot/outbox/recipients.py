"""Who a ``to: {members: ...}`` SOP reaches: active customers of the chosen stores with the
wanted corp tags, each with the staff member who will send it to them.

Tags are resolved by name against the synced corp tag list at send time, not when the file
is loaded: the cashier system may create 会员等级/金卡会员 after the SOP was written. A
customer is sent to by the staff member they first added if that relation still stands,
else by any staff member they still follow: WeCom only lets a member 群发 to their own
customers, and one message per customer is the point.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

from bot.sop.book import MemberSelect, TagRef


@dataclass(frozen=True, slots=True)
class MemberRow:
    external_userid: str
    store_id: str
    sender: str  # the staff member whose 群发 reaches them


_TAGS = text("SELECT id, group_name, name FROM tag WHERE deleted = :no")
# customers carrying any of the tag ids, with every staff member they still follow
_TAGGED = text("""
    SELECT t.external_userid, t.tag_id, m.store_id, m.staff_userid, f.userid
    FROM member_tag t
    JOIN member m ON m.external_userid = t.external_userid
    JOIN member_follow f ON f.external_userid = t.external_userid
    WHERE t.tag_id IN :ids AND m.status = 'active' AND f.status = 'active'
      AND m.store_id IS NOT NULL
    ORDER BY f.added_at, f.userid
""").bindparams(bindparam("ids", expanding=True))


def resolve_tags(conn: Connection, refs: Iterable[TagRef]) -> list[frozenset[str]]:
    """For each reference, the ids of the corp tags it names (empty: no such tag yet)."""
    rows = conn.execute(_TAGS, {"no": False}).all()
    return [frozenset(str(id_) for id_, group, name in rows
                      if name == ref.name and (ref.group is None or group == ref.group))
            for ref in refs]


def select_members(conn: Connection, target: MemberSelect,
                   stores: frozenset[str] | set[str]) -> list[MemberRow]:
    """The customers `target` reaches among `stores`, ordered by store, sender, id."""
    wanted = resolve_tags(conn, target.tags)
    every_id = sorted(frozenset().union(*wanted)) if wanted else []
    if not every_id:
        return []
    held: dict[str, set[str]] = defaultdict(set)
    senders: dict[str, tuple[str, str]] = {}  # customer -> (store, sender)
    for ext, tag_id, store_id, first_staff, follower in conn.execute(_TAGGED,
                                                                      {"ids": every_id}):
        if store_id not in stores:
            continue
        held[ext].add(tag_id)
        known = senders.get(ext)
        if known is None or (follower == first_staff and known[1] != first_staff):
            senders[ext] = (str(store_id), str(follower))
    chosen = [MemberRow(ext, *senders[ext]) for ext, tags in held.items()
              if _fits(tags, wanted, target.match)]
    return sorted(chosen, key=lambda m: (m.store_id, m.sender, m.external_userid))


def _fits(tags: set[str], wanted: list[frozenset[str]], match: str) -> bool:
    if match == "all":
        return all(tags & ids for ids in wanted)
    return any(tags & ids for ids in wanted)
