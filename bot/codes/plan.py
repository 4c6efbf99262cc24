"""The diff between what the files ask for and what was recorded: the plan `codes sync`
prints (`--dry-run`) and then applies, step by step.

create     nothing recorded (or only the intent of an interrupted run: looked up first)
update     recorded, but the spec changed (new staff, new groups, new words) or its QR is
           not known yet
unchanged  recorded with the same spec: no call at all
orphan     recorded, no longer asked for: deleted only with ``--prune``
Group welcome templates also get a notice to their stores' managers when they are made or
changed (until the notice went out).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from bot.codes.model import DesiredCode
from bot.codes.records import CREATING, CodeRow
from bot.i18n import t

Action = Literal["create", "update", "unchanged", "orphan"]
APP_MESSAGE_RECIPIENTS = 1000  # message/send touser: at most 1000 members a call


@dataclass(frozen=True, slots=True)
class Step:
    action: Action
    key: str
    desired: DesiredCode | None
    row: CodeRow | None

    @property
    def kind(self) -> str:
        return self.desired.kind if self.desired is not None else self.row.kind if self.row else ""

    def action_name(self) -> str:
        """The action in the operators' language (create: 新建)."""
        return t("codes.action.create" if self.action == "create"
                 else "codes.action.update" if self.action == "update"
                 else "codes.action.orphan" if self.action == "orphan"
                 else "codes.action.unchanged")

    def describe(self) -> str:
        """The plan line of this step, in the operators' language."""
        action = self.action_name()
        code = self.desired
        if code is None:
            assert self.row is not None
            who = f"{self.row.store_id or '-'} {self.row.store_name}".strip()
            return f"{action:9} {self.row.kind:13} {self.key:34} {who} ({self.row.channel})"
        who = f"{code.store_id} {code.store_name}" if code.store_id else t("codes.chain_wide")
        note = ""
        if self.action == "create" and self.row is not None and self.row.status == CREATING:
            note = "  " + t("codes.looked_up_first")
        return f"{action:9} {code.kind:13} {self.key:34} {who} ({code.channel}){note}"


@dataclass(frozen=True)
class Plan:
    steps: tuple[Step, ...]
    notices: tuple[DesiredCode, ...]  # group welcomes whose managers are still to be told

    def of(self, *actions: Action) -> list[Step]:
        return [s for s in self.steps if s.action in actions]

    def counts(self) -> dict[str, int]:
        found = Counter(s.action for s in self.steps)
        return {a: found[a] for a in ("create", "update", "unchanged", "orphan")}

    def api_calls(self, prune: bool = False) -> Counter[str]:
        """The WeCom calls applying the plan makes, by API (no faults, nothing to recover)."""
        calls: Counter[str] = Counter()
        for step in self.of("create", "update") + (self.of("orphan") if prune else []):
            for api in _apis(step):
                calls[api] += 1
        for code in self.notices:
            calls["message/send"] += -(-len(code.notify) // APP_MESSAGE_RECIPIENTS)
        return calls

    @property
    def changes(self) -> bool:
        return bool(self.of("create", "update") or self.notices)


_CREATE: dict[str, tuple[str, ...]] = {"contact": ("externalcontact/add_contact_way",),
           "join": ("externalcontact/groupchat/add_join_way",
                    "externalcontact/groupchat/get_join_way",
                    "media/uploadimg"),  # its QR, the picture welcomes attach
           "group_welcome": ("externalcontact/group_welcome_template/add",)}
_UPDATE: dict[str, tuple[str, ...]] = {"contact": ("externalcontact/update_contact_way",),
           "join": ("externalcontact/groupchat/update_join_way",),
           "group_welcome": ("externalcontact/group_welcome_template/edit",)}
_DELETE: dict[str, tuple[str, ...]] = {"contact": ("externalcontact/del_contact_way",),
           "join": ("externalcontact/groupchat/del_join_way",),
           "group_welcome": ("externalcontact/group_welcome_template/del",)}


def _apis(step: Step) -> tuple[str, ...]:
    tables: dict[str, dict[str, tuple[str, ...]]] = {
        "create": _CREATE, "update": _UPDATE, "orphan": _DELETE}
    apis = tables.get(step.action, {}).get(step.kind, ())
    if step.action == "update" and step.kind == "join" and not (step.row and step.row.qr_code):
        apis = (*apis, "externalcontact/groupchat/get_join_way")
    return apis


def make_plan(desired: Iterable[DesiredCode], rows: Mapping[str, CodeRow]) -> Plan:
    steps: list[Step] = []
    notices: list[DesiredCode] = []
    wanted: set[str] = set()
    for code in desired:
        wanted.add(code.key)
        row = rows.get(code.key)
        if row is None or row.status == CREATING or not row.config_id:
            action: Action = "create"
        elif row.spec_hash != code.spec_hash or (code.kind != "group_welcome"
                                                 and not row.qr_code):
            action = "update"
        else:
            action = "unchanged"
        steps.append(Step(action, code.key, code, row))
        if code.kind == "group_welcome" and code.notify and (
                action != "unchanged" or row is None or row.notified_hash != code.spec_hash):
            notices.append(code)
    steps.extend(Step("orphan", key, None, row) for key, row in rows.items()
                 if key not in wanted)
    return Plan(tuple(steps), tuple(notices))
