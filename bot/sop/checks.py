"""The load-time render check: every SOP rendered over its stores and real dates.

Why at load: a typo in a template or a product without a price must be found when the file
is loaded, with ``file:line``, not at 08:30 in 25,000 groups. `check_rendering` renders
each SOP for every store it reaches on every date it fires in the days checked (the next
35 by default; ``sop check --from D --days N``; see `render_samples`), using the very
`SopBook.render_message` the outbox uses. A mistake in a template is reported at the
template file's own line (then the SOP whose ``template:`` names it); anything else at the
SOP's line.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any

from jinja2 import TemplateSyntaxError, meta, nodes

from bot.books.stores import Store
from bot.books.templating import (
    WEEKDAYS_CN,
    TemplateError,
    TemplateLoadError,
    TemplateUndefinedName,
)
from bot.books.yamlfile import OperatorFileError, error_at
from bot.i18n import t
from bot.sop.attachments import each_items
from bot.sop.model import Loc, Sop, SopError
from bot.sop.text_reuse import AttachmentReuse, TextReuse
from bot.wecom.content import MAX_ATTACHMENTS

if TYPE_CHECKING:
    from bot.sop.book import SopBook

# how many days from today `sop check` (and every load) renders: a month and the week after
CHECK_DAYS = 35


@dataclass(frozen=True, slots=True)
class _Problem:
    """One mistake found by rendering: where it is written, and the first sample it showed
    on (None: the same for every store and day, such as a misspelt variable)."""

    reason: str
    loc: Loc
    label: str | None = None
    template: TemplateError | None = None  # a mistake in the template file itself


def check_rendering(
    book: SopBook,
    sop: Sop,
    raw: Any,
    errors: list[OperatorFileError],
    warnings: list[OperatorFileError],
    today: date | None,
    days: int = CHECK_DAYS,
) -> None:
    """Render `sop` for every store it reaches, on every date from `today` (default: today
    in the SOP's timezone) for `days` days that it fires on (see `render_samples`)."""
    where: Loc = ("sops", sop.name)
    start = today or datetime.now(sop.timezone).date()
    dates = check_dates(sop, start, days)
    if not dates:
        warnings.append(
            error_at(sop.path, raw, where, f"sops.{sop.name}: " + t("sop.never_fires"),
                     at_key=True)
        )
        return
    sample_stores = _sample_stores(book, sop)
    if not sample_stores and sop.target is not None:
        reason = (t("sop.no_data_for_stores", data=sop.data.name) if sop.data
                  else t("sop.no_store"))
        warnings.append(
            error_at(sop.path, raw, where, f"sops.{sop.name}: "
                     + t("sop.reaches_no_store", reason=reason), at_key=True)
        )
    samples = render_samples(sop, sample_stores, dates)
    book.checked_renders += len(samples)
    problems, dropped = _render_all(book, sop, samples)
    for problem in problems.values():
        errors.append(_located(book, sop, raw, problem))
    for note, loc in list(dropped.items())[:1]:
        warnings.append(error_at(sop.path, raw, (*where, *loc), note))


def check_dates(sop: Sop, start: date, days: int) -> list[date]:
    """The real dates from `start` for `days` days on which `sop` fires; when it fires on
    none of them, the first date it fires on within 400 days (so its template is still
    rendered); empty if it never fires."""
    span = (start + timedelta(days=offset) for offset in range(max(days, 1)))
    dates = [day for day in span if sop.schedule.fires_on(day)]
    return dates or sop.schedule.sample_days(start)[:1]


def _located(book: SopBook, sop: Sop, raw: Any, problem: _Problem) -> OperatorFileError:
    """The error at the template's own file and line when the mistake is in the template
    (an editor's jump-to-error lands there), the SOP's ``template:`` key named after it;
    else at the place in the SOP file."""
    reason = _with_hint(problem.reason)
    if problem.label is not None:
        reason = t("sop.on_sample", reason=reason, sample=problem.label)
    found = problem.template
    if found is not None and found.name != "<template>" and not found.line:
        reason = f"{found.name}: {reason}"  # a whole-template problem (too long): name it
    if found is None or not found.line or found.name == "<template>":
        return error_at(sop.path, raw, ("sops", sop.name, *problem.loc),
                        f"sops.{sop.name}: {reason}")
    key = error_at(sop.path, raw, ("sops", sop.name, "template"), "")
    return OperatorFileError(
        book.templates.root / found.name, found.line, 0,
        t("sop.in_template", reason=reason, sop=sop.name,
          at=f"{key.path}:{key.line}:{key.column}"))


def _render_all(book: SopBook, sop: Sop, samples: list[tuple[Store | None, date]]
                ) -> tuple[dict[str, _Problem], dict[str, Loc]]:
    """Render every sample: (mistake -> problem, dropped-attachments note -> where); each
    mistake once, on the first sample it showed on, not again for another store or day."""
    problems: dict[str, _Problem] = {}
    dropped: dict[str, Loc] = {}
    same = _Reuse(book, sop)
    for index, (store, day) in enumerate(samples):
        for slot in same.slots(day, store.id if store is not None else None):
            if _render_one(book, sop, same, (store, slot), first=index == 0,
                           problems=problems, dropped=dropped):
                return problems, dropped
    return problems, dropped


def _render_one(book: SopBook, sop: Sop, same: _Reuse, sample: tuple[Store | None, datetime],
                *, first: bool, problems: dict[str, _Problem], dropped: dict[str, Loc]
                ) -> bool:
    """Render one store at one slot into `problems`/`dropped`; True: stop (a mistake that
    is the same for every store and day)."""
    store, slot = sample
    day = slot.date()
    data, source, key = same.data_for(slot, store.id if store is not None else None)
    context = book.context(sop, store, slot, data)
    if first:
        # syntax and names are the same for every store and day: check them once,
        # then render every sample (that is what finds data-dependent mistakes)
        found = _check_sources(book, sop, context)
        label = _label(sop, store, day, slot)
        for problem in found:
            static = isinstance(problem.template, TemplateLoadError | TemplateUndefinedName)
            problems.setdefault(problem.reason, problem if static else _Problem(
                problem.reason, problem.loc, label, problem.template))
        if any(p.label is None for p in problems.values()):
            return True
        if found:
            return False
    rendered = same.attachments(key)
    if rendered is None:
        rendered = same.fields.attachments(store, slot, source, context)
    try:
        message = book.render_message(sop, store, slot, context, rendered,
                                      text=same.text.text(store, slot, source, context))
    except SopError as exc:
        reason = exc.template.reason if exc.template is not None else exc.reason
        problems.setdefault(reason, _Problem(reason, exc.loc, _label(sop, store, day, slot),
                                             exc.template))
        return False
    same.keep(key, message.attachments, message.dropped_attachments)
    if message.dropped_attachments:
        note = f"sops.{sop.name}: " + t(
            "sop.attachments_dropped", count=message.dropped_attachments,
            limit=MAX_ATTACHMENTS, sample=_label(sop, store, day, slot))
        dropped.setdefault(note, ("attachments",))
    return False


class _Reuse:
    """What the samples of one SOP share, made once: each day's slot, each data entry, and
    the attachments when nothing in them depends on the store.

    Exact, not sampled: an attachment whose fields and ``each`` name neither ``store`` nor
    ``staff`` (and include nothing, call no filter that reads the whole context) renders
    the same for every store with the same data entry on the same day, so it is rendered
    once per (day, entry). The message text and the attachments that name the store are
    made once per distinct input and checked per store (`bot.sop.text_reuse`). Checking
    10,000 stores rendered every attachment 10,000 times (docs/capacity.md).
    """

    def __init__(self, book: SopBook, sop: Sop) -> None:
        self.sop = sop
        self.day_slots: dict[date, list[datetime]] = {}
        self.own_times = dict(sop.schedule.per_store)  # per-store times
        self.own_slots: dict[tuple[date, tuple[time, ...]], list[datetime]] = {}
        self.data: dict[tuple[str | int, ...] | None, Any] = {}
        self.store_free = bool(sop.attachments) and all(
            _store_free(book, source) for source in _attachment_sources(sop))
        self.made: dict[tuple[datetime, tuple[str | int, ...] | None], tuple[Any, int]] = {}
        self.text = TextReuse(book.templates, sop.template)  # keyed by slot: `time` differs
        self.fields = AttachmentReuse(book.templates, sop)  # those that name the store

    def slots(self, day: date, store_id: str | None) -> list[datetime]:
        """The slots `store_id` is rendered at on `day`: the SOP's first slot, or with
        per-store times each of the store's own (a template may differ by ``time``)."""
        schedule = self.sop.schedule
        if day not in self.day_slots:
            self.day_slots[day] = schedule.slots_on(day)
        on_day = self.day_slots[day]
        times = self.own_times.get(store_id) if store_id is not None else None
        if not times:
            return on_day[:1]
        if (day, times) not in self.own_slots:  # once per day and distinct times
            self.own_slots[day, times] = schedule.slots_at(day, times)
        return self.own_slots[day, times] or on_day[:1]

    def data_for(self, slot: datetime, store_id: str | None
                 ) -> tuple[Any, tuple[str | int, ...] | None,
                            tuple[datetime, tuple[str | int, ...] | None] | None]:
        """The store's data entry, which entry it is, and the attachments' reuse key."""
        data_file = self.sop.data
        source = data_file.source_of(store_id) if data_file is not None else None
        if source not in self.data:
            self.data[source] = data_file.for_store(store_id) if data_file is not None else None
        return self.data[source], source, (slot, source) if self.store_free else None

    def attachments(self, key: tuple[datetime, tuple[str | int, ...] | None] | None
                    ) -> tuple[Any, int] | None:
        return self.made.get(key) if key is not None else None

    def keep(self, key: tuple[datetime, tuple[str | int, ...] | None] | None, attachments: Any,
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


def _with_hint(reason: str) -> str:
    """A reason worded for operators: a data key named like a dict method gets advice."""
    if "builtin_function_or_method" in reason or "method' object" in reason:
        return reason + t("sop.dict_method_hint")
    return reason


def _check_sources(book: SopBook, sop: Sop, context: Mapping[str, Any]) -> list[_Problem]:
    """Syntax errors and undefined names in the template and attachment fields."""
    templates = book.templates
    found = [_Problem(p.reason, ("template",), template=p)
             for p in templates.problems(sop.template, context)]
    for index, attachment in enumerate(sop.attachments):
        kind = attachment.spec.msgtype
        items: list[Any] = [None]
        if attachment.each is not None:
            try:
                items = each_items(sop, attachment, context, index)[:MAX_ATTACHMENTS]
            except SopError as exc:
                found.append(_Problem(exc.reason, exc.loc))
                continue
        for item in items:
            scope = dict(context) if attachment.each is None else {**context, "item": item}
            for key, source in attachment.spec.fields:
                label = f"attachments[{index}].{kind}.{key}"
                for problem in templates.check_source(source, scope):
                    where = f"{label}:{problem.line}" if problem.line and problem.line > 1 \
                        else label
                    static = problem if isinstance(
                        problem, TemplateLoadError | TemplateUndefinedName) else None
                    found.append(_Problem(f"{where}: {problem.reason}",
                                          ("attachments", index, kind, key), template=static))
    return found


def _sample_stores(book: SopBook, sop: Sop) -> list[Store | None]:
    if sop.robot is not None:
        return [book.stores.get(sop.robot.store_id) if sop.robot.store_id else None]
    return list(book.stores_for(sop))


def _label(sop: Sop, store: Store | None, day: date, slot: datetime | None = None) -> str:
    """The sample a problem showed on: the store (its data entry), the date, and with
    per-store times the store's time."""
    when = f"{day.isoformat()} {WEEKDAYS_CN[day.weekday()]}"
    if slot is not None and sop.schedule.per_store:
        when += f" {slot:%H:%M}"
    if store is None:
        return t("sop.sample_no_store", day=when)
    if sop.data is not None:
        key = sop.data.source_of(store.id)[0]
        return t("sop.sample_store_data", store=store.id, data=sop.data.name, key=key, day=when)
    return t("sop.sample_store", store=store.id, day=when)


def render_samples(sop: Sop, stores: list[Store | None], days: list[date]
                   ) -> list[tuple[Store | None, date]]:
    """Which (store, day) pairs the load check renders.

    Every store at least once (store fields differ: a long name can break a byte limit),
    and every date checked with each data entry (a store's own key in the data file, or
    the default): that is where data- and date-dependent mistakes hide, such as a weekday
    missing from the flash-sale rotation or a member day on the 8th. The other stores take
    the dates in turn; rendering every store on every date made a reload of 10,000 stores
    take most of a minute.
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
