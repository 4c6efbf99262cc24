"""Channels: what a 「联系我」 QR code's ``state`` means, and the welcome it earns.

When a customer scans a store's QR code, WeCom's ``add_external_contact`` callback carries
the code's ``state`` (``store-0012-counter``, ``takeout-card``, ...). Operators describe in
`sop/channels.yaml` what each state means: the store, the tags to mark, the welcome template,
the perk and the attachments. This module loads that file once, checks it thoroughly (every
template is rendered against a sample customer at load time), and then answers two questions
on the hot path, within the 20 s life of the WelcomeCode:

* `ChannelBook.match` - which channel a state belongs to (exact states first, then patterns
  in file order, then ``default``);
* `ChannelBook.render_welcome` - the text and attachments for ``send_welcome_msg``, already
  checked against WeCom's limits (text <= 4000 bytes, <= 9 attachments, title lengths).

The file format is documented in docs/channels.md and at the top of sop/channels.yaml.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from bot.books.context import MEMBER_WEEKDAY
from bot.books.stores import Store, StoreDirectory
from bot.books.templating import TemplateLibrary
from bot.books.yamlfile import OperatorFileErrors, load_model
from bot.channels.checks import RenderCheck
from bot.channels.compile import Findings, compile_channels
from bot.channels.model import (
    DEFAULT_CHANNEL,
    Channel,
    ChannelMatch,
    WelcomeError,
    WelcomeMessage,
)
from bot.channels.render import render_channel, welcome_context
from bot.channels.spec import ChannelsFile
from bot.members.links import no_link

log = logging.getLogger(__name__)

MAX_STATE_CHARS = 128  # 「联系我」 states are short; longer input never reaches the regexes
_MATCH_CACHE_SIZE = 4096  # distinct states seen; 获客链接 states can be chosen by anyone


class ChannelBook:
    """Every channel of `sop/channels.yaml`, compiled for fast matching and rendering."""

    def __init__(
        self,
        channels: Sequence[Channel],
        templates: TemplateLibrary,
        stores: StoreDirectory,
        *,
        member_weekday: int = MEMBER_WEEKDAY,
    ) -> None:
        self.templates = templates
        self.stores = stores
        self.member_weekday = member_weekday
        self._channels = {c.name: c for c in channels}
        self._default = self._channels.get(DEFAULT_CHANNEL)  # None only while load() checks
        self._exact: dict[str, Channel] = {}
        self._patterns: list[tuple[re.Pattern[str], Channel]] = []
        for channel in channels:
            for pattern in channel.patterns:
                if pattern.regex is None:
                    self._exact.setdefault(pattern.source, channel)
                else:
                    self._patterns.append((pattern.regex, channel))
        self._cache: dict[str, ChannelMatch] = {}

    def names(self) -> list[str]:
        """Channel names in file order."""
        return list(self._channels)

    def card_line(self, name: str) -> str:
        """The line a printed card of channel `name` carries ("" when none is set)."""
        channel = self._channels.get(name)
        return channel.card_line if channel is not None else ""
    def channel(self, name: str) -> Channel | None:
        """The compiled channel of that name (bot.codes makes its QR codes from it)."""
        return self._channels.get(name)

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(
        cls,
        channels_path: Path | str,
        templates: TemplateLibrary,
        stores: StoreDirectory,
        *,
        member_weekday: int = MEMBER_WEEKDAY,
    ) -> ChannelBook:
        """Load and fully check `sop/channels.yaml`.

        Raises `OperatorFileErrors` listing every problem as ``file:line:col: reason``:
        schema errors, a missing ``default``, bad patterns, unknown stores or placeholders,
        and each template's syntax errors, undefined names and limit overruns, found by
        rendering it for a sample customer on a member day and on an ordinary day.
        """
        path = Path(channels_path)
        data, spec = load_model(path, ChannelsFile)
        findings = Findings(path, data)
        channels = compile_channels(spec, stores, findings)
        # render-check the channels that compiled even if others did not: one pass, all errors
        RenderCheck(templates, stores, member_weekday).run(channels, findings)
        if findings.errors:
            raise OperatorFileErrors(findings.errors)
        return cls(channels, templates, stores, member_weekday=member_weekday)

    # ------------------------------------------------------------------ matching

    def match(self, state: str | None) -> ChannelMatch:
        """The channel for a callback's ``State``: exact, then patterns in file order, then
        ``default``. Never fails: an unknown or empty state gets the default channel.

        A pattern whose store id is not in stores.yaml (a closed store's old QR code) does
        not match, so the customer still gets a welcome from a later channel or the default.
        """
        state = state or ""
        cached = self._cache.get(state)
        if cached is not None:
            return cached
        result = self._match(state)
        if len(self._cache) >= _MATCH_CACHE_SIZE:
            self._cache.clear()
        self._cache[state] = result
        return result

    def _match(self, state: str) -> ChannelMatch:
        channel = self._exact.get(state)
        if channel is not None:
            found = self._bind(channel, state, {})
            if found is not None:
                return found
        if len(state) <= MAX_STATE_CHARS:
            for regex, channel in self._patterns:
                hit = regex.fullmatch(state)
                if hit is not None:
                    found = self._bind(channel, state, hit.groupdict())
                    if found is not None:
                        return found
        assert self._default is not None  # load() refuses a file without one
        default = self._bind(self._default, state, {})
        assert default is not None  # load() checked the default's store
        return default

    def _bind(self, channel: Channel, state: str, captures: dict[str, str]) -> ChannelMatch | None:
        store: Store | None = None
        if channel.store is not None:
            store_id = channel.store(captures)
            store = self.stores.get(store_id)
            if store is None:
                log.warning(
                    "state %r: channel %r names store %r, which is not in stores.yaml; "
                    "trying the next channel",
                    state,
                    channel.name,
                    store_id,
                )
                return None
        return channel.matched(state, captures, store)

    # ------------------------------------------------------------------ rendering

    def render_welcome(
        self, match: ChannelMatch, customer_name: str, staff_name: str, today: date,
        questionnaire: Callable[[str], str] | None = None,
    ) -> WelcomeMessage:
        """The welcome for a matched state, ready for ``send_welcome_msg``.

        Raises `WelcomeError` (with the template error as its cause) if the template fails
        for this customer or the result breaks a WeCom limit; the caller should then fall
        back to a plain greeting rather than miss the 20 s WelcomeCode window.
        """
        channel = self._channels[match.channel]
        return render_channel(
            self.templates, channel,
            self._context(match, customer_name, staff_name, today, questionnaire),
        )

    def fallback_welcome(
        self, match: ChannelMatch, customer_name: str, staff_name: str, today: date,
        questionnaire: Callable[[str], str] | None = None,
    ) -> WelcomeMessage:
        """What a customer gets when their channel's welcome fails to render: the
        ``default`` channel's welcome for them, or if that fails too, a fixed plain greeting.
        Never raises: a plain welcome inside the 20 s beats none."""
        assert self._default is not None
        if match.channel != self._default.name:
            try:
                return render_channel(
                    self.templates,
                    self._default,
                    self._context(match, customer_name, staff_name, today, questionnaire),
                )
            except WelcomeError:
                pass
        name = customer_name.strip() or "朋友"
        where = f"{match.store.name}" if match.store is not None else "我们店"
        me = f"我是{staff_name.strip()}，" if staff_name.strip() else ""
        return WelcomeMessage(f"{name}您好，欢迎来到{where}！{me}买水果、问售后随时找我。", [])

    def _context(
        self, match: ChannelMatch, customer_name: str, staff_name: str, today: date,
        questionnaire: Callable[[str], str] | None,
    ) -> dict[str, Any]:
        return welcome_context(match, customer_name, staff_name, today, self.member_weekday,
                               questionnaire or no_link)
