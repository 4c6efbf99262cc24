"""From the SOP files to compiled `Sop` values: the loader's state and one SOP's compile step.

Kept apart from the book (`bot.sop.book`) because it is what runs once per load, with every
cross-file check (robots, group tags, stores, templates, data files) reported as
``file:line:col``; the book only holds and serves what came out of it.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.books.stores import StoreDirectory
from bot.books.templating import TemplateLibrary
from bot.books.yamlfile import (
    OperatorFileError,
    OperatorFileErrors,
    error_at,
    load_yaml,
    validate,
    validate_part,
)
from bot.i18n import t
from bot.moments.checks import check_moment
from bot.sop.attachments import compile_attachments
from bot.sop.datafiles import SopData, load_data
from bot.sop.group_tags import GroupTags
from bot.sop.model import GroupSelect, Loc, MemberSelect, Sop, TagRef
from bot.sop.robots import Robot
from bot.sop.schedule import (
    DEFAULT_TIMEZONE,
    Schedule,
    parse_clock,
    parse_cron,
    parse_days,
    parse_timezone,
)
from bot.sop.spec import SopFile, SopSpec, check_sop_name
from bot.sop.store_times import is_store_time, resolve

# files in sop/ that are not SOP files, whatever they hold
NOT_SOP_FILES = frozenset({"channels.yaml", "stores.yaml", "robots.yaml", "groups.yaml"})

Fail = Callable[..., None]


def sop_files(sop_dir: Path) -> list[Path]:
    """The YAML files of `sop_dir` that may hold ``sops:`` (not channels/stores/robots/groups)."""
    found = [*sop_dir.glob("*.yaml"), *sop_dir.glob("*.yml")]
    return sorted(p for p in found if p.name not in NOT_SOP_FILES and p.is_file())


@dataclass
class Loader:
    """The state of one `SopBook.load`: what was read so far and every problem found."""

    sop_dir: Path
    templates: TemplateLibrary
    stores: StoreDirectory
    robots: dict[str, Robot] | None
    group_tags: GroupTags | None
    errors: list[OperatorFileError] = field(default_factory=list)
    data_files: dict[Path, SopData | None] = field(default_factory=dict)
    defined: dict[str, str] = field(default_factory=dict)  # SOP name -> file:line:col
    raws: dict[Path, Any] = field(default_factory=dict)  # SOP file -> its ruamel data
    skipped: list[Path] = field(default_factory=list)  # YAML files without sops:

    def data(self, name: str) -> SopData | None:
        path = (self.sop_dir / name).resolve()
        if path not in self.data_files:
            try:
                self.data_files[path] = load_data(self.sop_dir / name, name, self.stores)
            except OperatorFileErrors as exc:
                self.errors.extend(exc.errors)
                self.data_files[path] = None
        return self.data_files[path]


def load_file(loader: Loader, path: Path) -> list[Sop] | None:
    """The SOPs of one file, or None if it holds no ``sops:`` (then it is not an SOP file)."""
    try:
        raw = load_yaml(path)
    except OperatorFileError as exc:
        loader.errors.append(exc)
        return []
    except OperatorFileErrors as exc:
        loader.errors.extend(exc.errors)
        return []
    loader.raws[path] = raw
    if not isinstance(raw, Mapping) or "sops" not in raw:
        return _not_sop_file(loader, path, raw)
    try:
        zone = parse_timezone(validate(path, raw, SopFile).timezone)
    except OperatorFileErrors as exc:
        loader.errors.extend(exc.errors)
        if not isinstance(raw["sops"], Mapping):
            return []
        zone = parse_timezone(DEFAULT_TIMEZONE)  # go on: report the SOPs' own errors too
    sops: list[Sop] = []
    for name in raw["sops"]:
        sop = _load_one(loader, path, raw, name, zone)
        if sop is not None:
            sops.append(sop)
    return sops


def _not_sop_file(loader: Loader, path: Path, raw: Any) -> list[Sop] | None:
    """None (skip the file), or [] with an error when a top key is a misspelt ``sops``."""
    if isinstance(raw, Mapping):
        for key in raw:
            if difflib.get_close_matches(str(key), ["sops"], n=1, cutoff=0.7):
                loader.errors.append(error_at(
                    path, raw, (key,), t("yaml.unknown_key", key=key,
                                         hint=t("hint.did_you_mean", name="sops")), at_key=True))
                return []
    return None


def _load_one(loader: Loader, path: Path, raw: Any, name: Any, zone: ZoneInfo) -> Sop | None:
    """One entry of ``sops:``: its name checked, unique across files, validated, compiled."""
    where: Loc = ("sops", name)
    here = error_at(path, raw, where, "", at_key=True)
    try:
        check_sop_name(str(name))
    except ValueError as exc:
        loader.errors.append(error_at(path, raw, where, f"sops: {exc}", at_key=True))
        return None
    first = loader.defined.get(name)
    if first is not None:
        loader.errors.append(
            error_at(
                path,
                raw,
                where,
                f"sops.{name}: " + t("sop.duplicate_name", name=name, first=first),
                at_key=True,
            )
        )
        return None
    loader.defined[name] = f"{path}:{here.line}:{here.column}"
    try:
        spec = validate_part(path, raw, where, SopSpec)
    except OperatorFileErrors as exc:
        loader.errors.extend(exc.errors)
        return None
    return compile_sop(loader, path, raw, name, spec, zone, (here.line, here.column))


def compile_sop(
    loader: Loader,
    path: Path,
    raw: Any,
    name: str,
    spec: SopSpec,
    zone: ZoneInfo,
    position: tuple[int, int],
) -> Sop | None:
    """Check one SOP against robots, groups, stores, templates and data; None if it fails."""
    errors = loader.errors
    before = len(errors)
    where: Loc = ("sops", name)

    def fail(loc: Loc, reason: str, *, at_key: bool = False) -> None:
        errors.append(error_at(path, raw, (*where, *loc), f"sops.{name}: {reason}", at_key=at_key))

    robot = _via(loader, spec, fail)
    target = _target(loader, spec, fail)
    if not loader.templates.exists(spec.template):
        fail(("template",), f"{spec.template}: "
             + t("template.not_found", root=loader.templates.root))
    data = _data(loader, spec, fail)
    schedule = _schedule(spec, zone, _store_times(loader, spec, target, data, fail))
    attachments = compile_attachments(loader.templates, spec, fail)
    if spec.via.moment:
        target = check_moment(loader.sop_dir, spec, target, loader.stores, fail)
    elif any(a.video is not None for a in spec.attachments):
        fail(("attachments",), t("sop.video_moment_only"), at_key=True)
    if len(errors) > before:
        return None
    return Sop(
        name=name,
        path=path,
        line=position[0],
        column=position[1],
        note=spec.note,
        enabled=spec.enabled,
        schedule=schedule,
        grace=spec.grace,
        target=target,
        template=spec.template,
        data=data,
        robot=robot,
        attachments=attachments,
        owner_post=spec.via.owner_post,
        moment=spec.via.moment,
        title=spec.title,
    )


def _schedule(spec: SopSpec, zone: ZoneInfo, per_store: PerStore) -> Schedule:
    timezone = parse_timezone(spec.timezone) if spec.timezone else zone
    skip = frozenset(spec.skip_dates)
    if spec.cron is not None:
        return Schedule(timezone, cron=parse_cron(spec.cron), skip_dates=skip)
    assert spec.at is not None  # the model requires at or cron
    if per_store:  # each store its own times; the schedule fires at every distinct one
        times = tuple(sorted({at for _, own in per_store for at in own}))
        rule = "、".join(" ".join(t.split()) for t in spec.at)
    else:
        times, rule = tuple(parse_clock(t) for t in spec.at if not is_store_time(t)), ""
    return Schedule(
        timezone,
        times=times or (time(0, 0),),  # only when the SOP failed (per-store times unresolved)
        weekdays=parse_days(spec.days if spec.days is not None else "daily"),
        skip_dates=skip,
        per_store=per_store,
        rule=rule,
    )


PerStore = tuple[tuple[str, tuple[time, ...]], ...]


def _store_times(loader: Loader, spec: SopSpec, target: GroupSelect | MemberSelect | None,
                 data: SopData | None, fail: Fail) -> PerStore:
    """Each reached store's times when an ``at`` entry is a store's own (bot.sop.store_times)."""
    entries = spec.at or []
    if not any(is_store_time(entry) for entry in entries) or (spec.data and data is None):
        return ()
    if target is None:
        fail(("at",), t("times.needs_stores"))
        return ()
    reached = [s for s in loader.stores.all()
               if s.id in target.stores and (data is None or data.has_store(s.id))]
    if not reached:
        fail(("at",), t("times.no_store"))
        return ()
    return resolve(entries, reached, data, fail)


def _via(loader: Loader, spec: SopSpec, fail: Fail) -> Robot | None:
    """The SOP's robot (if it posts through one); how it is sent must fit whom it goes to."""
    if spec.via.robot is not None:
        robot = _robot(loader, spec.via.robot, fail)
        if spec.to is not None:
            fail(("to",), t("sop.robot_no_to"), at_key=True)
        if spec.attachments:
            fail(("attachments",), t("sop.robot_no_attachments"), at_key=True)
        return robot
    if spec.to is None and not spec.via.moment:
        fail((), t("sop.missing_to"), at_key=True)
    elif spec.via.owner_post and spec.to is not None and spec.to.members is not None:
        fail(("to", "members"), t("sop.owner_post_members"), at_key=True)
    return None


def _data(loader: Loader, spec: SopSpec, fail: Fail) -> SopData | None:
    if spec.data is None:
        return None
    data_path = (loader.sop_dir / spec.data).resolve()
    if not data_path.is_relative_to(loader.sop_dir.resolve()):
        fail(("data",), t("sop.data_outside", data=spec.data, folder=loader.sop_dir))
    elif not data_path.is_file():
        fail(("data",), t("sop.data_not_found", path=loader.sop_dir / spec.data))
    else:
        data = loader.data(spec.data)
        if data is None:
            fail(("data",), t("sop.data_has_errors", data=spec.data))
        return data
    return None


def _did_you_mean(name: str, known: list[str], none: str) -> str:
    close = difflib.get_close_matches(name, known, n=1)
    return (
        t("hint.did_you_mean", name=close[0]) if close
        else t("hint.defined", names=", ".join(known)) if known
        else t("hint.defines_none", file=none)
    )


def _robot(loader: Loader, name: str, fail: Fail) -> Robot | None:
    if loader.robots is None:
        return None  # robots.yaml has errors of its own; don't pile on
    robot = loader.robots.get(name)
    if robot is None:
        hint = _did_you_mean(name, sorted(loader.robots), "robots.yaml")
        fail(("via", "robot"), t("sop.unknown_robot", name=name, hint=hint))
    return robot


def _target(loader: Loader, spec: SopSpec, fail: Fail) -> GroupSelect | MemberSelect | None:
    if spec.to is None or spec.via.robot is not None:
        return None
    stores = loader.stores
    if spec.to.groups is not None:
        target = spec.to.groups
        chosen = _stores(stores, target.stores, target.cities, ("to", "groups"), fail)
        for key, names in (("tags", target.tags or []), ("exclude_tags", target.exclude_tags)):
            for index, tag in enumerate(names):
                _check_group_tag(loader, tag, ("to", "groups", key, index), fail)
        return GroupSelect(
            stores=chosen,
            tags=frozenset(target.tags) if target.tags is not None else None,
            exclude_tags=frozenset(target.exclude_tags),
        )
    members = spec.to.members
    assert members is not None  # TargetSpec requires exactly one
    chosen = _stores(stores, members.stores, None, ("to", "members"), fail)
    refs: list[TagRef] = []
    for index, text in enumerate(members.tags):
        try:
            refs.append(TagRef.parse(text))
        except ValueError as exc:
            fail(("to", "members", "tags", index), str(exc))
    return MemberSelect(tags=tuple(refs), match=members.match, stores=chosen)


def _stores(
    stores: StoreDirectory,
    chosen: str | list[str] | None,
    cities: list[str] | None,
    loc: Loc,
    fail: Fail,
) -> frozenset[str]:
    ids = {store.id for store in stores.all()}
    if isinstance(chosen, list):
        for index, store_id in enumerate(chosen):
            if store_id not in stores:
                fail((*loc, "stores", index), t("sop.cli.unknown_store", store=store_id))
        ids &= set(chosen)
    if cities is not None:
        known = sorted({store.city for store in stores.all()})
        for index, city in enumerate(cities):
            if city not in known:
                fail((*loc, "cities", index),
                     t("sop.unknown_city", city=city, cities=", ".join(known)))
        ids &= {store.id for store in stores.all() if store.city in cities}
    if not ids and chosen is not None and cities is not None:
        fail(loc, t("sop.stores_cities_disjoint"), at_key=True)
    return frozenset(ids)


def _check_group_tag(loader: Loader, tag: str, loc: Loc, fail: Fail) -> None:
    if loader.group_tags is None or tag in loader.group_tags:
        return
    hint = _did_you_mean(tag, loader.group_tags.names(), "groups.yaml")
    fail(loc, t("sop.unknown_group_tag", tag=tag, hint=hint))
