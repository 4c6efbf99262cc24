"""The SOP book: every SOP of every ``sops:`` file in `sop/`, checked, compiled and rendered.

`SopBook.load` reads the files operators edit (the SOP files, robots.yaml, groups.yaml and
the data files they name), checks them against each other and against stores.yaml and the
templates, and renders every SOP for every store it reaches and every weekday it fires, so a
typo in a template or a product without a price is found when the file is loaded, with
``file:line:col``, not at 08:30 in 25,000 groups. All problems come out at once
(`OperatorFileErrors`).

At run time the scheduler and the outbox ask three things:

* `SopBook.select_groups(name, groups)` - which of the live groups an SOP goes to;
* `SopBook.render(name, store_id, slot)` - the message for one store at one slot (all of a
  store's groups get the same message, so it is rendered once per store, not per group);
* `Sop.schedule` - when it fires (`bot.sop.schedule.Schedule`: slots and APScheduler
  triggers), and `Sop.grace` - how late a slot may still be sent.
"""

from __future__ import annotations

import difflib
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from bot.books.context import MEMBER_WEEKDAY, Person, day_context
from bot.books.stores import Store, StoreDirectory
from bot.books.templating import WEEKDAYS_CN, TemplateError, TemplateLibrary
from bot.books.yamlfile import (
    OperatorFileError,
    OperatorFileErrors,
    error_at,
    load_yaml,
    validate,
    validate_part,
)
from bot.sop.attachments import compile_attachments, each_items, render_attachments
from bot.sop.datafiles import SopData, load_data
from bot.sop.group_tags import GroupRow, GroupTags
from bot.sop.model import (
    GroupSelect,
    Loc,
    MemberSelect,
    Sop,
    SopError,
    SopMessage,
    TagRef,
)
from bot.sop.robots import Robot, load_robots
from bot.sop.schedule import (
    DEFAULT_TIMEZONE,
    Schedule,
    parse_clock,
    parse_cron,
    parse_days,
    parse_timezone,
)
from bot.sop.spec import SopFile, SopSpec, check_sop_name
from bot.wecom.content import MAX_ATTACHMENTS, MAX_TEXT_BYTES

__all__ = [
    "NOT_SOP_FILES",
    "GroupSelect",
    "MemberSelect",
    "Sop",
    "SopBook",
    "SopError",
    "SopMessage",
    "TagRef",
    "sop_files",
]

log = logging.getLogger(__name__)

# files in sop/ that are not SOP files, whatever they hold
NOT_SOP_FILES = frozenset({"channels.yaml", "stores.yaml", "robots.yaml", "groups.yaml"})



# --------------------------------------------------------------------------- files


def sop_files(sop_dir: Path) -> list[Path]:
    """The YAML files of `sop_dir` that may hold ``sops:`` (not channels/stores/robots/groups)."""
    found = [*sop_dir.glob("*.yaml"), *sop_dir.glob("*.yml")]
    return sorted(p for p in found if p.name not in NOT_SOP_FILES and p.is_file())


@dataclass
class _Loader:
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


# --------------------------------------------------------------------------- the book


class SopBook:
    """All SOPs, compiled; shared read-only by the scheduler, the outbox and the CLI."""

    def __init__(
        self,
        sops: Iterable[Sop],
        templates: TemplateLibrary,
        stores: StoreDirectory,
        *,
        robots: Mapping[str, Robot] | None = None,
        group_tags: GroupTags | None = None,
        warnings: Sequence[OperatorFileError] = (),
        files: Mapping[Path, list[str]] | None = None,
        data_files: Sequence[SopData] = (),
        member_weekday: int = MEMBER_WEEKDAY,
    ) -> None:
        self.templates = templates
        self.stores = stores
        self._store_list = tuple(stores.all())  # `stores` in every render: built once
        self.robots: dict[str, Robot] = dict(robots or {})
        self.group_tags = group_tags or GroupTags()
        self.warnings = list(warnings)
        self.files: dict[Path, list[str]] = dict(files or {})  # SOP file -> SOP names
        self.data_files = list(data_files)
        self.member_weekday = member_weekday
        self._sops = {sop.name: sop for sop in sops}
        self.skipped_files: list[Path] = []  # YAML files in sop/ that hold no sops:
        self.checked_renders = 0  # test renders done by load()

    # ------------------------------------------------------------------ lookup

    def names(self) -> list[str]:
        """SOP names, files in name order, SOPs in file order."""
        return list(self._sops)

    def get(self, name: str) -> Sop:
        try:
            return self._sops[name]
        except KeyError:
            raise SopError(name, None, "no such SOP") from None

    def enabled(self) -> list[Sop]:
        """The SOPs that run (``enabled: false`` ones are checked but never sent)."""
        return [sop for sop in self._sops.values() if sop.enabled]

    def __iter__(self) -> Iterator[Sop]:
        return iter(self._sops.values())

    def __contains__(self, name: object) -> bool:
        return name in self._sops

    def __len__(self) -> int:
        return len(self._sops)

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(
        cls,
        sop_dir: Path | str,
        templates: TemplateLibrary,
        stores: StoreDirectory,
        *,
        environ: Mapping[str, str] | None = None,
        today: date | None = None,
        member_weekday: int = MEMBER_WEEKDAY,
    ) -> SopBook:
        """Load and fully check every SOP file in `sop_dir` (with robots.yaml, groups.yaml).

        Raises `OperatorFileErrors` listing every problem as ``file:line:col: reason``.
        Problems that are not in the files (a robot's key variable unset) are in `warnings`.
        `today` is the first day the render check samples (default: today in each SOP's
        timezone); `environ` stands in for ``os.environ`` in tests.
        """
        sop_dir = Path(sop_dir)
        errors: list[OperatorFileError] = []
        warnings: list[OperatorFileError] = []
        robots: dict[str, Robot] | None = None
        group_tags: GroupTags | None = None
        try:
            robots, robot_warnings = load_robots(sop_dir / "robots.yaml", stores, environ=environ)
            warnings.extend(robot_warnings)
        except OperatorFileErrors as exc:
            errors.extend(exc.errors)
        try:
            group_tags = GroupTags.load(sop_dir / "groups.yaml", stores)
        except OperatorFileErrors as exc:
            errors.extend(exc.errors)
        loader = _Loader(sop_dir, templates, stores, robots, group_tags, errors)
        sops: list[Sop] = []
        files: dict[Path, list[str]] = {}
        for path in sop_files(sop_dir):
            found = _load_file(loader, path)
            if found is None:
                loader.skipped.append(path)
            else:
                files[path] = [sop.name for sop in found]
                sops.extend(found)
        book = cls(
            sops,
            templates,
            stores,
            robots=robots,
            group_tags=group_tags,
            warnings=warnings,
            files=files,
            data_files=[d for d in loader.data_files.values() if d is not None],
            member_weekday=member_weekday,
        )
        book.skipped_files = list(loader.skipped)
        for sop in sops:
            book._check_rendering(sop, loader.raws[sop.path], loader.errors, warnings, today)
        book.warnings = warnings
        if loader.errors:
            raise OperatorFileErrors(loader.errors)
        return book

    def _check_rendering(
        self,
        sop: Sop,
        raw: Any,
        errors: list[OperatorFileError],
        warnings: list[OperatorFileError],
        today: date | None,
    ) -> None:
        """Render `sop` for every store it reaches and for every day it fires (see
        `_render_samples`)."""
        where: Loc = ("sops", sop.name)
        start = today or datetime.now(sop.timezone).date()
        days = sop.schedule.sample_days(start)
        if not days:
            warnings.append(
                error_at(sop.path, raw, where, f"sops.{sop.name}: never fires in the next "
                         "400 days (check days, cron and skip_dates)", at_key=True)
            )
            return
        problems: dict[str, Loc] = {}
        dropped: dict[str, Loc] = {}
        sample_stores = self._sample_stores(sop)
        if not sample_stores and sop.target is not None:
            reason = "its stores have no data in " + sop.data.name if sop.data else "no store"
            warnings.append(
                error_at(sop.path, raw, where, f"sops.{sop.name}: reaches no store ({reason}); "
                         "it sends nothing", at_key=True)
            )
        samples = _render_samples(sop, sample_stores, days)
        self.checked_renders += len(samples)
        for index, (store, day) in enumerate(samples):
            store_id = store.id if store is not None else None
            slot = sop.schedule.slots_on(day)[0]
            data = sop.data.for_store(store_id) if sop.data is not None else None
            context = self._context(sop, store, slot, data)
            label = _label(sop, store, day)
            if index == 0:
                # syntax and names are the same for every store and day: check them once,
                # then render every sample (that is what finds data-dependent mistakes)
                found = self._check_sources(sop, context)
                static = False
                for problem, loc in found:
                    if "syntax error" in problem or "undefined variable" in problem:
                        static = True
                        problems.setdefault(problem, loc)  # no store label: not about data
                    else:
                        problems.setdefault(f"{problem} ({label})", loc)
                if static:
                    break
                if found:
                    continue
            try:
                message = self._render(sop, store, slot, context)
            except SopError as exc:
                problems.setdefault(f"{exc.reason} ({label})", exc.loc)
                continue
            if message.dropped_attachments:
                note = (
                    f"sops.{sop.name}: {message.dropped_attachments} attachment(s) left "
                    f"out, WeCom sends at most {MAX_ATTACHMENTS} ({label})"
                )
                dropped.setdefault(note, ("attachments",))
        seen: set[str] = set()
        for problem, loc in problems.items():
            key = problem.rsplit(" (store ", 1)[0].rsplit(" (no store", 1)[0]
            if key in seen:
                continue  # the same mistake for another store or day: once is enough
            seen.add(key)
            reason = problem if problem.startswith("sops.") else f"sops.{sop.name}: {problem}"
            if "builtin_function_or_method" in reason or "method' object" in reason:
                reason += (
                    "; a data key named like a dict method (items, keys, values, get) must "
                    "be written data['items'], or better renamed (e.g. products)"
                )
            errors.append(error_at(sop.path, raw, (*where, *loc), reason))
        for note, loc in list(dropped.items())[:1]:
            warnings.append(error_at(sop.path, raw, (*where, *loc), note))

    def _check_sources(self, sop: Sop, context: Mapping[str, Any]) -> list[tuple[str, Loc]]:
        """Syntax errors and undefined names in the template and attachment fields."""
        found: list[tuple[str, Loc]] = [
            (problem, ("template",)) for problem in self.templates.check(sop.template, context)
        ]
        for index, attachment in enumerate(sop.attachments):
            kind = attachment.spec.msgtype
            items: list[Any] = [None]
            if attachment.each is not None:
                try:
                    items = each_items(sop, attachment, context, index)[:MAX_ATTACHMENTS]
                except SopError as exc:
                    found.append((exc.reason, exc.loc))
                    continue
            for item in items:
                scope = dict(context) if attachment.each is None else {**context, "item": item}
                for key, source in attachment.spec.fields:
                    label = f"attachments[{index}].{kind}.{key}"
                    for problem in self.templates.check_string(source, scope, label=label):
                        found.append((problem, ("attachments", index, kind, key)))
        return found

    def _sample_stores(self, sop: Sop) -> list[Store | None]:
        if sop.robot is not None:
            return [self.stores.get(sop.robot.store_id) if sop.robot.store_id else None]
        return list(self.stores_for(sop.name))

    # ------------------------------------------------------------------ selecting

    def stores_for(self, name: str) -> list[Store]:
        """The stores an SOP reaches: its target's stores that have data (if it uses data).

        For a robot SOP, the robot's store if it has one.
        """
        sop = self.get(name)
        if sop.target is None:
            robot_store = sop.robot.store_id if sop.robot is not None else None
            store = self.stores.get(robot_store) if robot_store else None
            return [store] if store is not None else []
        return [
            store
            for store in self.stores.all()
            if store.id in sop.target.stores
            and (sop.data is None or sop.data.has_store(store.id))
        ]

    def select_groups(self, name: str, groups: Iterable[GroupRow]) -> list[GroupRow]:
        """The groups among `groups` that SOP `name` goes to (none for robot/member SOPs).

        A group qualifies when its store is one the SOP reaches (see `stores_for`; groups
        with no store never do), it has one of the wanted group tags (if any are named),
        and none of the excluded ones. Order is kept.
        """
        sop = self.get(name)
        if not isinstance(sop.target, GroupSelect):
            return []
        reach = {store.id for store in self.stores_for(name)}
        return [g for g in groups if g.store_id in reach and sop.target.matches(g)]

    def slots_between(
        self, start: datetime, end: datetime, *, include_disabled: bool = False
    ) -> list[tuple[Sop, datetime]]:
        """Every (SOP, slot) in ``[start, end)``, in time order: catch-up after a restart."""
        found = [
            (sop, slot)
            for sop in self._sops.values()
            if sop.enabled or include_disabled
            for slot in sop.schedule.slots_between(start, end)
        ]
        return sorted(found, key=lambda pair: (pair[1], pair[0].name))

    # ------------------------------------------------------------------ rendering

    def render(self, name: str, store_id: str | None, slot: datetime) -> SopMessage:
        """The message of SOP `name` for one store at `slot` (aware; any timezone).

        `store_id` is required for group and member SOPs; for a robot SOP it may be None
        (the robot's own store, if it has one, is used). Raises `SopError` when the store is
        unknown, has no data for this SOP, or the template fails or breaks a WeCom limit.
        """
        sop = self.get(name)
        if slot.tzinfo is None:
            raise ValueError("render needs an aware slot datetime")
        if store_id is None and sop.robot is not None:
            store_id = sop.robot.store_id
        store: Store | None = None
        if store_id is not None:
            store = self.stores.get(store_id)
            if store is None:
                raise SopError(name, store_id, "store is not in stores.yaml")
        elif sop.target is not None:
            raise SopError(name, None, "a store is needed: this SOP renders per store")
        data: dict[str, Any] | None = None
        if sop.data is not None:
            data = sop.data.for_store(store_id)
            if data is None:
                raise SopError(name, store_id, f"{sop.data.name} has no data for this store")
        local = slot.astimezone(sop.timezone)
        return self._render(sop, store, local, self._context(sop, store, local, data))

    def _context(
        self, sop: Sop, store: Store | None, slot: datetime, data: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        today = slot.date()
        return {
            **day_context(today, self.member_weekday),
            "sop": sop.name,
            "store": store,
            "staff": Person(store.manager_name if store is not None else ""),
            "stores": self._store_list,
            "data": data if data is not None else {},
            "date": today,
            "slot": slot,
            "time": slot.strftime("%H:%M"),
        }

    def _render(
        self, sop: Sop, store: Store | None, slot: datetime, context: Mapping[str, Any]
    ) -> SopMessage:
        store_id = store.id if store is not None else None
        try:
            text = self.templates.render(sop.template, context).strip()
        except TemplateError as exc:
            raise SopError(sop.name, store_id, str(exc)) from exc
        attachments, dropped = render_attachments(self.templates, sop, store_id, context)
        if sop.robot is not None:
            limit, content, what = sop.robot.max_bytes, sop.robot.content(text), sop.robot.format
        else:
            limit, content, what = MAX_TEXT_BYTES, text, "text"
        size = len(content.encode("utf-8"))
        if size > limit:
            raise SopError(
                sop.name,
                store_id,
                f"{sop.template}: the {what} is {size} bytes, WeCom allows {limit} for "
                f"{'a robot ' + what if sop.robot else 'add_msg_template text'} "
                "(a Chinese character takes 3 bytes)",
            )
        if not text and not attachments:
            raise SopError(sop.name, store_id, f"{sop.template}: rendered an empty message")
        return SopMessage(
            sop=sop.name,
            store_id=store_id,
            slot=slot,
            via=sop.via,
            text=text,
            attachments=attachments,
            robot=sop.robot,
            dropped_attachments=dropped,
        )


def _label(sop: Sop, store: Store | None, day: date) -> str:
    where = f"store {store.id}" if store is not None else "no store"
    if store is not None and sop.data is not None:
        key = sop.data.source_of(store.id)[0]
        where += f", {sop.data.name} '{key}'"
    return f"{where}, {day.isoformat()} {WEEKDAYS_CN[day.weekday()]}"


# --------------------------------------------------------------------------- compiling


def _load_file(loader: _Loader, path: Path) -> list[Sop] | None:
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
        if isinstance(raw, Mapping):
            for key in raw:
                if difflib.get_close_matches(str(key), ["sops"], n=1, cutoff=0.7):
                    loader.errors.append(
                        error_at(path, raw, (key,), f"unknown key '{key}' (did you mean "
                                 "'sops'?)", at_key=True)
                    )
                    return []
        return None
    try:
        zone = parse_timezone(validate(path, raw, SopFile).timezone)
    except OperatorFileErrors as exc:
        loader.errors.extend(exc.errors)
        if not isinstance(raw["sops"], Mapping):
            return []
        zone = parse_timezone(DEFAULT_TIMEZONE)  # go on: report the SOPs' own errors too
    sops: list[Sop] = []
    for name in raw["sops"]:
        where: Loc = ("sops", name)
        here = error_at(path, raw, where, "", at_key=True)
        try:
            check_sop_name(str(name))
        except ValueError as exc:
            loader.errors.append(error_at(path, raw, where, f"sops: {exc}", at_key=True))
            continue
        first = loader.defined.get(name)
        if first is not None:
            loader.errors.append(
                error_at(
                    path,
                    raw,
                    where,
                    f"sops.{name}: an SOP named '{name}' is already defined at {first}; "
                    "SOP names must be unique across all SOP files",
                    at_key=True,
                )
            )
            continue
        loader.defined[name] = f"{path}:{here.line}:{here.column}"
        try:
            spec = validate_part(path, raw, where, SopSpec)
        except OperatorFileErrors as exc:
            loader.errors.extend(exc.errors)
            continue
        sop = _compile(loader, path, raw, name, spec, zone, (here.line, here.column))
        if sop is not None:
            sops.append(sop)
    return sops


def _compile(
    loader: _Loader,
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

    timezone = parse_timezone(spec.timezone) if spec.timezone else zone
    skip = frozenset(spec.skip_dates)
    if spec.cron is not None:
        schedule = Schedule(timezone, cron=parse_cron(spec.cron), skip_dates=skip)
    else:
        assert spec.at is not None  # the model requires at or cron
        schedule = Schedule(
            timezone,
            times=tuple(parse_clock(t) for t in spec.at),
            weekdays=parse_days(spec.days if spec.days is not None else "daily"),
            skip_dates=skip,
        )

    robot: Robot | None = None
    if spec.via.robot is not None:
        robot = _robot(loader, spec.via.robot, fail)
        if spec.to is not None:
            fail(("to",), "a robot posts into its own chat (robots.yaml chat:); remove 'to', "
                 "or use via: group_send to reach customer groups", at_key=True)
        if spec.attachments:
            fail(("attachments",), "robots send text or markdown only; attachments need "
                 "via: group_send", at_key=True)
    elif spec.to is None:
        fail((), "missing required key 'to': say which groups or members get it, e.g. "
             "to: {groups: {stores: all}}", at_key=True)
    elif spec.via.owner_post and spec.to.members is not None:
        fail(("to", "members"), "via: owner_post is posted by each group's owner into their "
             "customer groups: use to: {groups: ...}, or via: group_send for members",
             at_key=True)

    target = _target(loader, spec, fail)
    if not loader.templates.exists(spec.template):
        fail(("template",), f"{spec.template}: template not found under "
             f"{loader.templates.root}")
    data = None
    if spec.data is not None:
        data_path = (loader.sop_dir / spec.data).resolve()
        if not data_path.is_relative_to(loader.sop_dir.resolve()):
            fail(("data",), f"data file '{spec.data}' must be inside {loader.sop_dir}")
        elif not data_path.is_file():
            fail(("data",), f"data file not found: {loader.sop_dir / spec.data}")
        else:
            data = loader.data(spec.data)
            if data is None:
                fail(("data",), f"{spec.data} has errors (listed with its own lines)")
    attachments = compile_attachments(loader.templates, spec, fail)
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
        title=spec.title,
    )


Fail = Callable[..., None]


def _robot(loader: _Loader, name: str, fail: Fail) -> Robot | None:
    if loader.robots is None:
        return None  # robots.yaml has errors of its own; don't pile on
    robot = loader.robots.get(name)
    if robot is None:
        known = sorted(loader.robots)
        close = difflib.get_close_matches(name, known, n=1)
        hint = (
            f" (did you mean '{close[0]}'?)" if close
            else f" (defined: {', '.join(known)})" if known
            else " (robots.yaml defines none)"
        )
        fail(("via", "robot"), f"unknown robot '{name}'{hint}")
    return robot


def _target(loader: _Loader, spec: SopSpec, fail: Fail) -> GroupSelect | MemberSelect | None:
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


def _render_samples(sop: Sop, stores: list[Store | None], days: list[date]
                    ) -> list[tuple[Store | None, date]]:
    """Which (store, day) pairs the load check renders.

    Every store at least once (store fields differ: a long name can break a byte limit),
    and every weekday it fires with each data entry (a store's own key in the data file, or
    the default): that is where data-dependent mistakes hide, such as a weekday missing
    from the flash-sale rotation. The other stores take the weekdays in turn. At 10,000
    stores this is a seventh of rendering every store on every weekday, which made a
    reload take most of a minute.
    """
    samples: list[tuple[Store | None, date]] = []
    seen: set[tuple[str | int, ...] | None] = set()
    for index, store in enumerate(stores):
        entry = (sop.data.source_of(store.id if store is not None else None)
                 if sop.data is not None else None)
        if entry not in seen:
            seen.add(entry)
            samples.extend((store, day) for day in days)
        else:
            samples.append((store, days[index % len(days)]))
    return samples


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
                fail((*loc, "stores", index), f"store '{store_id}' is not in stores.yaml")
        ids &= set(chosen)
    if cities is not None:
        known = sorted({store.city for store in stores.all()})
        for index, city in enumerate(cities):
            if city not in known:
                fail((*loc, "cities", index),
                     f"no store in city '{city}' (cities in stores.yaml: {', '.join(known)})")
        ids &= {store.id for store in stores.all() if store.city in cities}
    if not ids and chosen is not None and cities is not None:
        fail(loc, "the stores and cities given have no store in common", at_key=True)
    return frozenset(ids)


def _check_group_tag(loader: _Loader, tag: str, loc: Loc, fail: Fail) -> None:
    if loader.group_tags is None or tag in loader.group_tags:
        return
    known = loader.group_tags.names()
    close = difflib.get_close_matches(tag, known, n=1)
    hint = (
        f" (did you mean '{close[0]}'?)" if close
        else f" (defined: {', '.join(known)})" if known
        else " (groups.yaml defines none)"
    )
    fail(loc, f"group tag '{tag}' is not defined in groups.yaml{hint}")
