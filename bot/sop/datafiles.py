"""SOP data files (``sop/data/*.yaml``): the material headquarters prepares for every store.

A data file is free-form YAML for templates (products, prices, photos, coupon rules) with
one rule: its top-level keys are ``default`` and store ids. A store's ``data`` is
``default`` with the store's own top-level keys laid over it (shallow: a store that lists its
own ``items`` replaces the default list, and still inherits ``headline``). A store with
neither gets no message from SOPs using the file.

Values are turned into plain Python (dict, list, str, int, float, bool, date) so templates
see ordinary values and ``{{ item.price }}`` prints ``19.9``, not a YAML object.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

from bot.books.stores import STORE_ID_RE, StoreDirectory
from bot.books.yamlfile import (
    OperatorFileError,
    OperatorFileErrors,
    error_at,
    load_yaml,
)
from bot.i18n import t

__all__ = ["DEFAULT_KEY", "SopData", "load_data"]

DEFAULT_KEY = "default"


@dataclass(frozen=True, slots=True)
class SopData:
    """One loaded data file."""

    path: Path
    name: str  # as the SOP names it: data/new_arrivals.yaml
    default: Mapping[str, Any] | None
    stores: Mapping[str, Mapping[str, Any]]
    raw: Any  # ruamel data, so later checks can point at lines

    def for_store(self, store_id: str | None) -> dict[str, Any] | None:
        """The store's data (default merged with its own keys), or None if it has neither."""
        own = self.stores.get(store_id) if store_id is not None else None
        if own is None and self.default is None:
            return None
        merged: dict[str, Any] = dict(self.default or {})
        merged.update(own or {})
        return merged

    def has_store(self, store_id: str | None) -> bool:
        return self.default is not None or (store_id is not None and store_id in self.stores)

    def source_of(self, store_id: str | None) -> tuple[str | int, ...]:
        """Where in the file a store's data starts: its own key, else ``default``."""
        if store_id is not None and store_id in self.stores:
            return (store_id,)
        return (DEFAULT_KEY,)


def load_data(path: Path, name: str, stores: StoreDirectory) -> SopData:
    """Load and check one data file; raises `OperatorFileErrors` with file:line:col."""
    try:
        raw = load_yaml(path)
    except OperatorFileError as exc:
        raise OperatorFileErrors([exc]) from None
    if raw is None:
        raise OperatorFileErrors([OperatorFileError(path, 1, 1, t("yaml.empty_file"))])
    if not isinstance(raw, Mapping):
        raise OperatorFileErrors(
            [OperatorFileError(path, 1, 1, t("data.not_mapping"))]
        )
    errors: list[OperatorFileError] = []
    default: Mapping[str, Any] | None = None
    per_store: dict[str, Mapping[str, Any]] = {}
    for key, value in raw.items():
        problem = _key_problem(key, value, stores)
        if problem is not None:
            errors.append(error_at(path, raw, (key,), problem, at_key=True))
            continue
        plain = MappingProxyType(_plain(value))
        if key == DEFAULT_KEY:
            default = plain
        else:
            per_store[key] = plain
    if errors:
        raise OperatorFileErrors(errors)
    if default is None and not per_store:
        raise OperatorFileErrors([OperatorFileError(path, 1, 1, t("data.nothing"))])
    return SopData(path, name, default, MappingProxyType(per_store), raw)


def _key_problem(key: Any, value: Any, stores: StoreDirectory) -> str | None:
    """What is wrong with one top-level entry of a data file, or None."""
    if not isinstance(key, str):
        if isinstance(key, int):
            return t("data.number_key", key=key)
        return t("data.bad_key", key=repr(key))
    if key != DEFAULT_KEY and not STORE_ID_RE.fullmatch(key):
        return t("data.unknown_key", key=key)
    if key != DEFAULT_KEY and key not in stores:
        return t("data.no_such_store", key=key)
    if not isinstance(value, Mapping):
        return t("data.entry_not_mapping", key=key)
    return None


def _plain(node: Any) -> Any:
    """ruamel's commented maps and scalar subclasses -> plain Python values."""
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_plain(v) for v in node]
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, datetime):
        return datetime.fromisoformat(node.isoformat())
    if isinstance(node, date):
        return date(node.year, node.month, node.day)
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, str):
        return str(node)
    return node
