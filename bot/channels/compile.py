"""Turning channels.yaml's validated models into compiled channels, with the cross-checks.

What pydantic cannot see is checked here: the ``default`` channel, states and patterns used by
two channels, placeholders that no pattern captures, and store ids missing from stores.yaml.
Every problem is collected with its file:line, so the operator sees them all at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.books.positions import Loc
from bot.books.stores import STORE_ID_RE, StoreDirectory
from bot.books.yamlfile import OperatorFileError, error_at
from bot.channels.model import DEFAULT_CHANNEL, MAX_TAG_NAME, STORE_VARIABLES, Channel, Perk
from bot.channels.patterns import StatePattern, Subst, compile_pattern
from bot.channels.spec import ChannelsFile, ChannelSpec
from bot.i18n import t
from bot.wecom.content import compile_attachment


@dataclass
class Findings:
    """The problems found in one channels.yaml, each located at its node in the file."""

    path: Path
    data: Any
    errors: list[OperatorFileError] = field(default_factory=list)

    def add(self, loc: Loc, reason: str, *, at_key: bool = False) -> None:
        """Record `reason` at the node `loc` names (its key with ``at_key``)."""
        self.errors.append(error_at(self.path, self.data, loc, reason, at_key=at_key))


def compile_channels(
    spec: ChannelsFile, stores: StoreDirectory, findings: Findings
) -> list[Channel]:
    """The channels that pass every check, in file order; the others' problems in `findings`."""
    compiler = _Compiler(stores, findings)
    channels = [
        compiled
        for name, channel_spec in spec.channels.items()
        if (compiled := compiler.channel(name, channel_spec)) is not None
    ]
    if DEFAULT_CHANNEL not in spec.channels:
        findings.add(
            ("channels",),
            t("channels.no_default"),
            at_key=True,
        )
    return channels


class _Compiler:
    """Compiles channels one by one, remembering which channel owns each state and pattern."""

    def __init__(self, stores: StoreDirectory, findings: Findings) -> None:
        self.stores = stores
        self.findings = findings
        self.exact_owner: dict[str, str] = {}
        self.pattern_owner: dict[str, str] = {}

    def channel(self, name: str, spec: ChannelSpec) -> Channel | None:
        """Check one channel against the rest of the file and the store directory."""
        before = len(self.findings.errors)
        patterns = self._patterns(name, spec)
        available = _captured_by_all(patterns)
        store = self._store(name, spec, patterns, available)
        tags = self._tags(name, spec, available, store)
        if len(self.findings.errors) > before:
            return None
        perk = Perk(**spec.perk.model_dump()) if spec.perk is not None else None
        return Channel(
            name=name,
            patterns=tuple(patterns),
            store=store,
            tags=tuple(tags),
            template=spec.template,
            perk=perk,
            attachments=tuple(compile_attachment(a) for a in spec.attachments),
            card_line=spec.card_line,
        )

    def _patterns(self, name: str, spec: ChannelSpec) -> list[StatePattern]:
        """The channel's ``match`` entries (its name if none), each owned by one channel."""
        where = ("channels", name)
        if name == DEFAULT_CHANNEL:
            if spec.match is not None:
                self.findings.add(
                    (*where, "match"),
                    "channels.default.match: " + t("channels.default_match"),
                )
            return []
        patterns: list[StatePattern] = []
        for index, source in enumerate(spec.match or [name]):
            loc = (*where, "match", index) if spec.match else where
            pattern = compile_pattern(source)  # syntax already checked by the model
            owners = self.exact_owner if pattern.regex is None else self.pattern_owner
            if source in owners:
                self.findings.add(
                    loc,
                    f"channels.{name}.match: " + t(
                        "channels.state_taken" if pattern.regex is None
                        else "channels.pattern_taken", source=source, owner=owners[source]),
                    at_key=spec.match is None,
                )
                continue
            owners[source] = name
            patterns.append(pattern)
        return patterns

    def _store(
        self, name: str, spec: ChannelSpec, patterns: list[StatePattern], available: set[str]
    ) -> Subst | None:
        """The channel's ``store:``: a fixed id in stores.yaml, or captures every pattern has."""
        if spec.store is None:
            return None
        loc = ("channels", name, "store")
        store = Subst(spec.store)
        unknown = [n for n in store.names if n not in available]
        if unknown:
            self.findings.add(
                loc,
                f"channels.{name}.store: " + t(
                    "channels.not_captured_by_all" if patterns else "channels.not_captured",
                    name=unknown[0]),
            )
        elif not store.names:
            if not STORE_ID_RE.fullmatch(spec.store):
                self.findings.add(
                    loc, f"channels.{name}.store: " + t("channels.store_id_format")
                )
            elif spec.store not in self.stores:
                self.findings.add(
                    loc, f"channels.{name}.store: " + t("sop.cli.unknown_store", store=spec.store)
                )
        return store

    def _tags(
        self, name: str, spec: ChannelSpec, available: set[str], store: Subst | None
    ) -> list[tuple[str, Subst]]:
        """The channel's tags, whose placeholders must be captures or ``store_*`` fields."""
        variables = available | (set(STORE_VARIABLES) if store is not None else set())
        tags: list[tuple[str, Subst]] = []
        for group, names in spec.tags.items():
            for index, tag_name in enumerate(names):
                subst = Subst(tag_name)
                unknown = [n for n in subst.names if n not in variables]
                if unknown:
                    hint = (
                        t("channels.store_names_need_store")
                        if unknown[0].startswith("store_") and store is None
                        else t("channels.use_capture", names=", ".join(STORE_VARIABLES))
                    )
                    self.findings.add(
                        ("channels", name, "tags", group, index),
                        f"channels.{name}.tags.{group}: "
                        + t("channels.unknown_placeholder", name=unknown[0], hint=hint),
                    )
                else:
                    self._tag_length(name, group, index, subst, store)
                tags.append((group, subst))
            if len(group) > MAX_TAG_NAME:
                self.findings.add(("channels", name, "tags", group),
                                  f"channels.{name}.tags: " + t(
                                      "channels.group_name_long", group=group,
                                      length=len(group), limit=MAX_TAG_NAME))
        return tags

    def _tag_length(self, name: str, group: str, index: int, subst: Subst,
                    store: Subst | None) -> None:
        """WeCom refuses a tag name over 30 characters (40072): say so here, with the file
        position, rather than when a customer scans. ``store_*`` values count at their
        longest over the stores the channel can name; a capture counts as empty (the state
        itself is at most 30 characters, and the tag book refuses a long result at run time)."""
        fixed = self.stores.get(store.source) if store is not None and not store.names else None
        stores = [fixed] if fixed is not None else self.stores.all()
        longest = 0
        for is_var, text in subst.parts:
            if not is_var:
                longest += len(text)
            elif text.startswith("store_") and stores:
                longest += max(len(str(getattr(s, text.removeprefix("store_")))) for s in stores)
        if longest > MAX_TAG_NAME:
            self.findings.add(("channels", name, "tags", group, index),
                              f"channels.{name}.tags.{group}: " + t(
                                  "channels.tag_name_long", tag=subst.source, length=longest,
                                  limit=MAX_TAG_NAME))


def _captured_by_all(patterns: list[StatePattern]) -> set[str]:
    """The captures a placeholder may use: those every pattern of the channel fills."""
    if any(p.regex is None for p in patterns):
        return set()  # an exact state captures nothing
    captured = [set(p.captures) for p in patterns]
    return set.intersection(*captured) if captured else set()
