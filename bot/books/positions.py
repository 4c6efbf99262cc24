"""Where a node of an operator file is written: the line and column behind `file:line:col`.

ruamel's round-trip loader keeps the position of every key and item; pydantic reports errors
by location (``("channels", "x", "tags")``). This module turns one into the other, and
writes a location the way an operator reads it (``channels.x.tags``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ruamel.yaml.comments import CommentedMap, CommentedSeq

from bot.books.errors import OperatorFileError

__all__ = ["Loc", "child_position", "error_at", "format_loc", "node_at"]

Loc = Sequence[str | int]


def _own_position(node: Any) -> tuple[int, int] | None:
    lc = getattr(node, "lc", None)
    if lc is None or lc.line is None:
        return None
    return lc.line, lc.col


def child_position(parent: Any, key: Any, *, at_key: bool) -> tuple[int, int]:
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
            position = child_position(node, key, at_key=(at_key or key_error) and last)
            node = node[key]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            position = child_position(node, part, at_key=False)
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



def node_at(data: Any, loc: Loc) -> Any:
    """The node that `loc` names in loaded data (None where the data has no such node)."""
    node = data
    for part in loc:
        node = _child(node, part)
    return node
