"""A till member meets a WeCom customer: by unionid, or by a member code bound once.

WeCom gives a customer's `unionid` in externalcontact/get (when the corp has bound its
WeChat open platform account); the till knows it when the member registered through the
mini-program. The welcome handler records what it reads (`remember_unionid`), the
recompute links members by it, and a customer without one binds their member code once
(`bind_member_code`). Linking a member marks them for the tag sync at once: their level
and stage were already known, only the customer was missing.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

from bot.db.engine import driver_execute, sql
from bot.db.statements import Step

__all__ = ["bind_member_code", "remember_unionid", "unionid_remembered"]

_UNIONID = sql("""
    INSERT INTO customer_unionid (unionid, external_userid) VALUES (:u, :e)
    ON CONFLICT (unionid) DO UPDATE SET external_userid = excluded.external_userid
""")
_DIRTY_IF_DIFFERENT = """tag_dirty = CASE WHEN level_tag <> level_tag_synced
    OR stage_tag <> stage_tag_synced THEN 1 ELSE 0 END"""
_LINK_BY_UNIONID = sql(f"""
    UPDATE loyalty_member SET external_userid = :e, {_DIRTY_IF_DIFFERENT}
    WHERE unionid = :u AND external_userid IS NULL
""")  # noqa: S608 (a constant)
_BIND = sql(f"""
    UPDATE loyalty_member SET external_userid = CAST(:e AS VARCHAR), level_tag_synced = CASE
        WHEN external_userid = CAST(:e AS VARCHAR) THEN level_tag_synced ELSE '' END,
        stage_tag_synced = CASE WHEN external_userid = CAST(:e AS VARCHAR)
            THEN stage_tag_synced ELSE '' END,
        {_DIRTY_IF_DIFFERENT}
    WHERE member_code = :c
""")  # noqa: S608 (a constant)


def remember_unionid(conn: Connection, external_userid: str, unionid: str) -> int:
    """Record a customer's unionid and link the till members carrying it; how many."""
    linked = 0
    for statement, params in unionid_remembered(external_userid, unionid):
        linked = driver_execute(conn, statement, params).rowcount  # the last: the link
    return int(linked or 0)


def unionid_remembered(external_userid: str, unionid: str) -> list[Step]:
    """`remember_unionid` as steps of a welcome's `Statements` (the count is not needed)."""
    if not unionid:
        return []
    params = {"u": unionid, "e": external_userid}
    return [(_UNIONID.text, params), (_LINK_BY_UNIONID.text, params)]


def bind_member_code(conn: Connection, member_code: str, external_userid: str) -> bool:
    """The customer says "this member code is mine"; False when the till never sent it.

    A code moved to another customer starts that customer's tags afresh (nothing of theirs
    was applied yet); the previous customer's tags stay as WeCom has them.
    """
    return bool(conn.execute(_BIND, {"c": member_code, "e": external_userid}).rowcount)
