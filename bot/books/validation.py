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
from bot.i18n import t

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
        raise OperatorFileErrors([OperatorFileError(path, 1, 1, t("yaml.empty_file"))])
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            error_at(path, data, _error_loc(err), _reason(model, err, data))
            for err in _one_per_mistake(model, exc.errors(include_url=False))
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
            for err in _one_per_mistake(model, exc.errors(include_url=False))
        ]
        raise OperatorFileErrors(errors) from None


def _one_per_mistake(model: type[BaseModel], errors: list[ErrorDetails]
                     ) -> list[ErrorDetails]:
    """Pydantic's errors without the echo of a misspelt key: ``tempalte:`` is an unknown key
    *and* leaves ``template`` missing; the operator needs only the first ("did you mean
    'template'?"), so a missing key that an unknown key beside it is close to is dropped."""
    unknown: dict[tuple[str | int, ...], list[str]] = {}
    for err in errors:
        if err["type"] == "extra_forbidden" and err["loc"]:
            unknown.setdefault(tuple(err["loc"][:-1]), []).append(str(err["loc"][-1]))
    kept = []
    for err in errors:
        loc = tuple(err["loc"])
        if err["type"] == "missing" and loc and difflib.get_close_matches(
                str(loc[-1]), unknown.get(loc[:-1], []), n=1):
            continue
        kept.append(err)
    return kept


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
                t("hint.did_you_mean", name=close[0])
                if close
                else t("hint.allowed", names=", ".join(sorted(known)))
            )
        return _prefixed((*prefix, *where), t("yaml.unknown_key", key=name, hint=hint), data)
    if kind == "missing":
        return _prefixed((*prefix, *loc[:-1]), t("yaml.missing_key", key=loc[-1]), data)
    return _prefixed((*prefix, *loc), _type_message(kind, ctx, value, err["msg"]), data)


def _prefixed(loc: Loc, message: str, data: Any) -> str:
    where = format_loc(loc, data)
    return f"{where}: {message}" if where else message


def _type_message(kind: str, ctx: dict[str, Any], value: Any, msg: str) -> str:
    if kind == "string_type":
        if isinstance(value, bool):
            return t("yaml.text_not_bool")
        if isinstance(value, int | float):
            return t("yaml.text_not_number", value=value)
        return t("yaml.expected_text", found=_describe(value))
    expected = _expected(kind)
    if expected is not None:
        return t("yaml.expected_found", expected=expected, found=_describe(value))
    if kind == "too_long" and "max_length" in ctx:
        return t("yaml.too_long", limit=ctx["max_length"],
                 found=ctx.get("actual_length", t("yaml.more")))
    if kind == "too_short" and "min_length" in ctx:
        return t("yaml.too_short", limit=ctx["min_length"],
                 found=ctx.get("actual_length", t("yaml.fewer")))
    if kind == "string_too_short":
        return t("yaml.not_empty")
    if kind == "literal_error" and "expected" in ctx:
        return t("yaml.one_of", expected=ctx["expected"])
    if kind in {"value_error", "assertion_error"}:
        return re.sub(r"^(Value|Assertion) error, ", "", msg)
    return msg[:1].lower() + msg[1:]


def _expected(kind: str) -> str | None:
    """What a plain type error expected, in words ("expected a list"), or None."""
    if kind in ("list_type", "tuple_type"):
        return t("yaml.a_list")
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return t("yaml.a_mapping")
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return t("yaml.a_whole_number")
    if kind in ("float_type", "float_parsing"):
        return t("yaml.a_number")
    if kind in ("bool_type", "bool_parsing"):
        return t("yaml.true_or_false")
    return None


def _describe(value: Any) -> str:
    if value is None:
        return t("yaml.nothing")
    if isinstance(value, bool):
        return f"{str(value).lower()}"
    if isinstance(value, Mapping):
        return t("yaml.found_mapping")
    if isinstance(value, list | tuple):
        return t("yaml.found_list")
    if isinstance(value, int | float):
        return t("yaml.the_number", value=value)
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
