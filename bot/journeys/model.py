"""A loaded journey: entry, steps and stop rules as the engine uses them.

Day counting (docs/journeys.md): a customer who enters on local day E gets step ``day: N``
on local day E + N at the step's ``at``, in the journey file's time zone. Day 1 is the day
after entry: what a customer gets on the day itself is the welcome's job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from bot.wecom.content import Attachment


@dataclass(frozen=True, slots=True)
class Entry:
    event: str
    tag: str | None = None
    days: int | None = None
    min_purchases: int | None = None
    level: str | None = None
    stage: str | None = None
    tags: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    stores: tuple[str, ...] = ()
    again_after_days: int | None = None


@dataclass(frozen=True, slots=True)
class Stop:
    tags: tuple[str, ...] = ()
    purchase: bool = False
    left_groups: bool = False
    staff_deleted: bool = True


@dataclass(frozen=True, slots=True)
class Step:
    id: str
    day: int
    at: time
    source: str  # the Jinja source (inline text, or the template file's text)
    template: str | None  # the file name, when from a file
    attachments: tuple[Attachment, ...] = ()
    if_full: str = "postpone"
    last: bool = False
    personal: bool = False  # names the customer or carries their link: one 群发 each


@dataclass(frozen=True, slots=True)
class Journey:
    name: str
    title: str
    entry: Entry
    steps: tuple[Step, ...]
    stop: Stop
    via: str  # group_send | staff_task
    timezone: ZoneInfo
    postpone_days: int = 3
    enabled: bool = True
    where: str = ""  # file:line of its name, for messages
    note: str = ""
    # the steps by id: the hand-over looks one up per row
    by_id: dict[str, Step] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_id", {s.id: s for s in self.steps})

    def step(self, step_id: str) -> Step | None:
        return self.by_id.get(step_id)

    def due_on(self, entry_day: date, day: date) -> list[Step]:
        """The steps due on local `day` for a customer who entered on `entry_day`."""
        n = (day - entry_day).days
        return [s for s in self.steps if s.day == n]

    def step_time(self, entry_day: date, step: Step) -> datetime:
        """When `step` goes out for a customer who entered on local `entry_day` (aware)."""
        return datetime.combine(entry_day + timedelta(days=step.day), step.at,
                                tzinfo=self.timezone)

    @property
    def length_days(self) -> int:
        return max(s.day for s in self.steps)


@dataclass(frozen=True)
class Allowance:
    per_day: int = 1
    precedence: tuple[str, ...] = ()  # journey names and sop:<name>, highest first

    def rank(self, name: str) -> int:
        """Lower goes first; what the list does not name comes after, by name."""
        try:
            return self.precedence.index(name)
        except ValueError:
            return len(self.precedence)


@dataclass
class RenderedStep:
    text: str
    attachments: list[dict[str, Any]] = field(default_factory=list)

    @cached_property
    def _key(self) -> str:
        return json.dumps([self.text, self.attachments], ensure_ascii=False, sort_keys=True)

    def key(self) -> str:
        """Customers whose step renders the same share one 群发."""
        return self._key
