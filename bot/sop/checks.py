"""The load-time render check: every SOP rendered over sample stores and days.

Why at load: a typo in a template or a product without a price must be found when the file
is loaded, with ``file:line:col``, not at 08:30 in 25,000 groups. `check_rendering` renders
each SOP for every store it reaches and every weekday it fires (see `render_samples`), using
the very `SopBook.render_message` the outbox uses, and turns each problem into an
`OperatorFileError` at the SOP's line.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from jinja2 import TemplateSyntaxError, meta, nodes

from bot.books.stores import Store
from bot.books.templating import WEEKDAYS_CN
from bot.books.yamlfile import OperatorFileError, error_at
from bot.sop.attachments import each_items
from bot.sop.model import Loc, Sop, SopError
from bot.wecom.content import MAX_ATTACHMENTS

if TYPE_CHECKING:
    from bot.sop.book import SopBook

# problems that are the same for every store and day: reported once, without a store label
_STATIC = ("syntax error", "undefined variable")


def check_rendering(
    book: SopBook,
    sop: Sop,
    raw: Any,
    errors: list[OperatorFileError],
    warnings: list[OperatorFileError],
    today: date | None,
) -> None:
    """Render `sop` for every store it reaches and for every day it fires (see
    `render_samples`)."""
    where: Loc = ("sops", sop.name)
    start = today or datetime.now(sop.timezone).date()
    days = sop.schedule.sample_days(start)
    if not days:
        warnings.append(
            error_at(sop.path, raw, where, f"sops.{sop.name}: never fires in the next "
                     "400 days (check days, cron and skip_dates)", at_key=True)
        )
        return
    sample_stores = _sample_stores(book, sop)
    if not sample_stores and sop.target is not None:
        reason = "its stores have no data in " + sop.data.name if sop.data else "no store"
        warnings.append(
            error_at(sop.path, raw, where, f"sops.{sop.name}: reaches no store ({reason}); "
                     "it sends nothing", at_key=True)
        )
    samples = render_samples(sop, sample_stores, days)
    book.checked_renders += len(samples)
    problems, dropped = _render_all(book, sop, samples)
    for reason, loc in _distinct(sop, problems):
        errors.append(error_at(sop.path, raw, (*where, *loc), reason))
    for note, loc in list(dropped.items())[:1]:
        warnings.append(error_at(sop.path, raw, (*where, *loc), note))


def _render_all(book: SopBook, sop: Sop, samples: list[tuple[Store | None, date]]
                ) -> tuple[dict[str, Loc], dict[str, Loc]]:
    """Render every sample: (problem -> where, dropped-attachments note -> where)."""
    problems: dict[str, Loc] = {}
    dropped: dict[str, Loc] = {}
    same = _Reuse(book, sop)
    for index, (store, day) in enumerate(samples):
        store_id = store.id if store is not None else None
        slot, data, key = same.day_and_data(day, store_id)
        context = book.context(sop, store, slot, data)
        if index == 0:
            label = _label(sop, store, day)
            # syntax and names are the same for every store and day: check them once,
            # then render every sample (that is what finds data-dependent mistakes)
            found = _check_sources(book, sop, context)
            static = False
            for problem, loc in found:
                if any(kind in problem for kind in _STATIC):
                    static = True
                    problems.setdefault(problem, loc)  # no store label: not about data
                else:
                    problems.setdefault(f"{problem} ({label})", loc)
            if static:
                break
            if found:
                continue
        try:
            message = book.render_message(sop, store, slot, context, same.attachments(key))
        except SopError as exc:
            problems.setdefault(f"{exc.reason} ({_label(sop, store, day)})", exc.loc)
            continue
        same.keep(key, message.attachments, message.dropped_attachments)
        if message.dropped_attachments:
            note = (
                f"sops.{sop.name}: {message.dropped_attachments} attachment(s) left "
                f"out, WeCom sends at most {MAX_ATTACHMENTS} ({_label(sop, store, day)})"
            )
            dropped.setdefault(note, ("attachments",))
    return problems, dropped


class _Reuse:
    """What the samples of one SOP share, made once: each day's slot, each data entry, and
    the attachments when nothing in them depends on the store.

    Exact, not sampled: an attachment whose fields and ``each`` name neither ``store`` nor
    ``staff`` (and include nothing, call no filter that reads the whole context) renders
    the same for every store with the same data entry on the same day, so it is rendered
    once per (day, entry); the message text is still rendered for every sample. Checking
    10,000 stores rendered every attachment 10,000 times (docs/capacity.md).
    """

    def __init__(self, book: SopBook, sop: Sop) -> None:
        self.sop = sop
        self.slots: dict[date, Any] = {}
        self.data: dict[tuple[str | int, ...] | None, Any] = {}
        self.store_free = bool(sop.attachments) and all(
            _store_free(book, source) for source in _attachment_sources(sop))
        self.made: dict[tuple[date, tuple[str | int, ...] | None], tuple[Any, int]] = {}

    def day_and_data(self, day: date, store_id: str | None
                     ) -> tuple[Any, Any, tuple[date, tuple[str | int, ...] | None] | None]:
        slot = self.slots.get(day)
        if slot is None:
            slot = self.slots[day] = self.sop.schedule.slots_on(day)[0]
        data_file = self.sop.data
        source = data_file.source_of(store_id) if data_file is not None else None
        if source not in self.data:
            self.data[source] = data_file.for_store(store_id) if data_file is not None else None
        return slot, self.data[source], (day, source) if self.store_free else None

    def attachments(self, key: tuple[date, tuple[str | int, ...] | None] | None
                    ) -> tuple[Any, int] | None:
        return self.made.get(key) if key is not None else None

    def keep(self, key: tuple[date, tuple[str | int, ...] | None] | None, attachments: Any,
             dropped: int) -> None:
        if key is not None:
            self.made.setdefault(key, (attachments, dropped))


def _attachment_sources(sop: Sop) -> list[str]:
    sources: list[str] = []
    for attachment in sop.attachments:
        sources += [source for _, source in attachment.spec.fields]
        if attachment.each is not None:
            sources.append("{{ " + attachment.each + " }}")
    return sources


def _store_free(book: SopBook, source: str) -> bool:
    """Whether `source` renders the same whatever the store (see `_Reuse`)."""
    if "{" not in source:
        return True
    env = book.templates.env
    try:
        tree = env.parse(source)
    except TemplateSyntaxError:
        return False  # reported by the checks; nothing to reuse
    if any(True for _ in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport,
                                        nodes.Extends, nodes.ContextReference,
                                        nodes.DerivedContextReference))):
        return False
    for node in tree.find_all(nodes.Filter):
        fn = env.filters.get(node.name)
        passes = getattr(getattr(fn, "jinja_pass_arg", None), "name", None)  # @pass_context
        if fn is None or passes == "context":
            return False
    return not (meta.find_undeclared_variables(tree) & {"store", "staff"})


def _distinct(sop: Sop, problems: Mapping[str, Loc]) -> list[tuple[str, Loc]]:
    """Each mistake once (not again for another store or day), worded for operators."""
    seen: set[str] = set()
    found: list[tuple[str, Loc]] = []
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
        found.append((reason, loc))
    return found


def _check_sources(book: SopBook, sop: Sop, context: Mapping[str, Any]
                   ) -> list[tuple[str, Loc]]:
    """Syntax errors and undefined names in the template and attachment fields."""
    templates = book.templates
    found: list[tuple[str, Loc]] = [
        (problem, ("template",)) for problem in templates.check(sop.template, context)
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
                for problem in templates.check_string(source, scope, label=label):
                    found.append((problem, ("attachments", index, kind, key)))
    return found


def _sample_stores(book: SopBook, sop: Sop) -> list[Store | None]:
    if sop.robot is not None:
        return [book.stores.get(sop.robot.store_id) if sop.robot.store_id else None]
    return list(book.stores_for(sop))


def _label(sop: Sop, store: Store | None, day: date) -> str:
    where = f"store {store.id}" if store is not None else "no store"
    if store is not None and sop.data is not None:
        key = sop.data.source_of(store.id)[0]
        where += f", {sop.data.name} '{key}'"
    return f"{where}, {day.isoformat()} {WEEKDAYS_CN[day.weekday()]}"


def render_samples(sop: Sop, stores: list[Store | None], days: list[date]
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
