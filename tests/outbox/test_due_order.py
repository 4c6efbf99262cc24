"""The worker takes the sends already under way before a slot's untried backlog.

A check of a call cut by a crash falls due 20 s after the restart; ordered by due time
alone it waited behind every queued send of a chain-wide slot, and the resends it found
necessary went out last (bench_fanout: the kill phase's tail). The rows are read from the
bot's own database (a SQLite file, or PostgreSQL with BOT_TEST_DATABASE_URL) with the
worker's own statements.
"""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.engine import Connection

from bot.outbox import rows as outbox
from tests.conftest import World

FAR = 4_102_444_800.0  # 2100-01-01: never due for the bot's own running worker


def _insert(conn: Connection, key: str, status: str, next_at: float) -> None:
    conn.execute(text(
        "INSERT INTO outbox_send (key, slot_id, via, sender, robot, payload, status, attempts,"
        " next_at, created_at, msgid, reminders) VALUES (:key, 0, 'group_send', 'linxiaoyu',"
        " '', '{}', :status, :attempts, :next_at, :next_at, '', 0)"),
        {"key": key, "status": status, "attempts": 0 if status == "queued" else 1,
         "next_at": next_at})


async def test_a_check_due_after_the_backlog_is_taken_before_it(world: World) -> None:
    assert world.runtime.services is not None
    db = world.runtime.services.db

    def fill(conn: Connection) -> None:
        for i in range(5):
            _insert(conn, f"backlog-{i}", "queued", FAR + i)
        _insert(conn, "check-after-crash", "unknown", FAR + 20)
        _insert(conn, "not-due-yet", "unknown", FAR + 99)

    await db.write(fill)
    now = FAR + 30
    if db.is_postgres:
        taken = await db.write(lambda c: outbox.lease_due(c, now, 3, now + 60, "test"))
    else:
        taken = await db.read(lambda c: outbox.due_sends(c, now, 3))
    assert [row.key for row in taken] == ["check-after-crash", "backlog-0", "backlog-1"]
