"""The member rules operators write (sop/members.yaml): growth value, levels, stages, tags.

Read through `bot.books` like every operator file: a schema error or a rule that cannot work
(levels out of order, an unreachable stage, a tag without its group) is reported at
``file:line:col``, all problems at once, and a running bot keeps the last good rules
(`bot.members.service` holds them in a `LiveBook`).

The rules are data for one SQL statement (`bot.members.compute`): the same statement
recomputes one member after a purchase and every member at night, so the two can never
disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field

from bot.books.errors import OperatorFileError, OperatorFileErrors
from bot.books.yamlfile import OperatorModel, error_at, load_model

__all__ = ["Bounds", "Level", "MemberRules", "Stage", "load_rules"]

TagName = tuple[str, str]


class Bounds(OperatorModel):
    at_least: int | None = Field(default=None, ge=0)
    at_most: int | None = Field(default=None, ge=0)


class WindowBounds(Bounds):
    days: int = Field(ge=1, le=3650)


class WhenSpec(OperatorModel):
    purchases: Bounds | None = None
    purchases_in_days: WindowBounds | None = None
    days_since_first: Bounds | None = None
    days_since_last: Bounds | None = None
    growth: Bounds | None = None


class LevelSpec(OperatorModel):
    name: str = Field(min_length=1, max_length=16)
    from_: int = Field(alias="from", ge=0)
    tag: str = Field(min_length=3)
    note: str = ""


class StageSpec(OperatorModel):
    name: str = Field(min_length=1, max_length=16)
    tag: str = Field(min_length=3)
    when: WhenSpec | None = None
    note: str = ""


class RulesSpec(OperatorModel):
    growth_per_yuan: int = Field(ge=1, le=1000)
    levels: list[LevelSpec] = Field(min_length=1)
    stages: list[StageSpec] = Field(min_length=1)


@dataclass(frozen=True)
class Level:
    name: str
    threshold: int  # growth value from which a member is at this level
    tag: TagName


@dataclass(frozen=True)
class Stage:
    """A lifecycle stage; `when` maps a measure to its (at_least, at_most) and, for
    purchases_in_days, (days, at_least, at_most). Empty `when`: everyone left."""

    name: str
    tag: TagName
    when: tuple[tuple[str, tuple[int | None, ...]], ...]


@dataclass(frozen=True)
class MemberRules:
    path: Path
    growth_per_yuan: int
    levels: tuple[Level, ...]  # lowest first
    stages: tuple[Stage, ...]  # first match wins

    def tags(self) -> list[TagName]:
        """Every tag the rules can give, levels first: what the sync may add or remove."""
        return [level.tag for level in self.levels] + [stage.tag for stage in self.stages]

    def level_for(self, growth: int) -> Level:
        return [lv for lv in self.levels if growth >= lv.threshold][-1]


def load_rules(path: Path | str) -> MemberRules:
    """sop/members.yaml, checked; raises `OperatorFileErrors` with every problem."""
    path = Path(path)
    data, spec = load_model(path, RulesSpec)
    errors: list[OperatorFileError] = []
    levels = _levels(path, data, spec, errors)
    stages = _stages(path, data, spec, errors)
    _unique_tags(path, data, spec, errors)
    if errors:
        raise OperatorFileErrors(errors)
    return MemberRules(path, spec.growth_per_yuan, tuple(levels), tuple(stages))


def _tag(path: Path, data: Any, loc: tuple[str | int, ...], text: str,
         errors: list[OperatorFileError]) -> TagName:
    group, _, name = text.partition("/")
    if not group.strip() or not name.strip() or "/" in name:
        errors.append(error_at(path, data, loc, f"tag '{text}' must be written as "
                                                "标签组/标签名, e.g. 会员等级/金卡"))
    return group.strip(), name.strip()


def _levels(path: Path, data: Any, spec: RulesSpec,
            errors: list[OperatorFileError]) -> list[Level]:
    levels: list[Level] = []
    for i, lv in enumerate(spec.levels):
        loc: tuple[str | int, ...] = ("levels", i)
        if i == 0 and lv.from_ != 0:
            errors.append(error_at(path, data, (*loc, "from"), "the first level must start at "
                                   "from: 0, so that every member has a level"))
        if levels and lv.from_ <= levels[-1].threshold:
            errors.append(error_at(path, data, (*loc, "from"), f"from: {lv.from_} must be above "
                                   f"the level before ({levels[-1].name}, from: "
                                   f"{levels[-1].threshold}); list levels lowest first"))
        if any(other.name == lv.name for other in levels):
            errors.append(error_at(path, data, (*loc, "name"), f"level '{lv.name}' is listed "
                                   "twice"))
        levels.append(Level(lv.name, lv.from_, _tag(path, data, (*loc, "tag"), lv.tag, errors)))
    return levels


def _stages(path: Path, data: Any, spec: RulesSpec,
            errors: list[OperatorFileError]) -> list[Stage]:
    stages: list[Stage] = []
    last = len(spec.stages) - 1
    for i, st in enumerate(spec.stages):
        loc: tuple[str | int, ...] = ("stages", i)
        when = _conditions(path, data, (*loc, "when"), st.when, errors)
        if not when and i != last:
            errors.append(error_at(path, data, loc, f"stage '{st.name}' has no when: it takes "
                                   "everyone, so the stages below it are never reached; only "
                                   "the last stage may leave out when"))
        if when and i == last:
            errors.append(error_at(path, data, (*loc, "when"), "the last stage must have no "
                                   "when: it is where every member no other stage takes goes"))
        if any(other.name == st.name for other in stages):
            errors.append(error_at(path, data, (*loc, "name"), f"stage '{st.name}' is listed "
                                   "twice"))
        stages.append(Stage(st.name, _tag(path, data, (*loc, "tag"), st.tag, errors), when))
    return stages


def _conditions(path: Path, data: Any, loc: tuple[str | int, ...], when: WhenSpec | None,
                errors: list[OperatorFileError]) -> tuple[tuple[str, tuple[int | None, ...]], ...]:
    if when is None:
        return ()
    found: list[tuple[str, tuple[int | None, ...]]] = []
    for measure in WhenSpec.model_fields:
        bounds = getattr(when, measure)
        if bounds is None:
            continue
        if bounds.at_least is None and bounds.at_most is None:
            errors.append(error_at(path, data, (*loc, measure), f"{measure}: give at_least, "
                                   "at_most or both"))
        elif (bounds.at_least is not None and bounds.at_most is not None
              and bounds.at_least > bounds.at_most):
            errors.append(error_at(path, data, (*loc, measure), f"{measure}: at_least "
                                   f"{bounds.at_least} is above at_most {bounds.at_most}; "
                                   "nobody can match"))
        if isinstance(bounds, WindowBounds):
            found.append((measure, (bounds.days, bounds.at_least, bounds.at_most)))
        else:
            found.append((measure, (bounds.at_least, bounds.at_most)))
    return tuple(found)


def _unique_tags(path: Path, data: Any, spec: RulesSpec,
                 errors: list[OperatorFileError]) -> None:
    """A level tag and a stage tag must differ, and levels and stages each keep to their own
    tag groups: the sync removes a member's old level tag by its group."""
    seen: dict[str, tuple[str | int, ...]] = {}
    groups: dict[str, str] = {}
    entries = [("levels", i, lv.tag) for i, lv in enumerate(spec.levels)]
    entries += [("stages", i, st.tag) for i, st in enumerate(spec.stages)]
    for kind, i, tag in entries:
        loc: tuple[str | int, ...] = (kind, i, "tag")
        if tag in seen:
            errors.append(error_at(path, data, loc, f"tag '{tag}' is already given at "
                                   f"{'.'.join(map(str, seen[tag]))}; each level and stage "
                                   "needs its own tag"))
        seen.setdefault(tag, loc)
        group = tag.partition("/")[0]
        if groups.setdefault(group, kind) != kind:
            errors.append(error_at(path, data, loc, f"tag group '{group}' is used by both "
                                   "levels and stages; give each its own group"))
