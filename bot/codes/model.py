"""The values of the codes package: what should exist, what was recorded, the problems.

Kept apart so the planner, the sync, the group welcome and the cards (bot.codes.cards, by
the cards helper) share them without importing each other.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bot.books.positions import Loc
from bot.books.yamlfile import OperatorFileError, error_at
from bot.wecom.contact_ways import MAX_JOIN_WAY_CHATS

Kind = Literal["contact", "join", "group_welcome"]


@dataclass(frozen=True, slots=True)
class GroupRoom:
    """One of a store's customer groups, as the join code sees it."""

    chat_id: str
    members: int


@dataclass(frozen=True)
class DesiredCode:
    """One thing to have in WeCom, and the body that makes it (without its id)."""

    key: str  # what it is for: contact:<state>, join:<store id>, group_welcome:<name>
    kind: Kind
    state: str
    channel: str
    store_id: str | None
    store_name: str
    body: Mapping[str, Any]
    notify: tuple[str, ...] = ()  # managers to tell when it is made or changed
    full_at: int = 0  # join codes: a group with this many members is left out of the list

    @property
    def spec_hash(self) -> str:
        """Changes exactly when the body does: what `codes sync` compares."""
        text = json.dumps(self.body, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass
class Findings:
    path: Path
    data: Any
    errors: list[OperatorFileError] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # not errors: e.g. a store with no group

    def add(self, loc: Loc, reason: str, *, at_key: bool = False) -> None:
        self.errors.append(error_at(self.path, self.data, loc, reason, at_key=at_key))




@dataclass(frozen=True, slots=True)
class RecordedCode:
    """A code `codes sync` made and recorded: what a printed card or a welcome needs."""

    store_id: str | None  # None for a chain-wide code (tuesday-fruit-day, a persona)
    store_name: str
    channel: str
    state: str
    qr_code: str  # the QR image URL WeCom returned
    kind: str  # contact | join | group_welcome
    config_id: str = ""  # template_id for group_welcome


def chat_list(rooms: Sequence[GroupRoom], full_at: int) -> list[str]:
    """Up to 5 groups with room, oldest first; all full: the newest, so that WeCom makes
    the next one (auto_create_room)."""
    open_rooms = [r.chat_id for r in rooms if r.members < full_at]
    if open_rooms:
        return open_rooms[:MAX_JOIN_WAY_CHATS]
    return [rooms[-1].chat_id] if rooms else []
