"""Writes the handlers make, as plain functions of a session (they run in the writer thread).

Core statements with ON CONFLICT upserts rather than ORM objects: they are several times
cheaper per row, behave the same on SQLite and PostgreSQL, and are naturally idempotent,
which is what a replayed event needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Table, and_, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session

from bot.store.models import (
    CustomerGroup,
    GroupMember,
    GroupMemberLog,
    Member,
    MemberFollow,
    MemberTag,
    Staff,
    Store,
    Welcome,
)


def _t(model: type) -> Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]


MEMBER, FOLLOW, MEMBER_TAG = _t(Member), _t(MemberFollow), _t(MemberTag)
GROUP, GROUP_MEMBER, GROUP_LOG = _t(CustomerGroup), _t(GroupMember), _t(GroupMemberLog)
STORE, STAFF, WELCOME = _t(Store), _t(Staff), _t(Welcome)


def upsert(session: Session, table: Table, rows: Sequence[dict[str, Any]], keys: list[str],
           update_cols: Iterable[str] = ()) -> None:
    """INSERT ... ON CONFLICT (keys) DO UPDATE SET update_cols (or DO NOTHING)."""
    if not rows:
        return
    is_sqlite = session.get_bind().dialect.name == "sqlite"
    stmt = (sqlite.insert if is_sqlite else postgresql.insert)(table).values(list(rows))
    cols = list(update_cols)
    if cols:
        stmt = stmt.on_conflict_do_update(index_elements=keys,
                                          set_={c: stmt.excluded[c] for c in cols})
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=keys)
    session.connection().execute(stmt)


# -- members ---------------------------------------------------------------------------


def member_added(session: Session, *, external_userid: str, userid: str, name: str,
                 store_id: str | None, channel: str, state: str, at: float) -> None:
    """A customer added a staff member: new member, or a returning one made active again."""
    conn = session.connection()
    existing = conn.execute(select(MEMBER.c.name).where(
        MEMBER.c.external_userid == external_userid)).first()
    if existing is None:
        conn.execute(insert(MEMBER).values(
            external_userid=external_userid, name=name, store_id=store_id, staff_userid=userid,
            channel=channel, state=state, status="active", first_seen=at, last_seen=at))
    else:  # first store and channel stay: they say where the customer came from
        values: dict[str, Any] = {"status": "active", "last_seen": at}
        if name:
            values["name"] = name
        conn.execute(update(MEMBER).where(MEMBER.c.external_userid == external_userid)
                     .values(**values))
    upsert(session, FOLLOW, [{"external_userid": external_userid, "userid": userid,
                              "state": state, "status": "active", "added_at": at,
                              "removed_at": None}],
           ["external_userid", "userid"], ["state", "status", "added_at", "removed_at"])


def follow_removed(session: Session, *, external_userid: str, userid: str, status: str,
                   at: float) -> None:
    """A relation ended (`status` says who ended it); the member is active while any remains."""
    conn = session.connection()
    upsert(session, FOLLOW, [{"external_userid": external_userid, "userid": userid,
                              "state": "", "status": status, "added_at": at, "removed_at": at}],
           ["external_userid", "userid"], ["status", "removed_at"])
    still_active = conn.execute(select(FOLLOW.c.userid).where(and_(
        FOLLOW.c.external_userid == external_userid, FOLLOW.c.status == "active"))).first()
    exists = conn.execute(select(MEMBER.c.external_userid).where(
        MEMBER.c.external_userid == external_userid)).first()
    if exists is None:  # we never saw them arrive (added before the bot): keep a record
        conn.execute(insert(MEMBER).values(external_userid=external_userid, staff_userid=userid,
                                           status=status, first_seen=at, last_seen=at))
    else:
        conn.execute(update(MEMBER).where(MEMBER.c.external_userid == external_userid).values(
            status="active" if still_active else status, last_seen=at))


def member_seen(session: Session, *, external_userid: str, name: str, at: float) -> None:
    values: dict[str, Any] = {"last_seen": at}
    if name:
        values["name"] = name
    session.connection().execute(
        update(MEMBER).where(MEMBER.c.external_userid == external_userid).values(**values))


def add_member_tags(session: Session, external_userid: str, tag_ids: Iterable[str],
                    at: float) -> None:
    upsert(session, MEMBER_TAG, [{"external_userid": external_userid, "tag_id": tag_id,
                                  "added_at": at} for tag_id in tag_ids],
           ["external_userid", "tag_id"])


def set_member_tags(session: Session, external_userid: str, tag_ids: set[str],
                    at: float) -> None:
    """Make our copy equal to WeCom's: add what is new, drop what was removed."""
    conn = session.connection()
    current = set(conn.execute(select(MEMBER_TAG.c.tag_id).where(
        MEMBER_TAG.c.external_userid == external_userid)).scalars())
    gone = current - tag_ids
    if gone:
        conn.execute(delete(MEMBER_TAG).where(and_(
            MEMBER_TAG.c.external_userid == external_userid, MEMBER_TAG.c.tag_id.in_(gone))))
    add_member_tags(session, external_userid, tag_ids - current, at)


def record_welcome(session: Session, **row: Any) -> None:
    upsert(session, WELCOME, [row], ["event_id"],
           ["status", "attempts", "latency_ms", "text", "error", "at"])


# -- groups ----------------------------------------------------------------------------


def group_seen(session: Session, *, chat_id: str, name: str | None = None,
               owner: str | None = None, created_at: float | None = None,
               member_version: str | None = None, dismissed_at: float | None = None) -> None:
    conn = session.connection()
    values = {k: v for k, v in {"name": name, "owner": owner, "created_at": created_at,
                                "member_version": member_version,
                                "dismissed_at": dismissed_at}.items() if v is not None}
    if owner:
        values["store_id"] = conn.execute(
            select(STAFF.c.store_id).where(STAFF.c.userid == owner)).scalar()
    row = {"chat_id": chat_id, "name": "", "owner": "", "member_version": "", **values}
    upsert(session, GROUP, [row], ["chat_id"], list(values))


def group_joined(session: Session, *, event_id: int, chat_id: str, member_id: str,
                 member_type: int, how: str, at: float, invitor: str = "") -> None:
    """Log a join, unless they are in the group already (a late or repeated notification)."""
    already = session.connection().execute(select(GROUP_MEMBER.c.member_id).where(and_(
        GROUP_MEMBER.c.chat_id == chat_id, GROUP_MEMBER.c.member_id == member_id))).first()
    if already is not None:
        return
    upsert(session, GROUP_MEMBER, [{"chat_id": chat_id, "member_id": member_id,
                                    "member_type": member_type, "joined_at": at,
                                    "join_scene": how}],
           ["chat_id", "member_id"], ["member_type", "joined_at", "join_scene"])
    upsert(session, GROUP_LOG, [{"event_id": event_id, "chat_id": chat_id,
                                 "member_id": member_id, "action": "join", "how": how,
                                 "at": at, "invitor": invitor}], ["event_id", "member_id"])


def group_left(session: Session, *, event_id: int, chat_id: str, member_id: str, how: str,
               at: float) -> None:
    session.connection().execute(delete(GROUP_MEMBER).where(and_(
        GROUP_MEMBER.c.chat_id == chat_id, GROUP_MEMBER.c.member_id == member_id)))
    upsert(session, GROUP_LOG, [{"event_id": event_id, "chat_id": chat_id,
                                 "member_id": member_id, "action": "leave", "how": how,
                                 "at": at, "invitor": ""}], ["event_id", "member_id"])


def group_members(session: Session, chat_id: str) -> set[str]:
    return set(session.connection().execute(select(GROUP_MEMBER.c.member_id).where(
        GROUP_MEMBER.c.chat_id == chat_id)).scalars())


# -- directory -------------------------------------------------------------------------


def sync_directory(session: Session, stores: list[dict[str, Any]],
                   staff: list[dict[str, Any]]) -> None:
    """Stores and their managers from the operators' store file."""
    upsert(session, STORE, stores, ["id"], ["name", "city", "manager_userid"])
    upsert(session, STAFF, staff, ["userid"], ["name", "store_id"])
