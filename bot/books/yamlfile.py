"""Operator files: YAML that shop staff edit, checked with errors that point at `file:line:col`.

Channels, stores, SOP schedules and reply libraries are all written by operators, not
developers, so every loader goes through this module and reports problems the same way:
one line per problem, in the form an editor can jump to, and all of them at once (fixing one
error per run is miserable when a file has five).

Why ruamel.yaml and not PyYAML: it speaks YAML 1.2 (``08:30`` stays the string "08:30",
``yes`` stays "yes"), it rejects duplicate keys instead of silently keeping the last one, and
its round-trip loader keeps the line and column of every key and item, which is what lets a
pydantic error about ``channels.x.tags`` point at the right line.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails
from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq, TaggedScalar
from ruamel.yaml.constructor import DuplicateKeyError
from ruamel.yaml.error import MarkedYAMLError, YAMLError
from ruamel.yaml.resolver import VersionedResolver

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
Loc = Sequence[str | int]

_STR_TAG = "tag:yaml.org,2002:str"


class OperatorFileError(Exception):
    """One problem in an operator file, located at a 1-based line and column."""

    def __init__(self, path: Path | str, line: int, column: int, reason: str) -> None:
        super().__init__(path, line, column, reason)
        self.path = Path(path)
        self.line = line
        self.column = column
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.reason}"

    def __repr__(self) -> str:
        return f"OperatorFileError({str(self)!r})"


class OperatorFileErrors(Exception):
    """Every problem found in one check, so operators can fix a file in one pass."""

    def __init__(self, errors: Iterable[OperatorFileError]) -> None:
        unique: dict[str, OperatorFileError] = {}
        for error in errors:
            unique.setdefault(str(error), error)
        # file order reads best: the operator fixes top to bottom
        self.errors = sorted(unique.values(), key=lambda e: (str(e.path), e.line, e.column))
        super().__init__(self.errors)

    def __str__(self) -> str:
        count = len(self.errors)
        head = f"{count} problem{'s' if count != 1 else ''} in operator files:"
        return "\n".join([head, *(f"  {e}" for e in self.errors)])

    def __iter__(self) -> typing.Iterator[OperatorFileError]:
        return iter(self.errors)

    def __len__(self) -> int:
        return len(self.errors)


class OperatorModel(BaseModel):
    """Base for models of operator files: unknown keys are errors, values never change.

    ``extra="forbid"`` turns a typo such as ``tagz:`` into an error instead of a silently
    ignored key; ``frozen`` because a loaded file is shared by every request.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


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
            found = self.__dict__["_once"] = VersionedResolver.versioned_resolver.fget(self)
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
        data = yaml.load(text)
    except (YAMLError, ValueError):  # the round-trip loader says where and why
        return None
    return data if _all_plain(data) else None


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
        raise OperatorFileError(path, 1, 1, "file not found") from None
    except UnicodeDecodeError as exc:
        line = exc.object[: exc.start].count(b"\n") + 1
        raise OperatorFileError(path, line, 1, "not UTF-8 text; save the file as UTF-8") from None
    try:
        data = _yaml().load(text)
    except DuplicateKeyError as exc:
        raise _from_marked(path, exc, _duplicate_reason(exc)) from None
    except MarkedYAMLError as exc:
        raise _from_marked(path, exc, _syntax_reason(exc)) from None
    except YAMLError as exc:  # unmarked errors are rare (e.g. reader errors); keep the text
        raise OperatorFileError(path, 1, 1, f"YAML error: {exc}") from None
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
                    f"'{value}' is not a date ({exc}); write dates as YYYY-MM-DD",
                )
    return OperatorFileError(path, 1, 1, f"a value could not be read: {exc}")


def _duplicate_reason(exc: DuplicateKeyError) -> str:
    found = re.search(r'duplicate key "(.*?)"', exc.problem or "")
    key = found.group(1) if found else "?"
    mark = exc.context_mark
    where = f" (the mapping starts at line {mark.line + 1})" if mark is not None else ""
    return f"duplicate key '{key}'{where}; each key may appear once"


def _syntax_reason(exc: MarkedYAMLError) -> str:
    reason = f"YAML syntax error: {exc.problem or 'cannot parse'}"
    if exc.context:
        mark = exc.context_mark
        at = f" at line {mark.line + 1}" if mark is not None else ""
        reason += f" ({exc.context}{at})"
    if exc.problem and "'\\t'" in exc.problem:
        reason += "; indent with spaces, not tabs"
    return reason


def _normalise(
    path: Path, node: Any, parent: Any, key: Any, errors: list[OperatorFileError]
) -> Any:
    """Unwrap ``!!str`` scalars and report other tags, keeping ruamel's position data."""
    if isinstance(node, TaggedScalar):
        if node.tag.value == _STR_TAG:
            return str(node.value)
        errors.append(_at_child(path, parent, key, f"unsupported YAML tag {node.tag.value}"))
        return node
    if isinstance(node, CommentedMap | CommentedSeq) and node.tag.value is not None:
        errors.append(_at_child(path, parent, key, f"unsupported YAML tag {node.tag.value}"))
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
    line, column = _child_position(parent, key, at_key=False) if parent is not None else (0, 0)
    return OperatorFileError(path, line + 1, column + 1, reason)


# --------------------------------------------------------------------------- positions


def _own_position(node: Any) -> tuple[int, int] | None:
    lc = getattr(node, "lc", None)
    if lc is None or lc.line is None:
        return None
    return lc.line, lc.col


def _child_position(parent: Any, key: Any, *, at_key: bool) -> tuple[int, int]:
    """0-based position of ``parent[key]``: of its key, or of its value when it is a scalar.

    A collection value is reported at its key (``tags:``), which is where an operator looks
    for "tags: expected a list"; a scalar is reported where the bad value is written.
    """
    fallback = _own_position(parent) or (0, 0)
    try:
        if isinstance(parent, CommentedSeq):
            line, col = parent.lc.item(key)
            return line, col
        if isinstance(parent, CommentedMap):
            value = parent.get(key)
            if at_key or isinstance(value, CommentedMap | CommentedSeq):
                line, col = parent.lc.key(key)
            else:
                line, col = parent.lc.value(key)
            return line, col
    except (KeyError, IndexError, TypeError):
        pass  # merged (<<) keys and synthetic nodes have no position of their own
    return fallback


def _find_key(node: Mapping[Any, Any], part: str | int) -> Any:
    """The real key for a pydantic loc part: pydantic may turn a YAML number key into a str."""
    if part in node:
        return part
    for key in node:
        if str(key) == str(part):
            return key
    return _MISSING


_MISSING = object()


def _position(data: Any, loc: Loc, *, at_key: bool = False) -> tuple[int, int]:
    """1-based (line, column) of the node that `loc` names in ruamel data.

    Walks as deep as the data goes: parts that are not keys (pydantic's union tags, a missing
    field's name) leave the position at the deepest node found, i.e. the map lacking the key.
    """
    node = data
    position = _own_position(data) or (0, 0)
    parts = [p for p in loc if p != "[key]"]
    key_error = len(parts) != len(loc)  # a bad dict key: point at the key itself
    for index, part in enumerate(parts):
        last = index == len(parts) - 1
        if isinstance(node, CommentedMap):
            key = _find_key(node, part)
            if key is _MISSING:
                continue
            position = _child_position(node, key, at_key=(at_key or key_error) and last)
            node = node[key]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            position = _child_position(node, part, at_key=False)
            node = node[part]
    return position[0] + 1, position[1] + 1


def format_loc(loc: Loc, data: Any = None) -> str:
    """``("channels", "x", "attachments", 0)`` -> ``channels.x.attachments[0]``.

    With `data`, a number that is a mapping key (``0012:`` unquoted reads as 12) is written
    ``stores.12`` rather than as a list index.
    """
    out = ""
    node = data
    for part in loc:
        if part == "[key]":
            continue
        if isinstance(part, int) and isinstance(node, str):
            continue  # a scalar that the model turned into a list (`match: "a"`)
        if isinstance(part, int) and (node is None or isinstance(node, list)):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
        node = _child(node, part)
    return out


def _child(node: Any, part: str | int) -> Any:
    if isinstance(node, Mapping):
        key = _find_key(node, part)
        return None if key is _MISSING else node[key]
    if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
        return node[part]
    return None


def error_at(
    path: Path | str, data: Any, loc: Loc, reason: str, *, at_key: bool = False
) -> OperatorFileError:
    """An error located at the node `loc` names (e.g. ``("channels", "x", "template")``).

    For semantic checks made after `validate` (unknown template, unknown store, bad pattern):
    returns the error so the caller can collect several and raise `OperatorFileErrors`.
    ``at_key=True`` points at the key rather than its value (e.g. a whole channel).
    """
    line, column = _position(data, loc, at_key=at_key)
    return OperatorFileError(path, line, column, reason)


# --------------------------------------------------------------------------- validation


def validate(path: Path | str, data: Any, model: type[M]) -> M:
    """Validate loaded data against a pydantic model; all errors at once, each at its node."""
    if data is None:
        raise OperatorFileErrors([OperatorFileError(path, 1, 1, "the file is empty")])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            error_at(path, data, _error_loc(err), _reason(model, err, data))
            for err in exc.errors(include_url=False)
        ]
        raise OperatorFileErrors(errors) from None


def validate_part(path: Path | str, data: Any, loc: Loc, model: type[M]) -> M:
    """Validate the node at `loc` (e.g. ``("sops", "goodnight")``) of loaded data on its own.

    Files holding many independent entries (SOPs, channels) validate each entry separately,
    so one entry's schema error does not stop the later checks (templates, schedules) of the
    others: the operator still sees every problem in one run. Errors point into `data` and
    their reasons carry the full location (``sops.goodnight.at[1]: ...``).
    """
    node = data
    for part in loc:
        node = _child(node, part)
    try:
        return model.model_validate(node)
    except ValidationError as exc:
        errors = [
            error_at(path, data, (*loc, *_error_loc(err)), _reason(model, err, data, prefix=loc))
            for err in exc.errors(include_url=False)
        ]
        raise OperatorFileErrors(errors) from None


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


def _error_loc(err: ErrorDetails) -> tuple[str | int, ...]:
    loc = tuple(err["loc"])
    if err["type"] == "missing" and loc:
        return loc[:-1]  # the map that lacks the key
    return loc


def _reason(model: type[BaseModel], err: ErrorDetails, data: Any, prefix: Loc = ()) -> str:
    """The operator-readable reason; `prefix` is where in `data` the model's node sits."""
    loc = tuple(err["loc"])
    kind = err["type"]
    ctx: dict[str, Any] = dict(err.get("ctx") or {})
    value = err.get("input")
    if kind == "extra_forbidden":
        where, name = loc[:-1], loc[-1]
        known = _known_keys(model, where)
        hint = ""
        if known:
            close = difflib.get_close_matches(str(name), known, n=1)
            hint = (
                f" (did you mean '{close[0]}'?)"
                if close
                else f" (allowed: {', '.join(sorted(known))})"
            )
        return _prefixed((*prefix, *where), f"unknown key '{name}'{hint}", data)
    if kind == "missing":
        return _prefixed((*prefix, *loc[:-1]), f"missing required key '{loc[-1]}'", data)
    return _prefixed((*prefix, *loc), _type_message(kind, ctx, value, err["msg"]), data)


def _prefixed(loc: Loc, message: str, data: Any) -> str:
    where = format_loc(loc, data)
    return f"{where}: {message}" if where else message


def _type_message(kind: str, ctx: dict[str, Any], value: Any, msg: str) -> str:
    if kind == "string_type":
        if isinstance(value, bool):
            return "expected text, found true/false; put the value in quotes"
        if isinstance(value, int | float):
            return (
                f"expected text, found the number {value}; YAML reads unquoted digits as a "
                'number, so write the value in quotes as you mean it (e.g. "0012", not 0012)'
            )
        return f"expected text, found {_describe(value)}"
    plain = {
        "list_type": "expected a list",
        "tuple_type": "expected a list",
        "dict_type": "expected a mapping (key: value)",
        "model_type": "expected a mapping (key: value)",
        "model_attributes_type": "expected a mapping (key: value)",
        "int_type": "expected a whole number",
        "int_parsing": "expected a whole number",
        "int_from_float": "expected a whole number",
        "float_type": "expected a number",
        "float_parsing": "expected a number",
        "bool_type": "expected true or false",
        "bool_parsing": "expected true or false",
    }
    if kind in plain:
        return f"{plain[kind]}, found {_describe(value)}"
    if kind == "too_long" and "max_length" in ctx:
        return f"at most {ctx['max_length']} allowed, found {ctx.get('actual_length', 'more')}"
    if kind == "too_short" and "min_length" in ctx:
        return f"at least {ctx['min_length']} needed, found {ctx.get('actual_length', 'fewer')}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind == "literal_error" and "expected" in ctx:
        return f"expected one of {ctx['expected']}"
    if kind in {"value_error", "assertion_error"}:
        return re.sub(r"^(Value|Assertion) error, ", "", msg)
    return msg[:1].lower() + msg[1:]


def _describe(value: Any) -> str:
    if value is None:
        return "nothing (empty value)"
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, int | float):
        return f"the number {value}"
    text = str(value)
    return f"'{text[:40]}…'" if len(text) > 40 else f"'{text}'"


def _known_keys(model: type[BaseModel], loc: Loc) -> list[str]:
    """Field names of the model reached by `loc`, for "did you mean" hints."""
    current: Any = model
    for part in loc:
        current = _step(current, part)
        if current is None:
            return []
    target = _model_in(current)
    if target is None:
        return []
    return [f.alias or name for name, f in target.model_fields.items()]


def _step(tp: Any, part: str | int) -> Any:
    target = _model_in(tp)
    if target is not None:
        field = target.model_fields.get(str(part))
        if field is None:
            for f in target.model_fields.values():
                if f.alias == part:
                    field = f
            if field is None:
                return None
        return field.annotation
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (dict, Mapping) and len(args) == 2:
        return args[1]
    if origin in (list, tuple, Sequence) and args:
        return args[0]
    if origin in (typing.Union, types.UnionType):
        for arg in args:
            stepped = _step(arg, part)
            if stepped is not None:
                return stepped
    if origin is typing.Annotated:
        return _step(args[0], part)
    return None


def _model_in(tp: Any) -> type[BaseModel] | None:
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return tp
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType, typing.Annotated):
        for arg in typing.get_args(tp):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
