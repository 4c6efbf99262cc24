"""Who owns a row when several replicas share one database, and which replicas are alive.

A replica writes its id into `claimed_by` of what it works on (an inbox event it recorded or
took over, an outbox call it is making). A survivor takes over only rows whose claimer is
dead, never a live replica's work in progress: that is what keeps "act once" true when a
replica starts, restarts or dies next to others.

Alive means, on PostgreSQL, that the replica's session holds its liveness lock: an advisory
lock (namespace, replica number) taken at start on a dedicated connection (bot.replicas).
The server drops the lock the moment that session ends (kill -9, OOM, a lost host once TCP
keepalives give up), so survivors see a death at once, with no heartbeat timeout to tune
and no clock to trust. On SQLite exactly one process runs: whatever it finds claimed by
another id was left by an earlier life of the bot.

The namespace is derived from the schema, so two deployments (or two tests) sharing one
database in different schemas never see each other's locks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

# int4 namespace for the two-key advisory lock form (pg_locks: classid, objid, objsubid 2)
REPLICA_NAMESPACE = "(hashtext('wecom-bot:replica:' || current_schema()) & 2147483647)"
# bigint key of the scheduler leadership (pg_locks: classid/objid halves, objsubid 1)
LEADER_KEY = "hashtextextended('wecom-bot:leader:' || current_schema(), 0)"

_ALIVE_PG = f"""(SELECT l.objid::text FROM pg_locks l
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
      AND l.classid = {REPLICA_NAMESPACE}::oid
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()))
"""  # noqa: S608 (constants only)


def orphaned(conn: Connection, column: str = "claimed_by") -> str:
    """A WHERE fragment: the row's claimer is dead (or it was never claimed).

    On SQLite: claimed by anyone but `:me` (the one process running is `:me`).
    """
    if conn.dialect.name == "postgresql":
        return f"({column} IS NULL OR {column} NOT IN {_ALIVE_PG})"
    return f"({column} IS NULL OR {column} <> :me)"


def skip_locked(conn: Connection) -> str:
    """`FOR UPDATE SKIP LOCKED` where the server has row locks: replicas taking work at the
    same moment get different rows instead of queueing behind each other. SQLite has one
    writer at a time, so the clause is neither needed nor understood there."""
    return " FOR UPDATE SKIP LOCKED" if conn.dialect.name == "postgresql" else ""


def alive_replicas(conn: Connection) -> list[str]:
    """Ids of the replicas alive now (PostgreSQL); for /readyz and the tests."""
    if conn.dialect.name != "postgresql":
        return []
    return sorted(str(v) for (v,) in conn.exec_driver_sql(_ALIVE_PG.strip()[1:-1]))
