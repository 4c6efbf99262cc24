"""The load check's message text (and attachments), rendered once per distinct input
instead of per store.

Checking an SOP book renders each SOP's template for every store it reaches (a long store
name can break WeCom's byte limit, so every store is rendered: bot.sop.checks). Most
templates use a store only to print its fields as they are (``{{ store.name }}``,
``{{ staff.name }}``); those fields cannot change what else the template prints. So the
template is rendered once per slot, data entry and value of the fields it *does* read
otherwise (``{% if store.opens > time %}``), with unique markers in place of the printed
fields, and each store's text is that render with its own values put in for the markers.

Exact, not sampled: a template qualifies only when every ``store``/``staff`` in it is a
field read straight into the output (no filter, test, call, comparison, ``set`` or loop
variable of that name; ``store.hours`` counts as its two fields), it includes or imports
nothing and calls no filter that reads the whole context; the values put in must be
text, and the result stays within the output cap. Anything else (and any render that
fails) is rendered for the store as before, so every error keeps its own wording.
`AttachmentReuse` does the same for the attachments' fields (a link's ``?store=``), each
store's result then through WeCom's checks as its own render would be.
"""

from __future__ import annotations

import dataclasses
import secrets
from collections.abc import Mapping
from datetime import date
from typing import Any

from jinja2 import nodes

from bot.books.context import Person
from bot.books.stores import Store
from bot.books.templating import TemplateError, TemplateLibrary
from bot.sop.model import Sop
from bot.wecom.content import MAX_ATTACHMENTS, ContentError, ImageCheck, render_attachment

_PEOPLE: dict[str, type] = {"store": Store, "staff": Person}
_REFUSED = (nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends,
            nodes.ContextReference, nodes.DerivedContextReference)

Field = tuple[str, str]  # ("store", "name")
# properties made of fields: printed as they are, their fields' markers make them up
_DERIVED: dict[Field, tuple[Field, ...]] = {("store", "hours"): (("store", "opens"),
                                                                  ("store", "closes"))}
# Jinja's filters that take the context only to call the filter or test they are named
_CALLS_BY_NAME = frozenset({"select", "reject", "selectattr", "rejectattr", "map"})


@dataclasses.dataclass(frozen=True, slots=True)
class Shape:
    """How a template uses the store: fields it only prints, fields it reads otherwise."""

    printed: tuple[Field, ...]
    read: tuple[Field, ...]


def template_shape(templates: TemplateLibrary, name: str) -> Shape | None:
    """`name`'s `Shape`, or None when the markers would not be exact for it."""
    env = templates.env
    try:
        source, _, _ = env.loader.get_source(env, name)  # type: ignore[union-attr]
    except Exception:  # missing: the checks report it; render as usual
        return None
    return source_shape(env, source)


def source_shape(env: Any, source: str) -> Shape | None:
    """The `Shape` of a template's source (a file's, or an attachment field's)."""
    try:
        tree = env.parse(source)
    except Exception:  # broken: the checks report it; render as usual
        return None
    if any(True for _ in tree.find_all(_REFUSED)) or _reads_context(env, tree):
        return None
    parents = {id(child): node for node in tree.find_all(nodes.Node)
               for child in node.iter_child_nodes()}
    printed: set[Field] = set()
    read: set[Field] = set()
    for found in tree.find_all(nodes.Name):
        if found.name not in _PEOPLE:
            continue
        parent = parents.get(id(found))
        if found.ctx != "load" or not isinstance(parent, nodes.Getattr):
            return None
        at = (found.name, parent.attr)
        fields = {field.name for field in dataclasses.fields(_PEOPLE[found.name])}
        sources = _DERIVED.get(at, (at,) if parent.attr in fields else None)
        if sources is None:
            return None  # a typo, or a property not in _DERIVED: rendered as it is
        (printed if isinstance(parents.get(id(parent)), nodes.Output) else read).update(sources)
    return Shape(tuple(sorted(printed - read)), tuple(sorted(read)))


def _reads_context(env: Any, tree: nodes.Template) -> bool:
    """Whether a filter, test or function the template calls is given the whole context."""
    used: list[Any] = []
    for found in tree.find_all(nodes.Filter):
        if found.name not in _CALLS_BY_NAME:
            used.append(env.filters.get(found.name))
        elif not all(isinstance(arg, nodes.Const) for arg in found.args):
            return True  # a filter or test named at render time
        else:
            values = [arg.value for arg in found.args if isinstance(arg, nodes.Const)]
            names = [value for value in values if isinstance(value, str)]
            used += [env.filters.get(n) for n in names] + [env.tests.get(n) for n in names]
    used += [env.tests.get(n.name) for n in tree.find_all(nodes.Test)]
    used += [env.globals.get(n.node.name) for n in tree.find_all(nodes.Call)
             if isinstance(n.node, nodes.Name)]
    for fn in used:
        passes = getattr(getattr(fn, "jinja_pass_arg", None), "name", None)
        if passes == "context":
            return True
    return False


class TextReuse:
    """One SOP's message text for each store, from one marked render per distinct input."""

    def __init__(self, templates: TemplateLibrary, template: str) -> None:
        self.templates = templates
        self.template = template
        self._use(template_shape(templates, template))

    def _use(self, shape: Shape | None) -> None:
        self.shape = shape
        nonce = secrets.token_hex(6)  # a marker no data file or template will contain
        self.marks = {at: f"\ue000{nonce}.{at[0]}.{at[1]}\ue001"
                      for at in (shape.printed if shape else ())}
        self.mark_list = list(self.marks.values())  # in `shape.printed`'s order
        self.made: dict[tuple[Any, ...], list[str] | None] = {}

    def text(self, store: Store | None, slot: date, entry: Any,
             context: Mapping[str, Any]) -> str | None:
        """The template's raw output for `context` (whose store is `store`, at `slot` with
        data entry `entry`), or None: render it for this store as usual. Keyed by the slot,
        not the day: where stores send at their own times a template may differ by ``time``."""
        filled = self._filled(store, slot, entry, context)
        return filled[0] if filled is not None else None

    def _filled(self, store: Store | None, slot: date, entry: Any,
                context: Mapping[str, Any]) -> list[str] | None:
        """The marked renders for this input with the store's own values put in."""
        shape = self.shape
        if shape is None or store is None:
            return None
        staff = context.get("staff")
        try:
            key = (slot, entry, *[getattr(store if v == "store" else staff, a)
                                  for v, a in shape.read])
            known = key in self.made
        except (TypeError, AttributeError):
            return None
        values = [getattr(store if v == "store" else staff, a) for v, a in shape.printed]
        for value in values:
            if not isinstance(value, str):
                return None
        if not known:
            self.made[key] = self._marked(store, context)
        made = self.made[key]
        if made is None:
            return None
        cap = self.templates.max_output_chars
        filled: list[str] = []
        for text in made:
            for mark, value in zip(self.mark_list, values, strict=True):
                text = text.replace(mark, value)
            if len(text) > cap:
                return None
            filled.append(text)
        return filled

    def _marked(self, store: Store, context: Mapping[str, Any]) -> list[str] | None:
        """The render with markers for the printed fields; None if it fails (the store's
        own render then gives the error in its own words)."""
        marks = {a: mark for (v, a), mark in self.marks.items() if v == "store"}
        scope = dict(context)
        scope["store"] = dataclasses.replace(store, **marks)
        if ("staff", "name") in self.marks:
            scope["staff"] = Person(self.marks[("staff", "name")])
        try:
            return self._render(scope)
        except TemplateError:
            return None

    def _render(self, scope: Mapping[str, Any]) -> list[str]:
        return [self.templates.render(self.template, scope)]


class AttachmentReuse(TextReuse):
    """An SOP's attachments for each store the same way: every field rendered once per
    distinct input with the markers, each store's values put in, and the result through
    the same `render_attachment` (WeCom's byte limits, URLs, images) as a store's own
    render. Only SOPs whose attachments have no ``each`` and whose every field qualifies
    (see `source_shape`); a field WeCom would refuse is rendered for the store as before,
    so the error keeps its wording. The attachments that name the store (``?store=`` in a
    link) were a quarter of checking 10,000 stores."""

    def __init__(self, templates: TemplateLibrary, sop: Sop) -> None:
        self.templates = templates
        self.sop = sop
        self.sources = [source for attachment in sop.attachments
                        for _, source in attachment.spec.fields]
        self.images = _remembered(templates.images)
        self._use(_fields_shape(templates.env, sop, self.sources))

    def attachments(self, store: Store | None, slot: date, entry: Any,
                    context: Mapping[str, Any]) -> tuple[list[dict[str, Any]], int] | None:
        """The attachments and how many were dropped past WeCom's 9, or None: render them
        for this store as usual."""
        filled = self._filled(store, slot, entry, context)
        if filled is None:
            return None
        values = iter(filled)
        out: list[dict[str, Any]] = []
        dropped = 0
        for attachment in self.sop.attachments:
            try:
                body = render_attachment(attachment.spec, lambda _key, _source: next(values),
                                         self.images)
            except ContentError:
                return None
            if body is not None and len(out) >= MAX_ATTACHMENTS:
                dropped += 1
            elif body is not None:
                out.append(body)
        return out, dropped

    def _render(self, scope: Mapping[str, Any]) -> list[str]:
        return [self.templates.render_string(source, scope) for source in self.sources]


def _fields_shape(env: Any, sop: Sop, sources: list[str]) -> Shape | None:
    """One `Shape` for all the attachments' fields, or None when any would not be exact."""
    if not sources or any(attachment.each is not None for attachment in sop.attachments):
        return None
    printed: set[Field] = set()
    read: set[Field] = set()
    for source in sources:
        shape = source_shape(env, source) if "{" in source else Shape((), ())
        if shape is None:
            return None
        printed.update(shape.printed)
        read.update(shape.read)
    return Shape(tuple(sorted(printed - read)), tuple(sorted(read)))


def _remembered(check: ImageCheck | None) -> ImageCheck | None:
    """The image check, asked once per picture for the whole load (a file's ``stat`` for
    each of 10,000 stores showing the same banner was most of a check at start)."""
    if check is None:
        return None
    seen: dict[str, str | None] = {}

    def images(value: str) -> str | None:
        if value not in seen:
            seen[value] = check(value)
        return seen[value]

    return images
