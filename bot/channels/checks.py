"""Load-time checks that render every channel's welcome for a sample customer.

A template's undefined names, sandbox refusals and WeCom limit overruns only show when it is
rendered; doing that at load time, on a member day and on an ordinary day, turns mistakes that
would otherwise cost a real customer their welcome into file:line errors for the operator.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from bot.books.positions import Loc
from bot.books.stores import Store, StoreDirectory
from bot.books.templating import TemplateLibrary, on_none
from bot.channels.compile import Findings
from bot.channels.model import Channel, ChannelMatch, WelcomeError
from bot.channels.patterns import StatePattern, Subst
from bot.channels.render import render_channel, welcome_context
from bot.i18n import t

_SAMPLE_DAYS = (date(2025, 3, 4), date(2025, 3, 5))  # a Tuesday, then a Wednesday
_SAMPLE_CUSTOMER = "测试顾客"
_SAMPLE_STAFF = "店长"


@dataclass(frozen=True, slots=True)
class RenderCheck:
    """Renders channels the way `ChannelBook` will, for a sample customer and store."""

    templates: TemplateLibrary
    stores: StoreDirectory
    member_weekday: int

    def run(self, channels: Iterable[Channel], findings: Findings) -> None:
        """Render every channel for a sample customer, so mistakes surface at load time."""
        days = tuple(d + timedelta(days=(self.member_weekday - 1) % 7) for d in _SAMPLE_DAYS)
        for channel in channels:
            sample = self.sample_match(channel)
            if sample is None:
                continue  # no store can stand in; compiling the channel already said why
            for problem, loc in self._problems(channel, sample, days).items():
                findings.add(loc, f"channels.{channel.name}: {problem}")

    def _problems(
        self, channel: Channel, sample: ChannelMatch, days: tuple[date, ...]
    ) -> dict[str, Loc]:
        """Each distinct problem once, at the node it comes from (first day it shows)."""
        where = ("channels", channel.name)
        problems: dict[str, Loc] = {}
        for today in days:
            ctx = welcome_context(
                sample, _SAMPLE_CUSTOMER, _SAMPLE_STAFF, today, self.member_weekday
            )
            for problem in self.templates.check(channel.template, ctx):
                problems.setdefault(problem + _none_hint(problem, sample), (*where, "template"))
            self._attachment_problems(channel, sample, ctx, problems)
            if not problems:
                try:
                    render_channel(self.templates, channel, ctx)
                except WelcomeError as exc:
                    problems.setdefault(exc.reason, (*where, *(exc.loc or ("template",))))
        return problems

    def _attachment_problems(
        self,
        channel: Channel,
        sample: ChannelMatch,
        ctx: dict[str, Any],
        problems: dict[str, Loc],
    ) -> None:
        for index, attachment in enumerate(channel.attachments):
            kind = attachment.msgtype
            for key, source in attachment.fields:
                label = f"attachments[{index}].{kind}.{key}"
                loc = ("channels", channel.name, "attachments", index, kind, key)
                for problem in self.templates.check_string(source, ctx, label=label):
                    problems.setdefault(problem + _none_hint(problem, sample), loc)

    def sample_match(self, channel: Channel) -> ChannelMatch | None:
        """A match for a made-up state of the channel; None if no store can stand in."""
        captures: dict[str, str] = {}
        store: Store | None = None
        pattern = channel.patterns[0] if channel.patterns else StatePattern("", None, ())
        if channel.store is not None:
            store = self._sample_store(channel.store)
            if store is None:
                return None
            if channel.store.names and channel.store.source == "{" + channel.store.names[0] + "}":
                captures[channel.store.names[0]] = store.id
        for name in pattern.captures:
            captures.setdefault(name, "sample")
        state = pattern.source.replace("*", "x")
        for name, value in captures.items():
            state = state.replace("{" + name + "}", value)
        return channel.matched(state, captures, store)

    def _sample_store(self, store: Subst) -> Store | None:
        if store.names:
            return next(iter(self.stores.all()), None)
        return self.stores.get(store.source)


def _none_hint(problem: str, sample: ChannelMatch) -> str:
    """Why ``'None' has no attribute`` happened: this channel has no store or no perk."""
    if not on_none(problem):
        return ""
    empty = [n for n, v in (("store", sample.store), ("perk", sample.perk)) if v is None]
    if not empty:
        return ""
    names = t("channels.and").join(f"`{n}`" for n in empty)
    return t("channels.none_is" if len(empty) == 1 else "channels.none_are", names=names)
