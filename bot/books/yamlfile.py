"""Operator files: YAML that shop staff edit, checked with errors that point at `file:line:col`.

Channels, stores, SOP schedules and reply libraries are all written by operators, not
developers, so every loader goes through this module and reports problems the same way:
one line per problem, in the form an editor can jump to, and all of them at once (fixing one
error per run is miserable when a file has five).

Why ruamel.yaml and not PyYAML: it speaks YAML 1.2 (``08:30`` stays the string "08:30",
``yes`` stays "yes"), it rejects duplicate keys instead of silently keeping the last one, and
its round-trip loader keeps the line and column of every key and item, which is what lets a
pydantic error about ``channels.x.tags`` point at the right line.

This module reads files; the errors live in `bot.books.errors`, positions and locations in
`bot.books.positions`, and schema checks in `bot.books.validation`. Every name is still
importable from here, where the books import it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.resolver import VersionedResolver

from bot.books.errors import OperatorFileError, OperatorFileErrors
from bot.books.positions import child_position, error_at, format_loc
from bot.books.validation import OperatorModel, validate, validate_part
from bot.books.yaml_events import plain_data
from bot.i18n import t

try:  # ruamel.yaml.clib: libyaml's C parser (pyproject depends on it; without it, slower)
    from ruamel.yaml.cyaml import CParser
except ImportError:  # pragma: no cover - the dependency is missing on this machine
    CParser = None

__all__ = [
    "OperatorFileError",
    "OperatorFileErrors",
    "OperatorModel",
    "error_at",
    "format_loc",
    "load_checked",
    "load_model",
    "load_yaml",
    "validate",
    "validate_part",
]

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

_STR_TAG = "tag:yaml.org,2002:str"


# --------------------------------------------------------------------------- loading


def _yaml() -> YAML:
    yaml = YAML(typ="rt")  # round-trip: keeps line/column of every node
    yaml.allow_duplicate_keys = False
    return yaml


class _OnceResolver(VersionedResolver):
    """ruamel's resolver looks up the document's YAML version for every scalar (a third of
    the C loader's time, measured); an operator file is one document: look it up once."""

    @property
    def versioned_resolver(self) -> Any:
        found = self.__dict__.get("_once")
        if found is None:
            getter = VersionedResolver.versioned_resolver.fget  # type: ignore[attr-defined]
            found = self.__dict__["_once"] = getter(self)
        return found


_PLAIN = (str, bool, int, float, date, datetime, type(None))


def _fast_load(text: str) -> Any:
    """Plain dicts and lists through libyaml, without positions; None when this path cannot
    stand in for the round-trip loader.

    The round-trip loader is pure Python: a 10,000-store stores.yaml took 22 s to parse,
    which was the bot's whole start-up time (a start during which welcomes are lost). The C
    loader reads it in about 2 s. Both resolve YAML 1.2 the same way ("08:30" and "yes"
    stay strings, duplicate keys are refused); a file with any tag (``!``) goes the
    round-trip way, since the two treat tags differently.
    """
    if CParser is None or "!" in text:
        return None
    yaml = YAML(typ="safe", pure=False)
    yaml.Resolver = _OnceResolver
    yaml.allow_duplicate_keys = False
    try:
        data = plain_data(CParser(text), _OnceResolver(), yaml.load)  # no node tree
        if data is not None and _plain_scalars(yaml.load):
            return data  # dicts, lists, text and the safe loader's own scalars: plain
        if data is None:
            data = yaml.load(text)
    except (YAMLError, ValueError):  # the round-trip loader says where and why
        return None
    return data if _all_plain(data) else None


def _plain_scalars(scalar: Callable[[str], Any]) -> bool:
    """Whether the safe loader makes the plain types of a number, a boolean, null and a
    date: then what `plain_data` builds needs no walk through all of it (`_all_plain`)."""
    samples = (scalar("1"), scalar("1.5"), scalar("true"), scalar("null"), scalar("2026-01-02"),
               scalar("2026-01-02 08:30:00"))
    return all(isinstance(value, _PLAIN) for value in samples)


def _all_plain(node: Any) -> bool:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
        elif not isinstance(item, _PLAIN):
            return False
    return True


def load_checked(path: Path | str, check: Callable[[Any], T]) -> T:
    """`check(data)` on the file's data, read fast; errors still point at their lines.

    For large operator files (stores.yaml). The file is read with the C loader, whose data
    has no positions, and checked. Only if reading or `check` fails is it read again with
    positions (`load_yaml`) and checked again, so every error an operator sees says
    `file:line:col`, exactly as without the fast path. `check` raises `OperatorFileError(s)`.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        text = None  # load_yaml reports it
    data = _fast_load(text) if text is not None else None
    if data is not None:
        try:
            return check(data)
        except (OperatorFileError, OperatorFileErrors):
            pass  # found again below, with positions
    try:
        positioned = load_yaml(path)
    except OperatorFileError as exc:
        raise OperatorFileErrors([exc]) from None
    return check(positioned)


def load_yaml(path: Path | str) -> Any:
    """Parse one operator file; syntax errors and duplicate keys become `OperatorFileError`.

    Returns ruamel's commented maps and lists (plain ``dict``/``list`` subclasses) so that
    `validate` and `error_at` can find each node's position later. Explicit ``!!str`` tags
    are unwrapped; any other tag is refused, since no operator file needs Python objects.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise OperatorFileError(path, 1, 1, t("yaml.file_not_found")) from None
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise OperatorFileError(path, line, 1, t("yaml.not_utf8")) from None
    try:
        data = _yaml().load(text)
    except DuplicateKeyError as exc:
        raise _from_marked(path, exc, _duplicate_reason(exc)) from None
    except MarkedYAMLError as exc:
        raise _from_marked(path, exc, _syntax_reason(exc)) from None
    except YAMLError as exc:  # unmarked errors are rare (e.g. reader errors); keep the text
        raise OperatorFileError(path, 1, 1, t("yaml.error", detail=exc)) from None
    except ValueError as exc:  # a date that does not exist (2026-13-01): no mark attached
        raise _bad_date(path, text, exc) from None
    errors: list[OperatorFileError] = []
    data = _normalise(path, data, None, None, errors)
    if errors:
        raise OperatorFileErrors(errors)
    return data


def _from_marked(path: Path, exc: MarkedYAMLError, reason: str) -> OperatorFileError:
    mark = exc.problem_mark or exc.context_mark
    line, column = (mark.line + 1, mark.column + 1) if mark is not None else (1, 1)
    return OperatorFileError(path, line, column, reason)


_DATE_RE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")


def _bad_date(path: Path, text: str, exc: ValueError) -> OperatorFileError:
    """Locate the unquoted date that ruamel could not build (it raises without a position)."""
    try:
        root = _yaml().compose(text)
    except YAMLError:
        root = None
    stack = [root] if root is not None else []
    while stack:
        node = stack.pop(0)
        value = node.value
        if isinstance(value, list):
            for item in value:
                stack.extend(item if isinstance(item, tuple) else (item,))
        elif isinstance(value, str) and str(getattr(node.tag, "value", node.tag)).endswith(
            ":timestamp"
        ):
            found = _DATE_RE.match(value)
            try:
                if found is not None:
                    date(*(int(part) for part in found.groups()))
            except ValueError:
                mark = node.start_mark
                return OperatorFileError(
                    path, mark.line + 1, mark.column + 1,
                    t("yaml.not_a_date", value=value, detail=exc),
                )
    return OperatorFileError(path, 1, 1, t("yaml.unreadable_value", detail=exc))


def _duplicate_reason(exc: DuplicateKeyError) -> str:
    found = re.search(r'duplicate key "(.*?)"', exc.problem or "")
    key = found.group(1) if found else "?"
    mark = exc.context_mark
    if mark is None:
        return t("yaml.duplicate_key", key=key)
    return t("yaml.duplicate_key_at", key=key, line=mark.line + 1)


def _syntax_reason(exc: MarkedYAMLError) -> str:
    reason = t("yaml.syntax", detail=exc.problem or t("yaml.cannot_parse"))
    if exc.context:
        mark = exc.context_mark
        reason += (t("yaml.syntax_context_at", context=exc.context, line=mark.line + 1)
                   if mark is not None else t("yaml.syntax_context", context=exc.context))
    if exc.problem and "'\\t'" in exc.problem:
        reason += t("yaml.tabs")
    return reason


def _normalise(
    path: Path, node: Any, parent: Any, key: Any, errors: list[OperatorFileError]
) -> Any:
    """Unwrap ``!!str`` scalars and report other tags, keeping ruamel's position data."""
    if isinstance(node, TaggedScalar):
        if node.tag.value == _STR_TAG:
            return str(node.value)
        errors.append(_at_child(path, parent, key, t("yaml.tag", tag=node.tag.value)))
        return node
    if isinstance(node, CommentedMap | CommentedSeq) and node.tag.value is not None:
        errors.append(_at_child(path, parent, key, t("yaml.tag", tag=node.tag.value)))
        return node
    if isinstance(node, CommentedMap):
        for k in list(node.keys()):
            value = node[k]
            new = _normalise(path, value, node, k, errors)
            if new is not value:
                node[k] = new
    elif isinstance(node, CommentedSeq):
        for i, value in enumerate(node):
            new = _normalise(path, value, node, i, errors)
            if new is not value:
                node[i] = new
    return node


def _at_child(path: Path, parent: Any, key: Any, reason: str) -> OperatorFileError:
    line, column = child_position(parent, key, at_key=False) if parent is not None else (0, 0)
    return OperatorFileError(path, line + 1, column + 1, reason)


def load_model(path: Path | str, model: type[M]) -> tuple[Any, M]:
    """`load_yaml` then `validate`, with every failure raised as `OperatorFileErrors`.

    One exception type for callers to catch; the raw data comes back too, so that semantic
    checks made afterwards can still point at lines with `error_at`.
    """
    try:
        data = load_yaml(path)
    except OperatorFileError as exc:
        raise OperatorFileErrors([exc]) from None
    return data, validate(path, data, model)

