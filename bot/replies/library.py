"""The 话术 library: operator YAML under ``templates/replies/``, checked and compiled once.

Customer-service staff answer the same questions all day (a bad mango, a late delivery,
what is on the Tuesday member day), and headquarters wants them answered the same good way
in every store. Operators write the answers once, as files:

* ``_library.yaml``: the category order the sidebar shows, and the tag vocabulary: each
  canonical tag word with the other names that mean the same (a WeCom tag name, a
  ``组名/标签名`` pair such as a questionnaire's coded tag ``问卷/D``, an English word staff
  type in the app, e.g. ``acne``).
* every other ``*.yaml``: ``replies:`` by id, each with a title, a category, the tags it
  fits, search keywords, a Jinja text (greets the customer by name, names their store) and
  optional link / mini-program attachments.

Loading goes through `bot.books.yamlfile` like every operator file: all problems at once, each as
``file:line:col: reason``; a template error points at the line inside the text block. Texts
are compiled once (`TemplateLibrary.compile_string` caches them) and rendered in Jinja's
sandbox with `StrictUndefined`, and every text is rendered at load time for a customer with
a store and one without, so a reply that would break for a real customer never loads.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml.scalarstring import FoldedScalarString, LiteralScalarString

from bot.books.context import day_context
from bot.books.stores import Store, StoreDirectory
from bot.books.templating import TemplateError, TemplateLibrary, on_none
from bot.books.yamlfile import (
    OperatorFileError,
    OperatorFileErrors,
    error_at,
    load_yaml,
    validate,
    validate_part,
)
from bot.i18n import t
from bot.replies.spec import AttachmentSpec, LibraryFile, RepliesFile, ReplySpec
from bot.sop.datafiles import SopData, load_data
from bot.wecom.content import https_error, payload

LIBRARY_FILE = "_library.yaml"
MAX_TEXT_BYTES = 2048  # sendChatMessage text and an app message both fit in WeCom's 2048 B
_REPLY_ID = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
SAMPLE_CUSTOMER = "王丽"


def normalise(word: str) -> str:
    """How tag words and search words are compared: NFKC (全角 -> half width), casefold,
    inner spaces kept single. ``Gold Member`` and ``ｇｏｌｄ member`` are the same word."""
    return " ".join(unicodedata.normalize("NFKC", word).casefold().split())


# --------------------------------------------------------------------------- values


@dataclass(frozen=True, slots=True)
class Reply:
    """One 话术 as loaded: `tags` are canonical tag words (see `ReplyLibrary.canonical`)."""

    id: str
    title: str
    category: str
    tags: tuple[str, ...]
    keywords: tuple[str, ...]
    text: str  # the Jinja source
    attachments: tuple[dict[str, Any], ...]  # sendChatMessage cards, checked at load
    path: Path
    order: int  # position in the library (files by name, replies in file order)
    search_text: str = field(repr=False, default="")  # normalised title+keywords+text+tags
    data: SopData | None = field(repr=False, default=None)  # its ``data:`` file (offers)


@dataclass(frozen=True, slots=True)
class CustomerView:
    """The customer as reply templates see them (``{{ customer.name }}``)."""

    name: str
    tags: tuple[str, ...] = ()  # tag names as in WeCom
    channel: str = ""


@dataclass(frozen=True, slots=True)
class StaffView:
    name: str


@dataclass(frozen=True, slots=True)
class Rendered:
    text: str
    attachments: tuple[dict[str, Any], ...]


def reply_context(customer: CustomerView, staff: StaffView, store: Store | None,
                  today: date) -> dict[str, Any]:
    """Everything a reply text may use; `docs/replies.md` lists it for operators."""
    return {**day_context(today), "customer": customer, "staff": staff, "store": store}


# --------------------------------------------------------------------------- the library


class ReplyLibrary:
    """Every reply, the category order and the tag vocabulary; read-only once loaded."""

    def __init__(self, replies: list[Reply], categories: list[str],
                 aliases: Mapping[str, str], templates: TemplateLibrary,
                 files: list[Path]) -> None:
        self.replies = tuple(replies)
        self.categories = tuple(categories)
        self._aliases = dict(aliases)  # normalised word -> canonical word
        self.templates = templates
        self.files = tuple(files)
        self._by_id = {r.id: r for r in replies}
        self._category_rank = {c: i for i, c in enumerate(categories)}

    # -- loading -------------------------------------------------------------------

    @classmethod
    def load(cls, folder: Path | str, stores: StoreDirectory | None = None,
             templates: TemplateLibrary | None = None) -> ReplyLibrary:
        """Read and check the folder; raises `OperatorFileErrors` listing every problem."""
        folder = Path(folder)
        templates = templates or TemplateLibrary(folder)
        errors: list[OperatorFileError] = []
        index = folder / LIBRARY_FILE
        categories: list[str] = []
        aliases: dict[str, str] = {}
        try:
            data = load_yaml(index)
            spec = validate(index, data, LibraryFile)
        except OperatorFileError as exc:
            raise OperatorFileErrors([exc]) from None
        categories, aliases = _vocabulary(index, data, spec, errors)
        files = sorted(p for p in folder.glob("*.y*ml")
                       if p.name != LIBRARY_FILE and p.suffix in (".yaml", ".yml"))
        if not files:
            errors.append(OperatorFileError(folder, 1, 1, "no reply files (*.yaml) in the folder"))
        replies: list[Reply] = []
        seen: dict[str, Path] = {}
        samples = _samples(stores)
        data_files = _DataFiles(stores)
        for path in files:
            replies.extend(_load_file(path, categories, aliases, templates, samples, seen,
                                      len(replies), errors, data_files))
        if errors:
            raise OperatorFileErrors(errors)
        return cls(replies, categories, aliases, templates, [index, *files])

    # -- lookups -------------------------------------------------------------------

    def get(self, reply_id: str) -> Reply | None:
        return self._by_id.get(reply_id)

    def category_rank(self, category: str) -> int:
        return self._category_rank.get(category, len(self._category_rank))

    def canonical(self, word: str) -> str:
        """The canonical tag word for `word` (itself when the vocabulary does not know it)."""
        key = normalise(word)
        return self._aliases.get(key, key)

    def knows_tag(self, word: str) -> bool:
        """Whether `word` names a tag some reply carries (directly or through an alias)."""
        canonical = self.canonical(word)
        return any(canonical in r.tags for r in self.replies)

    def customer_tag_words(self, tags: Iterable[tuple[str, str]]) -> dict[str, tuple[str, str]]:
        """Canonical tag words of a customer's WeCom tags (group, name) -> the tag they came
        from. A tag matches by its name or by ``group/name`` (how coded tags are pinned)."""
        words: dict[str, tuple[str, str]] = {}
        for group, name in tags:
            pinned = normalise(f"{group}/{name}")
            # the pinned form wins when the vocabulary knows it ("问卷/D", not any "D")
            word = self._aliases[pinned] if pinned in self._aliases else self.canonical(name)
            words.setdefault(word, (group, name))
        return words

    # -- rendering -----------------------------------------------------------------

    def render(self, reply: Reply, context: Mapping[str, Any]) -> Rendered:
        """The text and cards for one customer; raises `TemplateError` (never for a context
        shaped like `reply_context`: every text was rendered with one at load time)."""
        text = self.templates.render_string(reply.text, with_data(reply.data, context)).strip()
        return Rendered(text, reply.attachments)


def _vocabulary(path: Path, data: Any, spec: LibraryFile,
                errors: list[OperatorFileError]) -> tuple[list[str], dict[str, str]]:
    categories: list[str] = []
    for index, name in enumerate(spec.categories):
        if name in categories:
            errors.append(error_at(path, data, ("categories", index),
                                   f"categories[{index}]: '{name}' is listed twice"))
        categories.append(name)
    aliases: dict[str, str] = {}
    owner: dict[str, str] = {}
    for word, others in spec.tags.items():
        canonical = normalise(word)
        for index, other in enumerate([word, *others]):
            key = normalise(other)
            if key in owner and owner[key] != canonical:
                loc = ("tags", word) if index == 0 else ("tags", word, index - 1)
                errors.append(error_at(path, data, loc, f"tags.{word}: '{other}' already means "
                                       f"'{owner[key]}'; a word can mean one tag only",
                                       at_key=index == 0))
                continue
            owner[key] = canonical
            aliases[key] = canonical
    return categories, aliases


def _samples(stores: StoreDirectory | None) -> list[dict[str, Any]]:
    """A member-day customer of a store, and a weekday customer without one: a text must
    work for both (customers from the default QR code have no store)."""
    first = next(iter(stores.all()), None) if stores is not None else None
    tuesday, wednesday = date(2025, 3, 4), date(2025, 3, 5)
    customer = CustomerView(SAMPLE_CUSTOMER, ("金卡会员",), "store-counter")
    return [
        reply_context(customer, StaffView("林晓雨"), first, tuesday),
        reply_context(CustomerView(SAMPLE_CUSTOMER), StaffView(""), None, wednesday),
    ]


def _load_file(path: Path, categories: list[str], aliases: Mapping[str, str],
               templates: TemplateLibrary, samples: list[dict[str, Any]],
               seen: dict[str, Path], start: int,
               errors: list[OperatorFileError], data_files: _DataFiles) -> list[Reply]:
    try:
        data = load_yaml(path)
        validate(path, data, RepliesFile)
    except OperatorFileError as exc:
        errors.append(exc)
        return []
    except OperatorFileErrors as exc:
        errors.extend(exc.errors)
        return []
    lines = path.read_text(encoding="utf-8").splitlines()
    loaded: list[Reply] = []
    for reply_id in data["replies"]:
        where = ("replies", reply_id)
        rid = str(reply_id)
        if not _REPLY_ID.fullmatch(rid):
            errors.append(error_at(path, data, where, f"replies.{rid}: a reply id is lower-case "
                                   "letters, digits, - and _ (e.g. bad-fruit-refund)",
                                   at_key=True))
            continue
        if rid in seen:
            errors.append(error_at(path, data, where, f"replies.{rid}: id already used in "
                                   f"{seen[rid].name}; ids are unique across the library",
                                   at_key=True))
            continue
        seen[rid] = path
        try:
            spec = validate_part(path, data, where, ReplySpec)
        except OperatorFileErrors as exc:
            errors.extend(exc.errors)
            continue
        before = len(errors)
        if spec.category not in categories:
            close = difflib.get_close_matches(spec.category, categories, n=1, cutoff=0.5)
            hint = (f" (did you mean '{close[0]}'?)" if close
                    else f"; known: {', '.join(categories)}" if categories else "")
            errors.append(error_at(path, data, (*where, "category"),
                                   f"replies.{rid}.category: '{spec.category}' is not in "
                                   f"{LIBRARY_FILE}{hint}"))
        offers = data_files.get(path, data, rid, spec.data, errors)
        if spec.data is None or offers is not None:  # else: the data file's errors say it
            _check_text(path, data, lines, rid, spec.text, templates,
                        [with_data(offers, sample) for sample in samples], errors)
        if len(errors) > before:
            continue
        tags = tuple(dict.fromkeys(aliases.get(normalise(t), normalise(t)) for t in spec.tags))
        attachments = tuple(_attachment(a) for a in spec.attachments)
        search = " ".join(normalise(s) for s in (spec.title, *spec.keywords, spec.text,
                                                 *spec.tags, *tags, spec.category))
        loaded.append(Reply(rid, spec.title, spec.category, tags,
                            tuple(normalise(k) for k in spec.keywords), spec.text, attachments,
                            path, start + len(loaded), search, offers))
    return loaded


def with_data(data: SopData | None, context: Mapping[str, Any]) -> dict[str, Any]:
    """The context with ``data``: the entry of the customer's store in the reply's data
    file, or its default (a customer without a store); unchanged for a reply without one."""
    if data is None:
        return dict(context)
    store = context.get("store")
    return {**context, "data": data.for_store(store.id if store is not None else None) or {}}


class _DataFiles:
    """The data files replies name, each loaded once, from the folder of stores.yaml."""

    def __init__(self, stores: StoreDirectory | None) -> None:
        self.stores = stores
        self.loaded: dict[str, SopData | None] = {}

    def get(self, path: Path, raw: Any, rid: str, name: str | None,
            errors: list[OperatorFileError]) -> SopData | None:
        if name is None:
            return None
        where = ("replies", rid, "data")
        if self.stores is None or self.stores.path is None:
            errors.append(error_at(path, raw, where, f"replies.{rid}.data: data files are "
                                   "read from the folder of stores.yaml, which is not loaded"))
            return None
        folder = self.stores.path.parent
        file = (folder / name).resolve()
        if not file.is_relative_to(folder.resolve()) or not file.is_file():
            errors.append(error_at(path, raw, where, f"replies.{rid}.data: data file not "
                                   f"found: {folder / name}"))
            return None
        if name not in self.loaded:
            try:
                self.loaded[name] = load_data(folder / name, name, self.stores)
            except OperatorFileErrors as exc:
                errors.extend(exc.errors)
                self.loaded[name] = None
        if self.loaded[name] is None:
            errors.append(error_at(path, raw, where, f"replies.{rid}.data: {name} has errors "
                                   "(listed with its own lines)"))
        return self.loaded[name]


def _attachment(spec: AttachmentSpec) -> dict[str, Any]:
    """A ``sendChatMessage`` card: WeCom calls a link card ``news`` there and its address
    ``link``."""
    if spec.link is not None:
        link = spec.link
        fields = {"link": link.url, "title": link.title, "desc": link.desc,
                  "imgUrl": link.imgUrl}
        # the sidebar's card takes a URL only (the page sends it): no local file here
        return payload("news", {k: v for k, v in fields.items() if v}, https_error)
    assert spec.miniprogram is not None
    return payload("miniprogram", spec.miniprogram.model_dump())


def _check_text(path: Path, data: Any, lines: list[str], rid: str, source: str,
                templates: TemplateLibrary, samples: list[dict[str, Any]],
                errors: list[OperatorFileError]) -> None:
    """Compile and render the text for each sample; errors point at the line in the file."""
    problems: dict[str, int | None] = {}
    for context in samples:
        for problem in templates.check_source(source, context):
            reason = problem.reason
            if on_none(reason) and context["store"] is None:
                reason += t("replies.no_store_guard")
            problems.setdefault(reason, problem.line)
        if problems:
            break
        try:
            size = len(templates.render_string(source, context).strip().encode("utf-8"))
        except TemplateError as exc:  # check_source rendered it already; a backstop
            problems.setdefault(exc.reason, exc.line)
            break
        if size > MAX_TEXT_BYTES:
            problems.setdefault(f"the text renders to {size} bytes; WeCom sends at most "
                                f"{MAX_TEXT_BYTES} (a Chinese character takes 3 bytes)", None)
    node = data["replies"][rid]
    for reason, template_line in problems.items():
        line, column = _text_line(node, lines, template_line)
        if line is None:
            errors.append(error_at(path, data, ("replies", rid, "text"),
                                   f"replies.{rid}.text: {reason}"))
        else:
            errors.append(OperatorFileError(path, line, column, f"replies.{rid}.text: {reason}"))


def _text_line(node: Any, lines: list[str], template_line: int | None
               ) -> tuple[int | None, int]:
    """1-based file (line, column) of a template line inside ``text:``."""
    if template_line is None:
        return None, 1
    try:
        line0, col0 = node.lc.value("text")
    except (AttributeError, KeyError, TypeError):
        return None, 1
    value = node["text"]
    if isinstance(value, LiteralScalarString | FoldedScalarString):
        line = line0 + 1 + template_line  # the block starts on the line after `|`
        text = lines[line - 1] if 0 < line <= len(lines) else ""
        return line, len(text) - len(text.lstrip()) + 1
    return line0 + template_line, col0 + 1
