"""Applying a plan: exactly the creates, updates (and with ``--prune`` deletes) it lists,
each recorded as soon as WeCom answers, so that a second run changes nothing.

Faults and how a run converges:
- killed between WeCom's answer to a create and our record: the row written before the
  call (status ``creating``) tells the next run to look first. Contact ways are found with
  list_contact_way + get_contact_way, matched by state (a state names one code); join ways
  and templates cannot be listed back (WeCom has no list API for them), so those are made
  again and the stray one is reported (it counts towards the caps, nothing else);
- an add whose answer was lost (-1 after retries, a timeout): never repeated blindly
  (`retry_unanswered=False`); the row stays ``creating`` and the next run looks;
- 45009: the client waits the window out;
- a code deleted by hand in WeCom: its update answers 41044 (41058 for a template), so it
  is made again, recorded, and reported ("reprint its cards").

A join code's QR image is also uploaded once with media/uploadimg (`host_picture`):
WeCom documents `pic_url` as taking only uploadimg's URLs, and welcomes attach the code
as a picture. A join code still without its copy (a failed upload, an older record) gets
one on the next run; until then welcomes attach WeCom's own qr_code URL.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from bot.codes import records
from bot.codes.model import DesiredCode
from bot.codes.plan import APP_MESSAGE_RECIPIENTS, Plan, Step, make_plan
from bot.codes.welcome_template import notice_text
from bot.db.engine import Database
from bot.i18n import t
from bot.media.fetch import QrFetchError
from bot.wecom import contact_ways as api
from bot.wecom.client import WeComClient
from bot.wecom.errors import WeComError

log = logging.getLogger(__name__)
GONE = {"contact": {api.INVALID_CONFIG_ID}, "join": {api.INVALID_CONFIG_ID},
        "group_welcome": {api.NO_TEMPLATE_PERMISSION}}  # also unknown ids (ASSUMED, sim)
LOOKBACK_S = 600  # list_contact_way's window starts this long before the oldest intent
NOTICE_DUPLICATE_CHECK_S = 4 * 3600  # WeCom drops an identical notice within this


@dataclass
class SyncReport:
    plan: Plan
    done: dict[str, int] = field(default_factory=dict)
    recovered: list[str] = field(default_factory=list)  # found in WeCom, were unrecorded
    recreated: list[str] = field(default_factory=list)  # deleted by hand, made again
    strays: list[str] = field(default_factory=list)  # maybe made twice; cannot be listed
    failed: list[str] = field(default_factory=list)

    def count(self, what: str) -> None:
        self.done[what] = self.done.get(what, 0) + 1


class CodeSync:
    """Plans against the recorded codes and applies the plan with `client`."""

    def __init__(self, db: Database, client: WeComClient, *, agent_id: int | None,
                 concurrency: int = 16, clock: Callable[[], float] = time.time,
                 host_picture: Callable[[str], Awaitable[str]] | None = None) -> None:
        self.db = db
        self.client = client
        self.agent_id = agent_id
        self.host_picture = host_picture  # qr_code URL -> its uploaded copy's URL
        self._slots = asyncio.Semaphore(concurrency)
        self._clock = clock

    async def plan(self, desired: Sequence[DesiredCode]) -> Plan:
        rows = await self.db.read(records.load_rows)
        return make_plan(desired, rows)

    async def run(self, desired: Sequence[DesiredCode], *, prune: bool = False,
                  verify: bool = False) -> SyncReport:
        """Look up what an interrupted run left, then apply the plan; `verify` first asks
        WeCom for every unchanged code (one call each) and makes again what is gone."""
        rows = await self.db.read(records.load_rows)
        report = SyncReport(make_plan(desired, rows))
        await self._recover(desired, rows, report)
        plan = report.plan = await self.plan(desired)
        if verify:
            plan = report.plan = await self._verify(plan, report)
        steps = plan.of("create", "update") + (plan.of("orphan") if prune else [])
        await asyncio.gather(*(self._guarded(step, report) for step in steps))
        await self._host_pictures(report)
        if self.agent_id is not None:
            await self._notify(plan.notices, report)
        return report

    async def _guarded(self, step: Step, report: SyncReport) -> None:
        async with self._slots:
            try:
                await self._apply(step, report)
            except WeComError as exc:
                report.failed.append(t("codes.step_failed", action=step.action_name(),
                                       key=step.key, error=exc))
                log.error("codes sync: %s %s failed: %s", step.action, step.key, exc)

    async def _apply(self, step: Step, report: SyncReport) -> None:
        code = step.desired
        if step.action == "orphan":
            assert step.row is not None
            await self._delete(step.row)
            report.count("deleted")
            return
        assert code is not None
        if step.action == "create":
            if step.row is not None and step.row.status == records.CREATING and (
                    code.kind != "contact"):
                report.strays.append(f"{code.key}: an interrupted run may have made one "
                                     "already; WeCom cannot list it back")
            await self._create(code)
            report.count("created")
            return
        assert step.row is not None
        try:
            await self._update(code, step.row)
            report.count("updated")
        except WeComError as exc:
            if exc.errcode not in GONE[code.kind]:
                raise
            log.warning("codes sync: %s was deleted in WeCom (%s): making it again",
                        code.key, exc.errcode)
            await self._create(code)
            report.recreated.append(code.key)

    # -- the calls ----------------------------------------------------------------------

    async def _create(self, code: DesiredCode) -> None:
        await self.db.write(lambda c: records.record_intent(c, code, self._clock()))
        if code.kind == "contact":
            made = await api.add_contact_way(self.client, dict(code.body))
            config_id, qr = made["config_id"], made["qr_code"]
        elif code.kind == "join":
            config_id = await api.add_join_way(self.client, dict(code.body))
            await self._record(code, config_id, "")  # the id first: the QR may fail
            qr = str((await api.get_join_way(self.client, config_id)).get("qr_code", ""))
        else:
            config_id = await api.add_group_welcome_template(self.client, dict(code.body))
            qr = ""
        await self._record(code, config_id, qr)

    async def _record(self, code: DesiredCode, config_id: str, qr: str) -> None:
        await self.db.write(lambda c: records.record_made(c, code, config_id, qr,
                                                          self._clock()))

    async def _update(self, code: DesiredCode, row: records.CodeRow) -> None:
        body: dict[str, Any] = dict(code.body)
        if code.kind == "contact":
            for fixed in ("type", "scene"):  # set at creation; update takes neither
                body.pop(fixed, None)
            await api.update_contact_way(self.client, {"config_id": row.config_id, **body})
            qr = row.qr_code or str((await api.get_contact_way(self.client, row.config_id))
                                    .get("qr_code", ""))
        elif code.kind == "join":
            await api.update_join_way(self.client, {"config_id": row.config_id, **body})
            qr = row.qr_code or str((await api.get_join_way(self.client, row.config_id))
                                    .get("qr_code", ""))
        else:
            body.pop("notify", None)  # add only
            await api.edit_group_welcome_template(self.client,
                                                  {"template_id": row.config_id, **body})
            qr = ""
        await self._record(code, row.config_id, qr)

    async def _delete(self, row: records.CodeRow) -> None:
        delete = {"contact": api.del_contact_way, "join": api.del_join_way,
                  "group_welcome": api.del_group_welcome_template}[row.kind]
        if row.config_id:
            try:
                await delete(self.client, row.config_id)
            except WeComError as exc:
                if exc.errcode not in GONE[row.kind]:
                    raise
        await self.db.write(lambda c: records.drop(c, row.key))

    async def _verify(self, plan: Plan, report: SyncReport) -> Plan:
        """Codes deleted by hand in WeCom, found by asking for each: to be made again."""
        gone: set[str] = set()
        readers = {"contact": api.get_contact_way, "join": api.get_join_way,
                   "group_welcome": api.get_group_welcome_template}

        async def ask(step: Step) -> None:
            assert step.row is not None
            async with self._slots:
                try:
                    await readers[step.row.kind](self.client, step.row.config_id)
                except WeComError as exc:
                    if exc.errcode not in GONE[step.row.kind]:
                        raise
                    gone.add(step.key)

        await asyncio.gather(*(ask(s) for s in plan.of("unchanged")))
        report.recreated.extend(sorted(gone))
        steps = tuple(Step("create", s.key, s.desired, None) if s.key in gone else s
                      for s in plan.steps)
        again = tuple(s.desired for s in steps if s.key in gone and s.desired is not None
                      and s.desired.kind == "group_welcome" and s.desired not in plan.notices)
        return Plan(steps, plan.notices + again)

    async def _host_pictures(self, report: SyncReport) -> None:
        """Every join code's QR without an uploaded copy: fetched and uploaded once."""
        if self.host_picture is None:
            return
        host = self.host_picture

        async def one(key: str, qr: str) -> None:
            async with self._slots:
                try:
                    pic_url = await host(qr)
                except (WeComError, QrFetchError) as exc:
                    report.failed.append(t("codes.picture_failed", key=key, error=exc))
                    return
            await self.db.write(partial(records.record_hosted, key=key, qr_code=qr,
                                        pic_url=pic_url))
            report.count("pictures uploaded")

        await asyncio.gather(*(one(k, q) for k, q in
                               await self.db.read(records.unhosted_join_codes)))

    # -- an interrupted run ----------------------------------------------------------------

    async def _recover(self, desired: Sequence[DesiredCode], rows: dict[str, records.CodeRow],
                       report: SyncReport) -> None:
        """Contact ways made but not recorded: find them by state and record them."""
        pending = {r.state: r for r in rows.values()
                   if r.status == records.CREATING and r.kind == "contact" and r.state}
        if not pending:
            return
        by_key = {c.key: c for c in desired}
        known = {r.config_id for r in rows.values() if r.config_id}
        start = int(min(r.created_at for r in pending.values()) - LOOKBACK_S)
        end = int(self._clock()) + 60
        listed = await api.list_contact_way(self.client, max(start, end - api.LIST_WINDOW_S),
                                            end)
        for config_id in listed:
            if config_id in known:
                continue
            way = await api.get_contact_way(self.client, config_id)
            row = pending.pop(str(way.get("state", "")), None)
            if row is None:
                continue
            code = by_key.get(row.key)
            if code is None:  # no longer wanted: record it so --prune can delete it
                code = DesiredCode(row.key, "contact", row.state, row.channel, row.store_id,
                                   row.store_name, {})
            # spec_hash "" makes the plan update it: its fields may predate an edit
            await self.db.write(partial(records.record_made, code=code, config_id=config_id,
                                        qr_code=str(way.get("qr_code", "")),
                                        at=self._clock(), spec_hash=""))
            report.recovered.append(row.key)
            if not pending:
                return

    # -- managers attach the group welcome ----------------------------------------------

    async def _notify(self, notices: Iterable[DesiredCode], report: SyncReport) -> None:
        """One app message per change of a template to its stores' managers; repeated
        content within 4 h is dropped by WeCom itself (a rerun after a crash)."""
        rows = await self.db.read(records.load_rows)
        for code in notices:
            row = rows.get(code.key)
            if row is None or row.status != records.ACTIVE or row.spec_hash != code.spec_hash:
                continue  # its template was not made or changed: nothing to attach yet
            managers = list(code.notify)
            try:
                for at in range(0, len(managers), APP_MESSAGE_RECIPIENTS):
                    batch = managers[at:at + APP_MESSAGE_RECIPIENTS]
                    await self.client.send_app_message({
                        "touser": "|".join(batch), "msgtype": "text", "agentid": self.agent_id,
                        "text": {"content": notice_text(code)}, "enable_duplicate_check": 1,
                        "duplicate_check_interval": NOTICE_DUPLICATE_CHECK_S})
            except WeComError as exc:
                report.failed.append(f"notice {code.key}: {exc}")
                continue
            await self.db.write(partial(records.record_notified, key=code.key,
                                        spec_hash=code.spec_hash))
            report.count("notices")
