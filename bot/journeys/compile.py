"""From journey files to `Journey` values, with every problem reported as file:line:col.

The checks an operator gets from ``python -m bot journeys check``: an event the engine does
not know, a tag outside the vocabulary, a day before day 1, a template that names an
undefined variable, two journeys that would both take a customer's daily 群发 allowance
with no precedence between them. A file that fails keeps the last good journeys running
(the `LiveBook` in `bot.journeys.runner`).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.books.positions import Loc
from bot.books.templating import TemplateLibrary
from bot.books.yamlfile import (
    OperatorFileError,
    OperatorFileErrors,
    error_at,
    load_yaml,
    validate,
    validate_part,
)
from bot.journeys.events import ENTRY_EVENTS
from bot.journeys.model import Allowance, Entry, Journey, Step, Stop
from bot.journeys.render import sample_context
from bot.journeys.spec import JourneyFile, JourneySpec, StepSpec, check_journey_name
from bot.sop.schedule import parse_clock, parse_timezone
from bot.wecom.content import compile_attachment


def journey_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in [*folder.glob("*.yaml"), *folder.glob("*.yml")] if p.is_file())


@dataclass
class Loader:
    templates: TemplateLibrary
    sample: dict[str, Any]
    errors: list[OperatorFileError] = field(default_factory=list)
    defined: dict[str, str] = field(default_factory=dict)  # name -> file:line:col
    vocabulary: set[tuple[str, str]] = field(default_factory=set)  # (group, name)
    tag_uses: list[tuple[Path, Any, Loc, str]] = field(default_factory=list)
    allowance: tuple[Path, Any, Allowance] | None = None
    journeys: list[Journey] = field(default_factory=list)

    def fail(self, path: Path, raw: Any, loc: Loc, reason: str, *, at_key: bool = False
             ) -> None:
        self.errors.append(error_at(path, raw, loc, reason, at_key=at_key))


def load_journey_file(loader: Loader, path: Path) -> None:
    try:
        raw = load_yaml(path)
    except OperatorFileError as exc:
        loader.errors.append(exc)
        return
    except OperatorFileErrors as exc:
        loader.errors.extend(exc.errors)
        return
    try:
        spec = validate(path, raw, JourneyFile)
    except OperatorFileErrors as exc:
        loader.errors.extend(exc.errors)
        return
    zone = parse_timezone(spec.timezone)
    for group, names in spec.tags.items():
        loader.vocabulary.update((group, name) for name in names)
    if spec.allowance is not None:
        if loader.allowance is not None:
            first = loader.allowance[0]
            loader.fail(path, raw, ("allowance",), f"allowance: already set in {first}; "
                        "set it in one journey file", at_key=True)
        else:
            loader.allowance = (path, raw, Allowance(spec.allowance.per_day,
                                                     tuple(spec.allowance.precedence)))
    for name in spec.journeys:
        journey = _load_one(loader, path, raw, str(name), zone)
        if journey is not None:
            loader.journeys.append(journey)


def _load_one(loader: Loader, path: Path, raw: Any, name: str, zone: ZoneInfo
              ) -> Journey | None:
    where: Loc = ("journeys", name)
    here = error_at(path, raw, where, "", at_key=True)
    try:
        check_journey_name(name)
    except ValueError as exc:
        loader.fail(path, raw, where, f"journeys: {exc}", at_key=True)
        return None
    if name in loader.defined:
        loader.fail(path, raw, where, f"journeys.{name}: already defined at "
                    f"{loader.defined[name]}; journey names are unique", at_key=True)
        return None
    loader.defined[name] = f"{path}:{here.line}:{here.column}"
    try:
        spec = validate_part(path, raw, where, JourneySpec)
    except OperatorFileErrors as exc:
        loader.errors.extend(exc.errors)
        return None
    before = len(loader.errors)

    def fail(loc: Loc, reason: str) -> None:
        loader.fail(path, raw, (*where, *loc), f"journeys.{name}.{reason}")

    entry = _entry(loader, spec, fail, path, raw, where)
    compiled = [_step(loader, spec, i, fail, path, raw, where)
                for i in range(len(spec.steps))]
    steps = [step for step in compiled if step is not None]
    stop = Stop(tuple(spec.stop.tags), spec.stop.purchase, spec.stop.left_groups,
                spec.stop.staff_deleted)
    for i, tag in enumerate(spec.stop.tags):
        loader.tag_uses.append((path, raw, (*where, "stop", "tags", i), tag))
    if len(loader.errors) > before:
        return None
    return Journey(name, spec.title, entry, tuple(steps), stop, spec.via, zone,
                   spec.postpone_days, spec.enabled, f"{path}:{here.line}", spec.note)


def _entry(loader: Loader, spec: JourneySpec, fail: Any, path: Path, raw: Any,
           where: Loc) -> Entry:
    e = spec.entry
    if e.event not in ENTRY_EVENTS:
        close = difflib.get_close_matches(e.event, sorted(ENTRY_EVENTS), n=1)
        hint = f" (did you mean '{close[0]}'?)" if close else ""
        fail(("entry", "event"), f"entry.event: unknown event '{e.event}'{hint}; one of "
             f"{', '.join(sorted(ENTRY_EVENTS))}")
    if e.event == "tag_added" and e.tag is None:
        fail(("entry",), "entry: event tag_added needs tag: (which tag starts it)")
    if e.event == "no_purchase" and e.days is None:
        fail(("entry",), "entry: event no_purchase needs days: (quiet for how many days)")
    for i, tag in enumerate(e.tags):
        loader.tag_uses.append((path, raw, (*where, "entry", "tags", i), tag))
    if e.tag is not None:
        loader.tag_uses.append((path, raw, (*where, "entry", "tag"), e.tag))
    return Entry(e.event, e.tag, e.days, e.min_purchases, e.level, e.stage, tuple(e.tags),
                 tuple(e.channels), tuple(e.stores), e.again_after_days)


def _step(loader: Loader, spec: JourneySpec, index: int, fail: Any, path: Path, raw: Any,
          where: Loc) -> Step | None:
    s: StepSpec = spec.steps[index]
    loc: Loc = ("steps", index)
    if s.day < 1:
        what = ("day 0 is the day of entry (the welcome's)" if s.day == 0
                else f"day {s.day} is before the entry")
        fail((*loc, "day"), f"steps[{index}].day: {what}; day 1 is the day after entry")
        return None
    if any(o.id == s.id for o in spec.steps[:index]):
        fail((*loc, "id"), f"steps[{index}].id: step id '{s.id}' is used twice in this "
             "journey; ids key each customer's progress")
        return None
    source = s.text or ""
    if s.template is not None:
        if not loader.templates.exists(s.template):
            fail((*loc, "template"), f"steps[{index}].template: {s.template}: not found "
                 f"under {loader.templates.root}")
            return None
        source = loader.templates.env.loader.get_source(  # type: ignore[union-attr]
            loader.templates.env, s.template)[0]
    text_loc = (*where, *loc, "text" if s.template is None else "template")
    for problem in loader.templates.check_source(source, loader.sample):
        if s.template is not None:
            loader.errors.append(OperatorFileError(loader.templates.root / s.template,
                                                   problem.line or 1, 1, problem.reason))
            continue
        at = error_at(path, raw, text_loc, "")
        offset = (problem.line or 1) - 1 + (1 if "\n" in source else 0)
        loader.errors.append(OperatorFileError(path, at.line + offset, at.column,
                                               f"journeys.{where[1]}.steps[{index}].text: "
                                               f"{problem.reason}"))
    attachments = tuple(compile_attachment(a) for a in s.attachments)
    return Step(s.id, s.day, parse_clock(s.at), source, s.template, attachments,
                s.if_full or spec.if_full, s.last,
                "customer" in source or "questionnaire" in source)


def check_tags(loader: Loader) -> None:
    """Every tag a journey names is in the vocabulary (``tags:`` of the journey files)."""
    names = {name for _, name in loader.vocabulary}
    for path, raw, loc, tag in loader.tag_uses:
        group, slash, name = tag.partition("/")
        known = ((group, name) in loader.vocabulary) if slash else tag in names
        if not known:
            every = sorted(f"{g}/{n}" for g, n in loader.vocabulary)
            close = difflib.get_close_matches(tag, every, n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            loader.fail(path, raw, loc, f"unknown tag '{tag}'{hint}; add it under tags: "
                        "if the questionnaire, a channel or the cashier system creates it")


def check_precedence(loader: Loader, sop_names: Iterable[str] | None) -> Allowance:
    """Journeys that share the 群发 allowance must be ordered; named entries must exist."""
    allowance = loader.allowance[2] if loader.allowance else Allowance()
    sending = [j for j in loader.journeys if j.enabled and j.via == "group_send"]
    known = {j.name for j in loader.journeys}
    if loader.allowance is not None:
        path, raw, _ = loader.allowance
        sops = set(sop_names) if sop_names is not None else None
        for i, name in enumerate(allowance.precedence):
            sop = name.removeprefix("sop:")
            if name.startswith("sop:"):
                if sops is not None and sop not in sops:
                    loader.fail(path, raw, ("allowance", "precedence", i),
                                f"allowance.precedence: no SOP named '{sop}'")
            elif name not in known:
                loader.fail(path, raw, ("allowance", "precedence", i),
                            f"allowance.precedence: no journey named '{name}'")
    unordered = [j for j in sending if j.name not in allowance.precedence]
    if len(sending) > 1 and unordered:
        for journey in unordered:
            others = ", ".join(j.name for j in sending if j is not journey)[:200]
            path_s, _, line = journey.where.rpartition(":")
            loader.errors.append(OperatorFileError(
                Path(path_s), int(line), 1,
                f"journeys.{journey.name}: shares each customer's daily 群发 allowance with "
                f"{others}, with no precedence; list it in allowance.precedence"))
    return allowance


def template_sample(stores: Mapping[str, Any]) -> dict[str, Any]:
    return sample_context(next(iter(stores.values()), None))
