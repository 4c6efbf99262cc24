"""Group health: operators' rules (sop/group_health.yaml) sort groups into value,
chicken-rib (鸡肋群), dead and spam groups, over signals that need no message content.

A rule is a list of conditions, all of which must hold; the first rule that matches names
the class, else `default`. A condition is ``signal op number`` where the signal may be a sum
(``leaves + removals >= 5``). Signals are counted over the last `window_days` from the
daily rollups; the ``owner_*`` ones come from WeCom's groupchat/statistic, which WeCom
reports per owner per day, never per group, so they describe all of the owner's groups.
A bad file is refused with file:line and reason, and the last good rules keep running.
"""

from __future__ import annotations

import logging
import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from bot.books.yamlfile import (
    OperatorFileError,
    OperatorFileErrors,
    OperatorModel,
    error_at,
    load_model,
)

log = logging.getLogger(__name__)
SIGNALS = {
    "members": "members at the end of the window",
    "joins": "joins in the window", "leaves": "members who left", "removals": "members removed",
    "rejoins": "joins of members who had left before",
    "top_inviter_joins": "most joins one inviter brought in one day",
    "owner_posts": "owner posts (sidebar) done", "sent": "SOP messages delivered",
    "failed": "SOP messages failed",
    "owner_silent_days": "days the owner's groups had no message (WeCom, per owner)",
    "owner_msg_per_member": "the owner's group messages per member (WeCom, per owner)",
}
_OPS: dict[str, Callable[[float, float], bool]] = {
    ">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt, "==": operator.eq}
_CONDITION = re.compile(
    r"^\s*([a-z_]+(?:\s*\+\s*[a-z_]+)*)\s*(>=|<=|==|>|<)\s*(-?\d+(?:\.\d+)?)\s*$")


@dataclass(frozen=True, slots=True)
class Condition:
    signals: tuple[str, ...]
    op: str
    value: float
    text: str

    def holds(self, signals: Mapping[str, float]) -> bool:
        return _OPS[self.op](sum(signals.get(s, 0) for s in self.signals), self.value)


@dataclass(frozen=True, slots=True)
class HealthClass:
    name: str
    label: str
    action: str
    when: tuple[Condition, ...]


class _RuleSpec(OperatorModel):
    name: str = Field(min_length=1, max_length=24, pattern=r"^[a-z_]+$")
    label: str = Field(min_length=1)
    action: str = ""
    when: list[str] = Field(min_length=1)


class _DefaultSpec(OperatorModel):
    name: str = Field(min_length=1, max_length=24, pattern=r"^[a-z_]+$")
    label: str = Field(min_length=1)
    action: str = ""


class _HealthFile(OperatorModel):
    window_days: int = Field(default=14, ge=1, le=60)
    classes: list[_RuleSpec] = Field(min_length=1)
    default: _DefaultSpec


def parse_condition(text: str) -> Condition:
    found = _CONDITION.match(text)
    if found is None:
        raise ValueError(f"{text!r} is not `signal >= number` (or <=, >, <, ==)")
    names = tuple(s.strip() for s in found.group(1).split("+"))
    unknown = [n for n in names if n not in SIGNALS]
    if unknown:
        raise ValueError(f"unknown signal {unknown[0]!r} (known: {', '.join(SIGNALS)})")
    return Condition(names, found.group(2), float(found.group(3)), text.strip())


@dataclass(frozen=True, slots=True)
class HealthRules:
    window_days: int
    classes: tuple[HealthClass, ...]
    default: HealthClass

    def classify(self, signals: Mapping[str, float]) -> tuple[HealthClass, str]:
        """The group's class, and the conditions that put it there (for the page)."""
        for rule in self.classes:
            if all(c.holds(signals) for c in rule.when):
                return rule, "；".join(c.text for c in rule.when)
        return self.default, ""

    def labels(self) -> dict[str, str]:
        return {c.name: c.label for c in (*self.classes, self.default)}

    @classmethod
    def load(cls, path: Path) -> HealthRules:
        """Read and check the file; `OperatorFileErrors` lists every problem at its line."""
        data, spec = load_model(path, _HealthFile)
        errors: list[OperatorFileError] = []
        classes = []
        for i, rule in enumerate(spec.classes):
            when = []
            for j, text in enumerate(rule.when):
                try:
                    when.append(parse_condition(text))
                except ValueError as exc:
                    errors.append(error_at(path, data, ("classes", i, "when", j),
                                           f"classes[{i}].when[{j}]: {exc}"))
            classes.append(HealthClass(rule.name, rule.label, rule.action, tuple(when)))
        names = [c.name for c in classes] + [spec.default.name]
        for i, name in enumerate(names[:-1]):
            if name in names[:i]:
                errors.append(error_at(path, data, ("classes", i, "name"),
                                       f"classes[{i}].name: {name!r} is used twice"))
        if errors:
            raise OperatorFileErrors(errors)
        default = HealthClass(spec.default.name, spec.default.label, spec.default.action, ())
        return cls(spec.window_days, tuple(classes), default)


class HealthBook:
    """The rules in use: re-read when the file changes; a bad edit keeps the last good."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self.rules: HealthRules | None = None
        self.problems: list[str] = []

    def current(self) -> HealthRules | None:
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            self.problems = [f"{self.path}: not found (no group classes until it exists)"]
            return self.rules
        stamp = (stat.st_mtime_ns, stat.st_size)
        if stamp != self._stamp:
            self._stamp = stamp
            try:
                self.rules, self.problems = HealthRules.load(self.path), []
            except OperatorFileErrors as exc:
                self.problems = [str(e) for e in exc.errors]
                log.error("%s refused, the last good rules stay: %s", self.path, exc)
        return self.rules


def describe(signals: Mapping[str, Any]) -> str:
    return "，".join(f"{k}={signals[k]}" for k in SIGNALS if k in signals)
