"""The values channels hand out (tags, perks, matches, welcomes) and the compiled channel.

Matches are cached and shared between tasks, so every value here is immutable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from types import MappingProxyType
from typing import Any, NamedTuple

from bot.books.stores import Store
from bot.channels.patterns import StatePattern, Subst
from bot.wecom.content import Attachment

DEFAULT_CHANNEL = "default"
STORE_FIELDS = (
    "id",
    "name",
    "city",
    "district",
    "address",
    "group_name",
    "manager_userid",
    "phone",
)
STORE_VARIABLES = tuple(f"store_{f}" for f in STORE_FIELDS)
MAX_TAG_NAME = 30  # characters, tag and tag group names alike (add_corp_tag, doc 92117)


class Tag(NamedTuple):
    """A corp tag: WeCom tags live in groups, and a name is only unique inside its group."""

    group: str
    name: str


@dataclass(frozen=True, slots=True)
class Perk:
    """What the customer gets for adding us (a coupon code, usually)."""

    title: str
    code: str = ""
    valid_days: int | None = None
    rule: str = ""

    def as_context(self, today: date) -> dict[str, Any]:
        """The ``perk`` template variable; ``expires`` is the last day it can be used."""
        expires = today + timedelta(days=self.valid_days - 1) if self.valid_days else None
        return {
            "title": self.title,
            "code": self.code,
            "valid_days": self.valid_days,
            "rule": self.rule,
            "expires": expires,
        }


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """``channel`` in templates."""

    name: str
    state: str
    captures: Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ChannelMatch:
    """What a state means. Immutable, because matches are cached and shared between tasks."""

    channel: str
    state: str
    captures: Mapping[str, str]
    store: Store | None
    tags: tuple[Tag, ...]  # (group, name) pairs, substituted, without duplicates
    perk: Perk | None
    is_default: bool = False

    @property
    def name(self) -> str:
        """The channel's name (same as `channel`), as recorded with the member."""
        return self.channel


@dataclass(frozen=True, slots=True)
class WelcomeMessage:
    """A rendered welcome, within WeCom's limits."""

    text: str
    attachments: list[dict[str, Any]] = field(default_factory=list)

    def payload(self, welcome_code: str) -> dict[str, Any]:
        """The body of ``externalcontact/send_welcome_msg``."""
        body: dict[str, Any] = {"welcome_code": welcome_code}
        if self.text:
            body["text"] = {"content": self.text}
        if self.attachments:
            body["attachments"] = self.attachments
        return body


class WelcomeError(Exception):
    """A welcome could not be built for a channel; the message says which and why."""

    def __init__(self, channel: str, reason: str, loc: tuple[str | int, ...] = ()) -> None:
        super().__init__(channel, reason)
        self.channel = channel
        self.reason = reason
        self.loc = loc  # the node below the channel at fault, e.g. attachments/0/link/picurl

    def __str__(self) -> str:
        return f"channel '{self.channel}': {self.reason}"


@dataclass(frozen=True, slots=True)
class Channel:
    """One channel of channels.yaml, checked against the file and stores.yaml, compiled."""

    name: str
    patterns: tuple[StatePattern, ...]
    store: Subst | None
    tags: tuple[tuple[str, Subst], ...]
    template: str
    perk: Perk | None
    attachments: tuple[Attachment, ...]
    card_line: str = ""  # printed under the channel's QR code (bot.cards)

    def matched(self, state: str, captures: dict[str, str], store: Store | None) -> ChannelMatch:
        """What `state` means in this channel, with its captures and its (found) store."""
        return ChannelMatch(
            channel=self.name,
            state=state,
            captures=MappingProxyType(captures),
            store=store,
            tags=self.tags_for(captures, store),
            perk=self.perk,
            is_default=self.name == DEFAULT_CHANNEL,
        )

    def tags_for(self, captures: Mapping[str, str], store: Store | None) -> tuple[Tag, ...]:
        """The channel's tags with captures and ``store_*`` filled in, without duplicates."""
        values = dict(captures)
        if store is not None:
            values.update({f"store_{f}": getattr(store, f) for f in STORE_FIELDS})
        tags: dict[Tag, None] = {}  # ordered set
        for group, name in self.tags:
            tags[Tag(group, name(values))] = None
        return tuple(tags)
