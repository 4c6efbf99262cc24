"""The SQL behind customer service: customer cards, who follows whom, tag counts, sends.

Plain functions of a connection, run by `Database.read` / `Database.write` like
`bot.db.repo`. The follow relation (`member_follow`, written by the welcome flow and
ended by the deletion callbacks) is what decides which customers a staff member may see.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.engine import Connection

from bot.db.engine import sql


@dataclass(frozen=True, slots=True)
class GroupSeat:
    chat_id: str
    name: str
    joined_at: float
    how: str  # invite | link | qr


@dataclass(frozen=True, slots=True)
class CustomerRecord:
    """What the database knows of one customer, as seen by one staff member."""

    external_userid: str
    name: str
    store_id: str | None
    channel: str
    state: str
    first_seen: float
    followed_since: float  # when this staff member's relation began
    tags: tuple[tuple[str, str], ...]  # (group name, tag name)
    groups: tuple[GroupSeat, ...]


FOLLOWS = sql("""
    SELECT added_at FROM member_follow
    WHERE external_userid = :ext AND userid = :userid AND status = 'active'
""")
_MEMBER = sql("""
    SELECT name, store_id, channel, state, first_seen FROM member WHERE external_userid = :ext
""")
_TAGS = sql("""
    SELECT t.group_name, t.name FROM member_tag m JOIN tag t ON t.id = m.tag_id
    WHERE m.external_userid = :ext ORDER BY t.group_name, t.name
""")
_GROUPS = sql("""
    SELECT g.chat_id, g.name, m.joined_at, m.join_scene FROM group_member m
    JOIN customer_group g ON g.chat_id = m.chat_id
    WHERE m.member_id = :ext AND g.dismissed_at IS NULL ORDER BY m.joined_at
""")


def follows(conn: Connection, userid: str, external_userid: str) -> bool:
    """Whether `userid` has an active relation with the customer (may serve them)."""
    return conn.execute(FOLLOWS, {"ext": external_userid, "userid": userid}).first() is not None


def customer(conn: Connection, userid: str, external_userid: str) -> CustomerRecord | None:
    """The customer's card, or None when `userid` does not follow them (any more).

    None for both "no such customer" and "not yours": a staff member learns nothing about
    customers of colleagues, not even that they exist.
    """
    params = {"ext": external_userid, "userid": userid}
    follow = conn.execute(FOLLOWS, params).first()
    member = conn.execute(_MEMBER, params).first()
    if follow is None or member is None:
        return None
    tags = tuple((str(g), str(n)) for g, n in conn.execute(_TAGS, params))
    groups = tuple(GroupSeat(str(c), str(n), float(j), str(h))
                   for c, n, j, h in conn.execute(_GROUPS, params))
    return CustomerRecord(external_userid, str(member[0]), member[1], str(member[2]),
                          str(member[3]), float(member[4]), float(follow[0]), tags, groups)


_FIND = sql("""
    SELECT m.external_userid FROM member_follow f JOIN member m
      ON m.external_userid = f.external_userid
    WHERE f.userid = :userid AND f.status = 'active' AND m.name LIKE :pattern ESCAPE '\\'
    ORDER BY CASE WHEN m.name = :name THEN 0 ELSE 1 END, f.added_at DESC
    LIMIT :limit
""")


def find_customers(conn: Connection, userid: str, name: str, limit: int = 6) -> list[str]:
    """Customers of `userid` whose name contains `name`: exact names first, then newest."""
    escaped = name.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = conn.execute(_FIND, {"userid": userid, "pattern": f"%{escaped}%", "name": name,
                                "limit": limit})
    return [str(r[0]) for r in rows]


_TAG_COUNTS = sql("""
    SELECT t.group_name, t.name, count(*) FROM member_tag m JOIN tag t ON t.id = m.tag_id
    GROUP BY t.group_name, t.name
""")
_CUSTOMERS = sql("SELECT count(*) FROM member WHERE status = 'active'")


def tag_counts(conn: Connection) -> tuple[int, list[tuple[str, str, int]]]:
    """(active customers, [(group, tag, customers carrying it)]) for the idf weights."""
    total = int(conn.execute(_CUSTOMERS).scalar_one())
    return total, [(str(g), str(n), int(c)) for g, n, c in conn.execute(_TAG_COUNTS)]


def customers_carrying_any(conn: Connection, tags: list[tuple[str, str]]) -> int:
    """How many customers carry at least one of these (group, name) tags: a tag word that
    several tags mean (问卷/3 and 问卷/D both mean 痘痘) counts each customer once."""
    if not tags:
        return 0
    params: dict[str, str] = {}
    for i, (group, name) in enumerate(tags):
        params[f"g{i}"], params[f"n{i}"] = group, name
    either = " OR ".join(f"(t.group_name = :g{i} AND t.name = :n{i})" for i in range(len(tags)))
    return int(conn.execute(sql(
        "SELECT count(DISTINCT m.external_userid) FROM member_tag m "  # noqa: S608 (:params)
        f"JOIN tag t ON t.id = m.tag_id WHERE {either}"), params).scalar_one())


_SEND_COUNTS = sql("SELECT reply_id, count(*) FROM reply_send GROUP BY reply_id")
_RECORD_SEND = sql("""
    INSERT INTO reply_send (reply_id, userid, external_userid, via, at)
    VALUES (:reply_id, :userid, :external_userid, :via, :at)
""")


def send_counts(conn: Connection) -> dict[str, int]:
    return {str(r): int(n) for r, n in conn.execute(_SEND_COUNTS)}


def record_send(conn: Connection, *, reply_id: str, userid: str, external_userid: str,
                via: str, at: float) -> None:
    conn.execute(_RECORD_SEND, {"reply_id": reply_id, "userid": userid,
                                "external_userid": external_userid, "via": via, "at": at})
