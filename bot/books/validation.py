"""Checking loaded operator files against pydantic models, in words an operator understands.

Every schema error becomes an `OperatorFileError` at the node it is about, with a reason
written for shop staff ("expected text, found the number 12; ..."), not pydantic's own text.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from bot.books.errors import OperatorFileError, OperatorFileErrors
from bot.books.positions import Loc, error_at, format_loc, node_at

__all__ = ["OperatorModel", "validate", "validate_part"]

M = TypeVar("M", bound=BaseModel)


class OperatorModel(BaseModel):
    """Base for models of operator files: unknown keys are errors, values never change.

    ``extra="forbid"`` turns a typo such as ``tagz:`` into an error instead of a silently
    ignored key; ``frozen`` because a loaded file is shared by every request.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)


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
    try:
        return model.model_validate(node_at(data, loc))
    except ValidationError as exc:
        errors = [
            error_at(path, data, (*loc, *_error_loc(err)), _reason(model, err, data, prefix=loc))
            for err in exc.errors(include_url=False)
        ]
        raise OperatorFileErrors(errors) from None


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
