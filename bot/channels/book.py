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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, NamedTuple

from pydantic import BeforeValidator, Field

from bot.books.context import MEMBER_WEEKDAY, Person, day_context
from bot.books.stores import STORE_ID_RE, Store, StoreDirectory
from bot.books.templating import TemplateError, TemplateLibrary
from bot.books.yamlfile import (
    OperatorFileError,
    OperatorFileErrors,
    OperatorModel,
    error_at,
    load_model,
)
from bot.wecom.content import (
    MAX_ATTACHMENTS,
    MAX_TEXT_BYTES,
    Attachment,
    AttachmentSpec,
    ContentError,
    compile_attachment,
    render_attachment,
)

__all__ = [
    "MAX_ATTACHMENTS",
    "MAX_TEXT_BYTES",
    "ChannelBook",
    "ChannelInfo",
    "ChannelMatch",
    "Perk",
    "Person",
    "StatePattern",
    "Tag",
    "WelcomeError",
    "WelcomeMessage",
    "compile_pattern",
]

log = logging.getLogger(__name__)

DEFAULT_CHANNEL = "default"
MAX_STATE_CHARS = 128  # 「联系我」 states are short; longer input never reaches the regexes
_MATCH_CACHE_SIZE = 4096  # distinct states seen; 获客链接 states can be chosen by anyone

_CAPTURE_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_STORE_FIELDS = (
    "id",
    "name",
    "city",
    "district",
    "address",
    "group_name",
    "manager_userid",
    "phone",
)
STORE_VARIABLES = tuple(f"store_{f}" for f in _STORE_FIELDS)


# --------------------------------------------------------------------------- public values


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

    def __init__(self, channel: str, reason: str) -> None:
        super().__init__(channel, reason)
        self.channel = channel
        self.reason = reason

    def __str__(self) -> str:
        return f"channel '{self.channel}': {self.reason}"


# --------------------------------------------------------------------------- patterns


@dataclass(frozen=True, slots=True)
class StatePattern:
    """One compiled ``match`` entry."""

    source: str
    regex: re.Pattern[str] | None  # None: an exact state
    captures: tuple[str, ...]


def compile_pattern(source: str) -> StatePattern:
    """Compile a ``match`` entry; raises ValueError with an operator-readable reason.

    ``{name}`` captures one dash-separated segment (``[^-]+``); ``*`` matches anything,
    including nothing; every other character is literal. Without either it is an exact state.
    """
    if not source:
        raise ValueError("match pattern must not be empty")
    regex = ""
    captures: list[str] = []
    previous_wild = False
    i = 0
    while i < len(source):
        char = source[i]
        if char == "{":
            end = source.find("}", i)
            if end < 0:
                raise ValueError(f"'{{' without a closing '}}' in pattern {source!r}")
            name = source[i + 1 : end]
            if not _CAPTURE_NAME.fullmatch(name):
                raise ValueError(
                    f"bad capture '{{{name}}}' in pattern {source!r}: names use a-z, 0-9 and _"
                )
            if name in captures:
                raise ValueError(f"capture '{{{name}}}' appears twice in pattern {source!r}")
            if name.startswith("store_"):
                raise ValueError(f"capture '{{{name}}}': names starting store_ are reserved")
            if previous_wild:
                raise ValueError(
                    f"pattern {source!r} is ambiguous: put a literal (e.g. '-') between "
                    "captures and '*'"
                )
            captures.append(name)
            regex += f"(?P<{name}>[^-]+)"
            previous_wild = True
            i = end + 1
            continue
        if char == "}":
            raise ValueError(f"'}}' without an opening '{{' in pattern {source!r}")
        if char == "*":
            if previous_wild:
                raise ValueError(
                    f"pattern {source!r} is ambiguous: put a literal (e.g. '-') between "
                    "captures and '*'"
                )
            regex += ".*"
            previous_wild = True
        else:
            regex += re.escape(char)
            previous_wild = False
        i += 1
    is_pattern = bool(captures) or "*" in source
    return StatePattern(source, re.compile(regex) if is_pattern else None, tuple(captures))


def _check_pattern(value: str) -> str:
    compile_pattern(value)
    return value


def _one_or_many(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


class _Subst:
    """A ``{name}`` substitution (store ids, tag names), parsed once at load time."""

    __slots__ = ("names", "parts", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.parts: list[tuple[bool, str]] = []  # (is_variable, text)
        last = 0
        for found in _PLACEHOLDER.finditer(source):
            if found.start() > last:
                self.parts.append((False, source[last : found.start()]))
            self.parts.append((True, found.group(1)))
            last = found.end()
        if last < len(source):
            self.parts.append((False, source[last:]))
        self.names = tuple(text for is_var, text in self.parts if is_var)

    def __call__(self, values: Mapping[str, str]) -> str:
        if not self.names:
            return self.source
        return "".join(values[text] if is_var else text for is_var, text in self.parts)


# --------------------------------------------------------------------------- file models

NonEmpty = Annotated[str, Field(min_length=1)]
# `match: "a"` and `match: [a, b]` are both accepted; normalising before validation keeps
# pydantic from reporting one error per union member
MatchList = Annotated[
    list[Annotated[str, BeforeValidator(_check_pattern)]],
    BeforeValidator(_one_or_many),
    Field(min_length=1),
]


class _PerkSpec(OperatorModel):
    title: NonEmpty
    code: str = ""
    valid_days: int | None = Field(default=None, ge=1, le=366)
    rule: str = ""


class _ChannelSpec(OperatorModel):
    note: str = ""  # for operators: where the QR code is printed, who owns the campaign
    match: MatchList | None = None
    store: str | None = None
    tags: dict[NonEmpty, list[NonEmpty]] = Field(default_factory=dict)
    template: NonEmpty
    perk: _PerkSpec | None = None
    attachments: list[AttachmentSpec] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)


class _ChannelsFile(OperatorModel):
    channels: dict[NonEmpty, _ChannelSpec] = Field(min_length=1)


# --------------------------------------------------------------------------- compiled channel


@dataclass(frozen=True, slots=True)
class _Channel:
    name: str
    patterns: tuple[StatePattern, ...]
    store: _Subst | None
    tags: tuple[tuple[str, _Subst], ...]
    template: str
    perk: Perk | None
    attachments: tuple[Attachment, ...]


# --------------------------------------------------------------------------- the book


class ChannelBook:
    """Every channel of `sop/channels.yaml`, compiled for fast matching and rendering."""

    def __init__(
        self,
        channels: Sequence[_Channel],
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
        self._exact: dict[str, _Channel] = {}
        self._patterns: list[tuple[re.Pattern[str], _Channel]] = []
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
        data, spec = load_model(path, _ChannelsFile)
        errors: list[OperatorFileError] = []
        channels: list[_Channel] = []
        exact_owner: dict[str, str] = {}
        pattern_owner: dict[str, str] = {}
        for name, channel_spec in spec.channels.items():
            compiled = _compile_channel(
                path, data, name, channel_spec, stores, exact_owner, pattern_owner, errors
            )
            if compiled is not None:
                channels.append(compiled)
        if DEFAULT_CHANNEL not in spec.channels:
            errors.append(
                error_at(
                    path,
                    data,
                    ("channels",),
                    "no 'default' channel: add one, it welcomes customers whose state matches "
                    "no channel (e.g. they found the staff member by phone number)",
                    at_key=True,
                )
            )
        # render-check the channels that compiled even if others did not: one pass, all errors
        book = cls(channels, templates, stores, member_weekday=member_weekday)
        book._check_rendering(path, data, errors)
        if errors:
            raise OperatorFileErrors(errors)
        return book

    def _check_rendering(self, path: Path, data: Any, errors: list[OperatorFileError]) -> None:
        """Render every channel for a sample customer, so mistakes surface at load time."""
        sample_days = (date(2025, 3, 4), date(2025, 3, 5))  # a Tuesday, then a Wednesday
        sample_days = tuple(d + timedelta(days=(self.member_weekday - 1) % 7) for d in sample_days)
        for channel in self._channels.values():
            where = ("channels", channel.name)
            sample = self._sample_match(channel)
            if sample is None:
                continue  # no store can stand in; _compile_channel already reported why
            problems: dict[str, tuple[str | int, ...]] = {}
            for today in sample_days:
                ctx = self._context(sample, "测试顾客", "店长", today)
                for problem in self.templates.check(channel.template, ctx):
                    if "'None' has no attribute" in problem:
                        problem += _none_hint(sample)
                    problems.setdefault(problem, (*where, "template"))
                for index, attachment in enumerate(channel.attachments):
                    kind = attachment.msgtype
                    for key, source in attachment.fields:
                        label = f"attachments[{index}].{kind}.{key}"
                        for problem in self.templates.check_string(source, ctx, label=label):
                            if "'None' has no attribute" in problem:
                                problem += _none_hint(sample)
                            problems.setdefault(problem, (*where, "attachments", index, kind, key))
                if not problems:
                    try:
                        self._render(channel, sample, ctx)
                    except WelcomeError as exc:
                        problems.setdefault(exc.reason, (*where, "template"))
            for problem, loc in problems.items():
                errors.append(error_at(path, data, loc, f"channels.{channel.name}: {problem}"))

    def _sample_match(self, channel: _Channel) -> ChannelMatch | None:
        captures: dict[str, str] = {}
        store: Store | None = None
        pattern = channel.patterns[0] if channel.patterns else StatePattern("", None, ())
        if channel.store is not None:
            if channel.store.names:
                store = next(iter(self.stores.all()), None)
                if store is None:
                    return None
                if channel.store.source == "{" + channel.store.names[0] + "}":
                    captures[channel.store.names[0]] = store.id
            else:
                store = self.stores.get(channel.store.source)
                if store is None:
                    return None
        for name in pattern.captures:
            captures.setdefault(name, "sample")
        state = pattern.source.replace("*", "x")
        for name, value in captures.items():
            state = state.replace("{" + name + "}", value)
        return ChannelMatch(
            channel=channel.name,
            state=state,
            captures=MappingProxyType(captures),
            store=store,
            tags=self._tags(channel, captures, store),
            perk=channel.perk,
            is_default=channel.name == DEFAULT_CHANNEL,
        )

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

    def _bind(self, channel: _Channel, state: str, captures: dict[str, str]) -> ChannelMatch | None:
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
        return ChannelMatch(
            channel=channel.name,
            state=state,
            captures=MappingProxyType(captures),
            store=store,
            tags=self._tags(channel, captures, store),
            perk=channel.perk,
            is_default=channel is self._default,
        )

    @staticmethod
    def _tags(
        channel: _Channel, captures: Mapping[str, str], store: Store | None
    ) -> tuple[Tag, ...]:
        values = dict(captures)
        if store is not None:
            values.update({f"store_{f}": getattr(store, f) for f in _STORE_FIELDS})
        tags: dict[Tag, None] = {}  # ordered set
        for group, name in channel.tags:
            tags[Tag(group, name(values))] = None
        return tuple(tags)

    # ------------------------------------------------------------------ rendering

    def render_welcome(
        self, match: ChannelMatch, customer_name: str, staff_name: str, today: date
    ) -> WelcomeMessage:
        """The welcome for a matched state, ready for ``send_welcome_msg``.

        Raises `WelcomeError` (with the template error as its cause) if the template fails
        for this customer or the result breaks a WeCom limit; the caller should then fall
        back to a plain greeting rather than miss the 20 s WelcomeCode window.
        """
        channel = self._channels[match.channel]
        context = self._context(match, customer_name, staff_name, today)
        return self._render(channel, match, context)

    def fallback_welcome(
        self, match: ChannelMatch, customer_name: str, staff_name: str, today: date
    ) -> WelcomeMessage:
        """What a customer gets when their channel's welcome fails to render: the
        ``default`` channel's welcome for them, or if that fails too, a fixed plain greeting.
        Never raises: a plain welcome inside the 20 s beats none."""
        assert self._default is not None
        if match.channel != self._default.name:
            try:
                return self._render(self._default, match,
                                    self._context(match, customer_name, staff_name, today))
            except WelcomeError:
                pass
        name = customer_name.strip() or "朋友"
        where = f"{match.store.name}" if match.store is not None else "我们店"
        me = f"我是{staff_name.strip()}，" if staff_name.strip() else ""
        return WelcomeMessage(f"{name}您好，欢迎来到{where}！{me}买水果、问售后随时找我。", [])

    def _context(
        self, match: ChannelMatch, customer_name: str, staff_name: str, today: date
    ) -> dict[str, Any]:
        return {
            **day_context(today, self.member_weekday),
            "customer": Person(customer_name.strip() or "朋友"),
            "staff": Person(staff_name.strip()),
            "store": match.store,
            "channel": ChannelInfo(match.channel, match.state, match.captures),
            "perk": match.perk.as_context(today) if match.perk is not None else None,
        }

    def _render(
        self, channel: _Channel, match: ChannelMatch, context: Mapping[str, Any]
    ) -> WelcomeMessage:
        try:
            text = self.templates.render(channel.template, context).strip()
            attachments = [
                rendered
                for attachment in channel.attachments
                if (rendered := self._render_attachment(channel, attachment, context))
            ]
        except TemplateError as exc:
            raise WelcomeError(channel.name, str(exc)) from exc
        size = len(text.encode("utf-8"))
        if size > MAX_TEXT_BYTES:
            raise WelcomeError(
                channel.name,
                f"{channel.template}: welcome text is {size} bytes, WeCom allows "
                f"{MAX_TEXT_BYTES} (a Chinese character takes 3 bytes)",
            )
        if not text and not attachments:
            raise WelcomeError(channel.name, f"{channel.template}: rendered an empty welcome")
        return WelcomeMessage(text, attachments)

    def _render_attachment(
        self, channel: _Channel, attachment: Attachment, context: Mapping[str, Any]
    ) -> dict[str, Any] | None:
        try:
            return render_attachment(
                attachment, lambda _key, source: self.templates.render_string(source, context))
        except ContentError as exc:
            raise WelcomeError(channel.name, exc.reason) from exc


def _none_hint(sample: ChannelMatch) -> str:
    empty = [n for n, v in (("store", sample.store), ("perk", sample.perk)) if v is None]
    if not empty:
        return ""
    names = " and ".join(f"`{n}`" for n in empty)
    return f" (in this channel {names} {'is' if len(empty) == 1 else 'are'} None)"


def _compile_channel(
    path: Path,
    data: Any,
    name: str,
    spec: _ChannelSpec,
    stores: StoreDirectory,
    exact_owner: dict[str, str],
    pattern_owner: dict[str, str],
    errors: list[OperatorFileError],
) -> _Channel | None:
    """Check one channel against the rest of the file and the store directory."""
    where = ("channels", name)
    before = len(errors)
    is_default = name == DEFAULT_CHANNEL
    patterns: list[StatePattern] = []
    if is_default:
        if spec.match is not None:
            errors.append(
                error_at(
                    path,
                    data,
                    (*where, "match"),
                    "channels.default.match: the default channel takes no 'match'; it gets "
                    "every state that no other channel matches",
                )
            )
    else:
        for index, source in enumerate(spec.match or [name]):
            loc = (*where, "match", index) if spec.match else where
            pattern = compile_pattern(source)  # syntax already checked by the model
            owners = exact_owner if pattern.regex is None else pattern_owner
            if source in owners:
                kind = "state" if pattern.regex is None else "pattern"
                errors.append(
                    error_at(
                        path,
                        data,
                        loc,
                        f"channels.{name}.match: {kind} '{source}' is already used by channel "
                        f"'{owners[source]}'",
                        at_key=spec.match is None,
                    )
                )
                continue
            owners[source] = name
            patterns.append(pattern)

    captured = [set(p.captures) for p in patterns if p.regex is not None]
    # a placeholder must be filled by every pattern of the channel
    available = set.intersection(*captured) if captured else set()
    if any(p.regex is None for p in patterns):
        available = set()

    store: _Subst | None = None
    if spec.store is not None:
        store = _Subst(spec.store)
        unknown = [n for n in store.names if n not in available]
        if unknown:
            errors.append(
                error_at(
                    path,
                    data,
                    (*where, "store"),
                    f"channels.{name}.store: '{{{unknown[0]}}}' is not captured by "
                    + ("every 'match' pattern of this channel" if patterns else "any pattern"),
                )
            )
        elif not store.names:
            if not STORE_ID_RE.fullmatch(spec.store):
                errors.append(
                    error_at(
                        path,
                        data,
                        (*where, "store"),
                        f'channels.{name}.store: store id must be 4 digits, e.g. "0012"',
                    )
                )
            elif spec.store not in stores:
                errors.append(
                    error_at(
                        path,
                        data,
                        (*where, "store"),
                        f"channels.{name}.store: store '{spec.store}' is not in stores.yaml",
                    )
                )

    variables = available | (set(STORE_VARIABLES) if store is not None else set())
    tags: list[tuple[str, _Subst]] = []
    for group, names in spec.tags.items():
        for index, tag_name in enumerate(names):
            subst = _Subst(tag_name)
            unknown = [n for n in subst.names if n not in variables]
            if unknown:
                hint = (
                    "store_* names need a 'store:' in the channel"
                    if unknown[0].startswith("store_") and store is None
                    else "use a capture of 'match' or one of " + ", ".join(STORE_VARIABLES)
                )
                errors.append(
                    error_at(
                        path,
                        data,
                        (*where, "tags", group, index),
                        f"channels.{name}.tags.{group}: unknown placeholder "
                        f"'{{{unknown[0]}}}' ({hint})",
                    )
                )
            tags.append((group, subst))

    if len(errors) > before:
        return None
    perk = Perk(**spec.perk.model_dump()) if spec.perk is not None else None
    return _Channel(
        name=name,
        patterns=tuple(patterns),
        store=store,
        tags=tuple(tags),
        template=spec.template,
        perk=perk,
        attachments=tuple(compile_attachment(a) for a in spec.attachments),
    )
