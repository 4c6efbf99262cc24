"""The SOP book: every SOP of every ``sops:`` file in `sop/`, checked, compiled and rendered.

`SopBook.load` reads the files operators edit (the SOP files, robots.yaml, groups.yaml and
the data files they name), checks them against each other and against stores.yaml and the
templates (`bot.sop.compile`), and renders every SOP for every store it reaches and every
weekday it fires (`bot.sop.checks`), so a typo in a template or a product without a price is
found when the file is loaded, with ``file:line:col``, not at 08:30 in 25,000 groups. All
problems come out at once (`OperatorFileErrors`).

At run time the scheduler and the outbox ask three things:

* `SopBook.select_groups(sop, groups)` - which of the live groups an SOP goes to;
* `SopBook.render(sop, store_id, slot)` - the message for one store at one slot (all of a
  store's groups get the same message, so it is rendered once per store, not per group);
* `Sop.schedule` - when it fires (`bot.sop.schedule.Schedule`: slots and APScheduler
  triggers), and `Sop.grace` - how late a slot may still be sent.

Each takes a compiled `Sop` (looked up once by the caller) or, for the CLI and tests, its name.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any

from bot.books.context import MEMBER_WEEKDAY, Person, day_context
from bot.books.stores import Store, StoreDirectory
from bot.books.templating import TemplateError, TemplateLibrary
from bot.books.yamlfile import OperatorFileError, OperatorFileErrors
from bot.i18n import t
from bot.moments.checks import moment_text_problem
from bot.sop.attachments import render_attachments
from bot.sop.checks import CHECK_DAYS, check_rendering
from bot.sop.compile import NOT_SOP_FILES, Loader, load_file, sop_files
from bot.sop.datafiles import SopData
from bot.sop.group_tags import GroupRow, GroupTags
from bot.sop.model import (
    GroupSelect,
    MemberSelect,
    Sop,
    SopError,
    SopMessage,
    TagRef,
)
from bot.sop.robots import Robot, load_robots
from bot.wecom.content import MAX_TEXT_BYTES

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
        self._day_contexts: dict[date, dict[str, Any]] = {}  # `context`, by local date

    # ------------------------------------------------------------------ lookup

    def names(self) -> list[str]:
        """SOP names, files in name order, SOPs in file order."""
        return list(self._sops)

    def get(self, name: str) -> Sop:
        try:
            return self._sops[name]
        except KeyError:
            raise SopError(name, None, "no such SOP") from None

    def _sop(self, sop: Sop | str) -> Sop:
        """A compiled SOP as given, or the one of that name (the CLI's and tests' shape)."""
        return sop if isinstance(sop, Sop) else self.get(sop)

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
        days: int = CHECK_DAYS,
        member_weekday: int = MEMBER_WEEKDAY,
    ) -> SopBook:
        """Load and fully check every SOP file in `sop_dir` (with robots.yaml, groups.yaml).

        Raises `OperatorFileErrors` listing every problem as ``file:line:col: reason``.
        Problems that are not in the files (a robot's key variable unset) are in `warnings`.
        The render check renders every date from `today` (default: today in each SOP's
        timezone) for `days` days; `environ` stands in for ``os.environ`` in tests."""
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
        loader = Loader(sop_dir, templates, stores, robots, group_tags, errors)
        sops: list[Sop] = []
        files: dict[Path, list[str]] = {}
        for path in sop_files(sop_dir):
            found = load_file(loader, path)
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
            check_rendering(book, sop, loader.raws[sop.path], loader.errors, warnings, today, days)
        book.warnings = warnings
        if loader.errors:
            raise OperatorFileErrors(loader.errors)
        return book

    # ------------------------------------------------------------------ selecting

    def stores_for(self, sop: Sop | str, slot: datetime | None = None) -> list[Store]:
        """The stores an SOP reaches: its target's stores that have data (if it uses data);
        at `slot`, only those whose own time it is (per-store times, bot.sop.store_times).

        For a robot SOP, the robot's store if it has one.
        """
        sop = self._sop(sop)
        at = sop.schedule.stores_at(slot) if slot is not None else None
        if sop.target is None:
            robot_store = sop.robot.store_id if sop.robot is not None else None
            store = self.stores.get(robot_store) if robot_store else None
            return [store] if store is not None else []
        return [
            store
            for store in self.stores.all()
            if store.id in sop.target.stores
            and (sop.data is None or sop.data.has_store(store.id))
            and (at is None or store.id in at)
        ]

    def select_groups(self, sop: Sop | str, groups: Iterable[GroupRow],
                      slot: datetime | None = None) -> list[GroupRow]:
        """The groups among `groups` that `sop` goes to (none for robot/member SOPs).

        A group qualifies when its store is one the SOP reaches (at `slot`, if given: see
        `stores_for`; groups
        with no store never do), it has one of the wanted group tags (if any are named),
        and none of the excluded ones. Order is kept.
        """
        sop = self._sop(sop)
        if not isinstance(sop.target, GroupSelect):
            return []
        reach = {store.id for store in self.stores_for(sop, slot)}
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

    def render(self, sop: Sop | str, store_id: str | None, slot: datetime) -> SopMessage:
        """The message of `sop` for one store at `slot` (aware; any timezone).

        `store_id` is required for group and member SOPs; for a robot SOP it may be None
        (the robot's own store, if it has one, is used). Raises `SopError` when the store is
        unknown, has no data for this SOP, or the template fails or breaks a WeCom limit.
        """
        sop = self._sop(sop)
        name = sop.name
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
        return self.render_message(sop, store, local, self.context(sop, store, local, data))

    def context(
        self, sop: Sop, store: Store | None, slot: datetime, data: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        """What a template sees for `sop` at one store and (local) slot."""
        today = slot.date()
        days = self._day_contexts
        if today not in days:  # the load check asks for the same few days 10,000 times
            if len(days) > 64:
                days.clear()
            days[today] = day_context(today, self.member_weekday)
        return {
            **days[today],
            "sop": sop.name,
            "store": store,
            "staff": Person(store.manager_name if store is not None else ""),
            "stores": self._store_list,
            "data": data if data is not None else {},
            "date": today,
            "slot": slot,
            "time": f"{slot.hour:02d}:{slot.minute:02d}",  # strftime: a tenth of a render
        }

    def render_message(
        self, sop: Sop, store: Store | None, slot: datetime, context: Mapping[str, Any],
        rendered: tuple[list[dict[str, Any]], int] | None = None, text: str | None = None,
    ) -> SopMessage:
        """Render `context` into the message, within WeCom's byte limits; `SopError` if not.

        `rendered`: the attachments and the dropped count, already rendered for an equal
        context (the load check, for attachments that do not depend on the store); `text`:
        the template's output for `context`, already made (the load check's `TextReuse`)."""
        store_id = store.id if store is not None else None
        try:
            text = (self.templates.render(sop.template, context) if text is None
                    else text).strip()
        except TemplateError as exc:
            raise SopError(sop.name, store_id, str(exc), template=exc) from exc
        if rendered is None:
            rendered = render_attachments(self.templates, sop, store_id, context)
        attachments, dropped = rendered
        if sop.robot is not None:
            limit, content, what = sop.robot.max_bytes, sop.robot.content(text), sop.robot.format
        else:
            limit, content, what = MAX_TEXT_BYTES, text, "text"
        if sop.moment and (problem := moment_text_problem(text)):  # characters, not bytes
            raise SopError(sop.name, store_id, f"{sop.template}: {problem}")
        size = len(content.encode("utf-8"))
        if size > limit and not sop.moment:
            raise SopError(
                sop.name,
                store_id,
                f"{sop.template}: " + t(
                    "sop.robot_too_long" if sop.robot else "sop.text_too_long",
                    what=what, size=size, limit=limit),
            )
        if not text and not attachments:
            raise SopError(sop.name, store_id, f"{sop.template}: " + t("sop.empty_message"))
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
