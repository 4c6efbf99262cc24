"""Writes the handlers make, as plain functions of a connection (run by the group commit).

Hand-written SQL, on purpose: SQLAlchemy does not cache the compiled form of its dialect
`insert().on_conflict_do_update()` constructs, and compiling costs about 0.7 ms a statement,
more than the whole rest of a welcome. `text()` statements compile once. The
`INSERT ... ON CONFLICT (...) DO UPDATE SET x = excluded.x` form reads the same on SQLite
(3.24+) and PostgreSQL, and makes every write idempotent, which a replayed event needs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.engine import Connection

from bot.db.engine import driver_execute, sql
from bot.db.statements import Step


def _run(conn: Connection, statement: Any, params: dict[str, Any] | list[dict[str, Any]]) -> Any:
    """Through SQLAlchemy: for reads (`.scalars()`, `.first()`) and expanding parameters."""
    return conn.execute(statement, params)


def _write(conn: Connection, statement: Any,
           params: dict[str, Any] | list[dict[str, Any]]) -> None:
    """A write whose result nobody reads, on the driver's cursor (see `driver_execute`).

    SQLAlchemy's per-execution bookkeeping costs more than SQLite's own work for these
    single-row upserts (about 60 us a statement, five of them a welcome, measured); the SQL
    is the same plain `:name` text either way.
    """
    driver_execute(conn, statement.text, params)


# -- members ---------------------------------------------------------------------------

_MEMBER_NEW = sql("""
    INSERT INTO member (external_userid, name, store_id, staff_userid, channel, state, status,
                        first_seen, last_seen)
    VALUES (:external_userid, :name, :store_id, :userid, :channel, :state, 'active', :at, :at)
    ON CONFLICT (external_userid) DO UPDATE SET
        status = 'active', last_seen = excluded.last_seen,
        name = CASE WHEN excluded.name <> '' THEN excluded.name ELSE member.name END
""")  # a returning customer keeps their first store and channel: where they came from
_FOLLOW_ACTIVE = sql("""
    INSERT INTO member_follow (external_userid, userid, state, status, added_at, removed_at)
    VALUES (:external_userid, :userid, :state, 'active', :at, NULL)
    ON CONFLICT (external_userid, userid) DO UPDATE SET
        state = excluded.state, status = 'active', added_at = excluded.added_at, removed_at = NULL
""")
_FOLLOW_ENDED = sql("""
    INSERT INTO member_follow (external_userid, userid, state, status, added_at, removed_at)
    VALUES (:external_userid, :userid, '', :status, :at, :at)
    ON CONFLICT (external_userid, userid) DO UPDATE SET
        status = excluded.status, removed_at = excluded.removed_at
""")
_MEMBER_STATUS = sql("""
    INSERT INTO member (external_userid, name, staff_userid, channel, state, status,
                        first_seen, last_seen)
    VALUES (:external_userid, '', :userid, '', '', :status, :at, :at)
    ON CONFLICT (external_userid) DO UPDATE SET last_seen = excluded.last_seen,
        status = CASE WHEN EXISTS (SELECT 1 FROM member_follow f
                                   WHERE f.external_userid = excluded.external_userid
                                     AND f.status = 'active')
                      THEN 'active' ELSE excluded.status END
""")  # a customer who still follows another of our staff stays active
_MEMBER_SEEN = sql("""
    UPDATE member SET last_seen = :at,
        name = CASE WHEN :name <> '' THEN :name ELSE name END
    WHERE external_userid = :external_userid
""")
_TAG_ADD = sql("""
    INSERT INTO member_tag (external_userid, tag_id, added_at)
    VALUES (:external_userid, :tag_id, :at)
    ON CONFLICT (external_userid, tag_id) DO NOTHING
""")
_TAGS_OF = sql("SELECT tag_id FROM member_tag WHERE external_userid = :external_userid")
_TAGS_DROP = sql("""
    DELETE FROM member_tag WHERE external_userid = :external_userid AND tag_id IN :tag_ids
""").bindparams(bindparam("tag_ids", expanding=True))


def member_added(*, external_userid: str, userid: str, name: str, store_id: str | None,
                 channel: str, state: str, at: float) -> list[Step]:
    """A customer added a staff member: new member, or a returning one made active again.
    As steps of the welcome's `Statements` (bot.db.statements)."""
    params = {"external_userid": external_userid, "userid": userid, "name": name,
              "store_id": store_id, "channel": channel, "state": state, "at": at}
    return [(_MEMBER_NEW.text, params), (_FOLLOW_ACTIVE.text, params)]


def follow_removed(conn: Connection, *, external_userid: str, userid: str, status: str,
                   at: float) -> None:
    """A relation ended (`status` says who ended it); the member is active while any remains."""
    params = {"external_userid": external_userid, "userid": userid, "status": status, "at": at}
    _write(conn, _FOLLOW_ENDED, params)
    _write(conn, _MEMBER_STATUS, params)


def member_seen(conn: Connection, *, external_userid: str, name: str, at: float) -> None:
    _write(conn, _MEMBER_SEEN, {"external_userid": external_userid, "name": name, "at": at})


def add_member_tags(conn: Connection, external_userid: str, tag_ids: Iterable[str],
                    at: float) -> None:
    for statement, rows in member_tags_added(external_userid, tag_ids, at):
        driver_execute(conn, statement, rows)


def member_tags_added(external_userid: str, tag_ids: Iterable[str], at: float) -> list[Step]:
    """`add_member_tags` as steps (none when there are no tags)."""
    rows = [{"external_userid": external_userid, "tag_id": t, "at": at} for t in tag_ids]
    return [(_TAG_ADD.text, rows)] if rows else []


def set_member_tags(conn: Connection, external_userid: str, tag_ids: set[str],
                    at: float) -> None:
    """Make our copy equal to WeCom's: add what is new, drop what was removed."""
    current = set(_run(conn, _TAGS_OF, {"external_userid": external_userid}).scalars())
    if gone := current - tag_ids:
        _run(conn, _TAGS_DROP, {"external_userid": external_userid, "tag_ids": sorted(gone)})
    add_member_tags(conn, external_userid, tag_ids - current, at)


_WELCOME = sql("""
    INSERT INTO welcome (event_id, external_userid, userid, channel, status, attempts,
                         latency_ms, text, error, at)
    VALUES (:event_id, :external_userid, :userid, :channel, :status, :attempts, :latency_ms,
            :text, :error, :at)
    ON CONFLICT (event_id) DO UPDATE SET status = excluded.status, attempts = excluded.attempts,
        latency_ms = excluded.latency_ms, text = excluded.text, error = excluded.error,
        at = excluded.at
""")


def welcome_recorded(**row: Any) -> list[Step]:
    """What became of a WelcomeCode (bot.handlers.welcome `Outcome`), as a step."""
    return [(_WELCOME.text, row)]


_WELCOMED = sql("""
    SELECT 1 FROM welcome WHERE external_userid = :external_userid AND userid = :userid
    AND status IN ('sent', 'already_sent')
""")


def welcomed_before(conn: Connection, external_userid: str, userid: str) -> bool:
    """Has this member's welcome already reached this customer (any earlier event)?"""
    params = {"external_userid": external_userid, "userid": userid}
    return _run(conn, _WELCOMED, params).first() is not None


# -- groups ----------------------------------------------------------------------------

_GROUP_SEEN = sql("""
    INSERT INTO customer_group (chat_id, name, owner, store_id, created_at, dismissed_at,
                                member_version)
    VALUES (:chat_id, COALESCE(:name, ''), COALESCE(:owner, ''),
            (SELECT store_id FROM staff WHERE userid = :owner), :created_at, :dismissed_at,
            COALESCE(:member_version, ''))
    ON CONFLICT (chat_id) DO UPDATE SET
        name = COALESCE(:name, customer_group.name),
        owner = COALESCE(:owner, customer_group.owner),
        store_id = COALESCE(excluded.store_id, customer_group.store_id),
        created_at = COALESCE(:created_at, customer_group.created_at),
        dismissed_at = COALESCE(:dismissed_at, customer_group.dismissed_at),
        member_version = COALESCE(:member_version, customer_group.member_version)
""")  # a field passed as None keeps what we had
_IN_GROUP = sql("""
    SELECT 1 FROM group_member WHERE chat_id = :chat_id AND member_id = :member_id
""")
_GROUP_MEMBER_IN = sql("""
    INSERT INTO group_member (chat_id, member_id, member_type, joined_at, join_scene)
    VALUES (:chat_id, :member_id, :member_type, :at, :how)
    ON CONFLICT (chat_id, member_id) DO NOTHING
""")
_GROUP_MEMBER_OUT = sql("""
    DELETE FROM group_member WHERE chat_id = :chat_id AND member_id = :member_id
""")
_GROUP_LOG = sql("""
    INSERT INTO group_member_log (event_id, chat_id, member_id, action, how, at, invitor)
    VALUES (:event_id, :chat_id, :member_id, :action, :how, :at, :invitor)
    ON CONFLICT (event_id, member_id) DO NOTHING
""")  # one row per (event, member): a replayed event cannot log twice
_GROUP_MEMBERS = sql("SELECT member_id FROM group_member WHERE chat_id = :chat_id")


def group_seen(conn: Connection, *, chat_id: str, name: str | None = None,
               owner: str | None = None, created_at: float | None = None,
               member_version: str | None = None, dismissed_at: float | None = None) -> None:
    _write(conn, _GROUP_SEEN, {"chat_id": chat_id, "name": name, "owner": owner,
                                "created_at": created_at, "member_version": member_version,
                                "dismissed_at": dismissed_at})


def group_joined(conn: Connection, *, event_id: int, chat_id: str, member_id: str,
                 member_type: int, how: str, at: float, invitor: str = "") -> None:
    """Log a join, unless they are in the group already (a late or repeated notification)."""
    key = {"chat_id": chat_id, "member_id": member_id}
    if _run(conn, _IN_GROUP, key).first() is not None:
        return
    _write(conn, _GROUP_MEMBER_IN, {**key, "member_type": member_type, "at": at, "how": how})
    _write(conn, _GROUP_LOG, {**key, "event_id": event_id, "action": "join", "how": how,
                               "at": at, "invitor": invitor})


def group_left(conn: Connection, *, event_id: int, chat_id: str, member_id: str, how: str,
               at: float) -> None:
    key = {"chat_id": chat_id, "member_id": member_id}
    _write(conn, _GROUP_MEMBER_OUT, key)
    _write(conn, _GROUP_LOG, {**key, "event_id": event_id, "action": "leave", "how": how,
                               "at": at, "invitor": ""})


def group_members(conn: Connection, chat_id: str) -> set[str]:
    return set(_run(conn, _GROUP_MEMBERS, {"chat_id": chat_id}).scalars())


# -- directory -------------------------------------------------------------------------

_STORE = sql("""
    INSERT INTO store (id, name, city, manager_userid) VALUES (:id, :name, :city, :manager_userid)
    ON CONFLICT (id) DO UPDATE SET name = excluded.name, city = excluded.city,
        manager_userid = excluded.manager_userid
""")
_STAFF = sql("""
    INSERT INTO staff (userid, name, store_id) VALUES (:userid, :name, :store_id)
    ON CONFLICT (userid) DO UPDATE SET name = excluded.name, store_id = excluded.store_id
""")


def sync_directory(conn: Connection, stores: list[dict[str, Any]],
                   staff: list[dict[str, Any]]) -> None:
    """Stores and their managers from the operators' store file."""
    if stores:
        _write(conn, _STORE, stores)
    if staff:
        _write(conn, _STAFF, staff)


# -- small named values (watermarks, counters) -------------------------------------------

_STATE_GET = sql("SELECT value FROM bot_state WHERE key = :key")
_STATE_SET = sql("""INSERT INTO bot_state (key, value) VALUES (:key, :value)
                     ON CONFLICT (key) DO UPDATE SET value = excluded.value""")


def get_state(conn: Connection, key: str) -> str | None:
    value = conn.execute(_STATE_GET, {"key": key}).scalar()
    return None if value is None else str(value)


def set_state(conn: Connection, key: str, value: str) -> None:
    conn.execute(_STATE_SET, {"key": key, "value": value})
