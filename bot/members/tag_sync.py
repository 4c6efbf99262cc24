"""Each customer's level and stage tags kept in WeCom: only what changed, once, resumable.

The queue is the member rows themselves: the recompute writes the tags a member should
carry (`level_tag`, `stage_tag`) and sets `tag_dirty` where they differ from the ones last
applied (`*_synced`). This worker claims a batch of dirty rows (its replica id in
`sync_claimed_by`, before any call: bot.db.claims), calls mark_tag once per customer with
the new tags to add and the old ones to remove, and records them as applied. Several
changes to one member before the sync runs collapse into one call (the row holds the
latest), so a member moving 普通 → 银卡 → 金卡 in one import costs one call.

Faults: 45009 and -1 are waited out and retried by the client (bot.wecom.client); a call
that still fails releases the row with its error, to be tried again (at most
`MAX_ATTEMPTS`). A process killed mid-batch leaves rows claimed by its id: a replica taking
its place (or the same one restarting, `release_own`) claims them again. mark_tag adds and
removes by id (a set operation), so a call repeated after a crash leaves the customer with
each tag once. Pacing is the client's per-API quota (`[wecom] per_api_per_minute`, WeCom's
10,000 a minute per corp): the worker keeps `concurrency` calls in flight, enough to meet
the quota and never to exceed it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy.engine import Connection

from bot.db import repo
from bot.db.claims import orphaned, skip_locked
from bot.db.engine import Database, sql
from bot.members.rules import MemberRules
from bot.tags import TagBook
from bot.wecom.client import WeComClient
from bot.wecom.errors import WeComError

__all__ = ["TagSync"]
log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
NO_FOLLOW = "no staff member follows this customer now"

_CLAIMED = sql("""
    SELECT lm.member_code, lm.external_userid, lm.level_tag, lm.stage_tag,
           lm.level_tag_synced, lm.stage_tag_synced,
           (SELECT f.userid FROM member_follow f WHERE f.external_userid = lm.external_userid
             AND f.status = 'active' ORDER BY f.added_at LIMIT 1) AS userid
    FROM loyalty_member lm WHERE lm.sync_claimed_by = :me AND lm.tag_dirty = 1
""")
_APPLIED = sql("""
    UPDATE loyalty_member SET level_tag_synced = CAST(:level AS VARCHAR),
        stage_tag_synced = CAST(:stage AS VARCHAR),
        tag_dirty = CASE WHEN level_tag <> CAST(:level AS VARCHAR)
            OR stage_tag <> CAST(:stage AS VARCHAR) THEN 1 ELSE 0 END,
        sync_claimed_by = NULL, sync_attempts = 0, sync_error = NULL
    WHERE member_code = :code
""")
_FAILED = sql("""
    UPDATE loyalty_member SET sync_claimed_by = NULL, sync_attempts = sync_attempts + :n,
        sync_error = :error WHERE member_code = :code
""")

_UNTAG = sql("DELETE FROM member_tag WHERE external_userid = :e AND tag_id = :t")


def _claim(conn: Connection, me: str, limit: int) -> list[dict[str, Any]]:
    conn.execute(sql(f"""
        UPDATE loyalty_member SET sync_claimed_by = :me WHERE member_code IN (
            SELECT member_code FROM loyalty_member WHERE tag_dirty = 1
              AND sync_attempts < :max AND {orphaned(conn, "sync_claimed_by")}
            LIMIT :limit{skip_locked(conn)})"""),  # noqa: S608 (bot.db.claims constants)
        {"me": me, "max": MAX_ATTEMPTS, "limit": limit})
    return [dict(row._mapping) for row in conn.execute(_CLAIMED, {"me": me})]


class TagSync:
    def __init__(self, db: Database, wecom: WeComClient, tags: TagBook, replica_id: str, *,
                 rules: Callable[[], MemberRules] | None = None, batch: int = 200,
                 concurrency: int = 8, idle_s: float = 2.0) -> None:
        self.db, self.wecom, self.tags, self.me = db, wecom, tags, replica_id
        self.rules = rules
        self.batch, self.concurrency, self.idle_s = batch, concurrency, idle_s
        self.applied = 0
        self.failed = 0
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def release_own(self) -> int:
        """At start: rows this id claimed in an earlier life (kill -9) are free again."""
        return int(await self.db.write(lambda c: c.execute(sql(
            "UPDATE loyalty_member SET sync_claimed_by = NULL WHERE sync_claimed_by = :me"),
            {"me": self.me}).rowcount or 0))

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._loop(), name="tag-sync")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    def wake(self) -> None:
        """Look now (a purchase changed tags); otherwise the worker looks every `idle_s`,
        which also catches members linked by the welcome handler or the nightly recompute."""
        self._wake.set()

    async def _loop(self) -> None:
        await self.release_own()
        while True:
            try:
                while await self.run_once():
                    pass
            except Exception:  # the database is away: try again at the next wake
                log.exception("tag sync round failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):  # idle_s passed: look again anyway
                async with asyncio.timeout(self.idle_s):  # not wait_for: bot/outbox/worker.py
                    await self._wake.wait()

    async def run_once(self) -> int:
        """Claim one batch and apply it; how many rows were claimed (0: nothing to do)."""
        rows = await self.db.write(lambda c: _claim(c, self.me, self.batch))
        if not rows:
            return 0
        gate = asyncio.Semaphore(self.concurrency)

        async def one(row: dict[str, Any]) -> None:
            async with gate:
                await self._apply(row)

        await asyncio.gather(*(one(row) for row in rows))
        return len(rows)

    async def _apply(self, row: dict[str, Any]) -> None:
        code, ext, userid = row["member_code"], row["external_userid"], row["userid"]
        level, stage = row["level_tag"], row["stage_tag"]
        if not userid:
            await self._failed(code, NO_FOLLOW, MAX_ATTEMPTS)
            return
        wanted = [t for t, had in ((level, row["level_tag_synced"]),
                                   (stage, row["stage_tag_synced"])) if t and t != had]
        stale = [had for t, had in ((level, row["level_tag_synced"]),
                                    (stage, row["stage_tag_synced"])) if had and had != t]
        stale += self._siblings(wanted, stale)
        try:
            add = await self.tags.ensure([_pair(t) for t in wanted])
            remove = [i for t in stale if (i := self.tags.id_of(_pair(t))) is not None]
            if add or remove:
                await self.wecom.mark_tag(userid, ext, add, remove)
        except WeComError as exc:
            log.warning("mark_tag for member %s (customer %s) failed: %s", code, ext, exc)
            await self._failed(code, str(exc), 1)
            return
        now = time.time()

        def applied(conn: Connection) -> None:
            conn.execute(_APPLIED, {"level": level, "stage": stage, "code": code})
            repo.add_member_tags(conn, ext, add, now)
            for tag_id in remove:
                conn.execute(_UNTAG, {"e": ext, "t": tag_id})

        await self.db.write(applied)
        self.applied += 1

    def _siblings(self, wanted: list[str], stale: list[str]) -> list[str]:
        """The rules' other tags of a level or stage being set: a tag staff marked by hand
        (or one a lost sync left) goes too, so a customer carries one level and one stage."""
        if self.rules is None or not wanted:
            return []
        rules = self.rules()
        names: set[str] = set()
        for kind in ([lv.tag for lv in rules.levels], [st.tag for st in rules.stages]):
            texts = {"/".join(tag) for tag in kind}
            if texts & set(wanted):
                names |= texts
        return sorted(names - set(wanted) - set(stale))

    async def _failed(self, code: str, error: str, attempts: int) -> None:
        self.failed += 1
        await self.db.write(lambda c: c.execute(_FAILED, {"n": attempts, "error": error[:200],
                                                          "code": code}))


def _pair(text: str) -> tuple[str, str]:
    group, _, name = text.partition("/")
    return group, name
