"""The member data in a running bot: purchases in, the till's question, rules kept live.

Built at start (bot.app) from the running services; the routes (bot.members.routes) turn
requests into calls here. Every accepted POS request writes its request id together with
its effects, in one transaction, so a replay is refused and a refusal writes nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Connection

from bot.books.live import LiveBook
from bot.books.stores import StoreDirectory
from bot.codes.records import JOIN_URL_SQL
from bot.db.engine import Database, sql
from bot.i18n import t
from bot.members.compute import recompute
from bot.members.journey_events import record_purchase_events
from bot.members.purchases import BadPurchase, PhoneHasher, PurchaseRow, parse_purchase
from bot.members.purchases import write_purchases as _write
from bot.members.questionnaire import Questionnaires
from bot.members.replays import SEEN_BEFORE, LookupIds, Replayed, remember
from bot.members.rules import MemberRules
from bot.members.signing import WINDOW_S, PosRefused, SignedRequest
from bot.members.tag_sync import TagSync

__all__ = ["MAX_PURCHASES", "Members", "store_join_code"]
log = logging.getLogger(__name__)
MAX_PURCHASES = 200  # per webhook call; a till sends as it sells, a backfill uses the CSV
RECOMPUTE_EVERY_S = 6 * 3600.0  # stages move with the calendar (days since last purchase)


def store_join_code(stores: StoreDirectory, store_id: str, join_url: str | None
                    ) -> dict[str, str] | None:
    """What the till shows a member not yet in the store's group: the store's permanent
    「加入群聊」 code once `codes sync` made it (bot/codes/, `join_url`), else the group QR
    picture of sop/stores.yaml (it dies 7 days after it was made in the client)."""
    store = stores.get(store_id)
    if store is None:
        return None
    if join_url:
        return {"kind": "join_way", "url": join_url, "group_name": store.group_name}
    if "://" not in store.group_qr_url:  # none, or a picture file only a message can carry
        return None
    return {"kind": "group_qr", "url": store.group_qr_url, "group_name": store.group_name}


# The till's question in one indexed read (no write, no commit): the member, the first
# live group of the store they are in (the store's few groups, each probed by the group
# member key), the store's join code, and whether the request id was seen before
# (bot.members.replays). One row always, the member's columns NULL when the code is unknown.
_TILL_LOOKUP = f"""
    SELECT m.member_code, m.level, m.stage, m.external_userid,
           (SELECT g.name FROM customer_group g
            WHERE g.store_id = :store_id AND g.dismissed_at IS NULL
              AND EXISTS (SELECT 1 FROM group_member gm WHERE gm.chat_id = g.chat_id
                          AND gm.member_id = m.external_userid) LIMIT 1),
           (SELECT j.qr_code FROM ({JOIN_URL_SQL}) j LIMIT 1),
           {SEEN_BEFORE}
    FROM (SELECT 1 AS one) one LEFT JOIN loyalty_member m ON m.member_code = :code
"""  # noqa: S608 (constants; every value bound)


@dataclass
class Members:
    db: Database
    rules: LiveBook[MemberRules]
    stores: StoreDirectory
    sync: TagSync
    hasher: PhoneHasher
    questionnaires: Questionnaires | None = None  # None: no sop/questionnaires.yaml
    _task: asyncio.Task[None] | None = None
    ids: LookupIds = field(init=False)  # the till lookups' request ids

    def __post_init__(self) -> None:
        self.ids = LookupIds(self.db)

    def start(self) -> None:
        self.rules.start()
        if self.questionnaires is not None:
            self.questionnaires.forms.start()
        self.sync.start()
        self._task = asyncio.get_running_loop().create_task(self._recompute_loop(),
                                                            name="member-recompute")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.rules.stop()
        if self.questionnaires is not None:
            await self.questionnaires.forms.stop()
        await self.sync.stop()
        await self.ids.flush()

    async def _recompute_loop(self) -> None:
        while True:
            await self._answers_pending()  # at start, then with each recompute
            await asyncio.sleep(RECOMPUTE_EVERY_S)
            try:
                await self.recompute_all()
            except Exception:
                log.exception("member recompute failed; the next one is in %.0f h",
                              RECOMPUTE_EVERY_S / 3600)

    async def _answers_pending(self) -> None:
        """Questionnaire answers stored while WeCom was away, applied now."""
        if self.questionnaires is None:
            return
        try:
            done = await self.questionnaires.apply_pending()
        except Exception:  # WeCom still away: the next round tries again
            log.exception("questionnaire answers not yet applied")
            return
        if done:
            log.info("%d stored questionnaire answers applied in WeCom", done)

    async def recompute_all(self) -> int:
        rules, now = self.rules.value, time.time()

        def run(conn: Connection) -> int:
            conn.execute(sql("DELETE FROM pos_request WHERE at < :old"),
                         {"old": now - 2 * WINDOW_S})
            return recompute(conn, rules, now)

        dirty = await self.db.write(run)
        log.info("members recomputed: %d wait for the tag sync", dirty)
        self.sync.wake()
        return dirty

    def parse(self, body: bytes) -> list[PurchaseRow]:
        """The webhook body, checked whole before anything is written (400 otherwise)."""
        try:
            data = json.loads(body)
        except ValueError:
            raise PosRefused(400, "the body is not JSON") from None
        items = data.get("purchases") if isinstance(data, dict) else None
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_PURCHASES:
            raise PosRefused(400, f'expected {{"purchases": [...]}} with 1..{MAX_PURCHASES}')
        rows, now = [], time.time()
        for i, item in enumerate(items):
            if not isinstance(item, Mapping):
                raise PosRefused(400, f"purchases[{i}]: expected an object")
            try:
                rows.append(parse_purchase(item, now, self.hasher))
            except BadPurchase as exc:
                raise PosRefused(400, f"purchases[{i}]: {exc}") from None
        return rows

    async def take_purchases(self, signed: SignedRequest, rows: list[PurchaseRow]
                             ) -> dict[str, Any]:
        rules, now = self.rules.value, time.time()

        def effects(conn: Connection) -> tuple[int, int]:
            remember(conn, signed, now)
            new, codes = _write(conn, rows)
            if not new:
                return 0, 0
            dirty = recompute(conn, rules, now, sorted(codes))  # links members to customers
            record_purchase_events(conn, rows)  # first purchase / buying: journeys
            return new, dirty

        try:
            new, dirty = await self.db.write(effects)
        except Replayed:
            raise PosRefused(409, "this X-Pos-Request-Id was used before") from None
        if dirty:
            self.sync.wake()
        return {"accepted": new, "already": len(rows) - new}

    async def till_lookup(self, signed: SignedRequest, member_code: str, store_id: str
                          ) -> dict[str, Any]:
        """Is this member in one of the store's groups; if not, what to show them."""
        if store_id not in self.stores:
            raise PosRefused(404, t("till.unknown_store", store=store_id))
        now = time.time()
        known, level, stage, ext, group, join_url, seen = await self.ids.lookup(
            _TILL_LOOKUP, {"code": member_code, "store_id": store_id,
                           "request_id": signed.request_id, "at": now})
        if not self.ids.first_time(signed, seen is not None, now):
            raise PosRefused(409, "this X-Pos-Request-Id was used before")
        answer = {"member_code": member_code, "known": known is not None,
                  "level": level or "", "stage": stage or "", "wecom_customer": bool(ext),
                  "in_store_group": group is not None, "group_name": group or ""}
        if group is None:
            answer["join_code"] = store_join_code(self.stores, store_id, join_url)
        return answer


def build_members(services: Any, replica_id: str) -> Members | None:
    """The member data of a running bot, from `services` (bot.services.Services); None when
    the deployment has no sop/members.yaml (the till endpoints then answer 503)."""
    from bot.members.rules import load_rules

    settings = services.settings
    path = settings.paths.sop_dir / "members.yaml"
    if not path.is_file():
        log.info("no %s: member levels, stages and the till endpoints are off", path)
        return None
    rules = LiveBook("member rules", lambda: [path], lambda: load_rules(path),
                     settings.sop.reload_poll_s,
                     describe=lambda r: f"{len(r.levels)} levels, {len(r.stages)} stages")
    rules.load_now()  # a broken file stops the start, like the other books
    sync = TagSync(services.db, services.wecom, services.tags, replica_id,
                   rules=lambda: rules.value)
    return Members(services.db, rules, services.stores, sync, PhoneHasher(),
                   _questionnaires(services, settings.paths.sop_dir / "questionnaires.yaml"))


def _questionnaires(services: Any, path: Path) -> Questionnaires | None:
    from bot.members.forms import load_forms

    if not path.is_file():
        return None
    forms = LiveBook("questionnaires", lambda: [path], lambda: load_forms(path),
                     services.settings.sop.reload_poll_s,
                     describe=lambda f: f"{len(f)} forms")
    forms.load_now()
    return Questionnaires(services.db, services.wecom, services.tags, forms)
