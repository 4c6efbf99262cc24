"""State patterns: what a channel's ``match`` entries accept, and ``{name}`` substitutions.

Kept apart from the file models and the book because both use them: the models check every
pattern while validating channels.yaml, and the compiled channels match and substitute with
them on the hot path.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

_CAPTURE_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


@dataclass(frozen=True, slots=True)
class StatePattern:
    """One compiled ``match`` entry."""

    source: str
    regex: re.Pattern[str] | None  # None: an exact state
    captures: tuple[str, ...]


def compile_pattern(source: str) -> StatePattern:
    """Compile a ``match`` entry; raises ValueError with an operator-readable reason.

    ``{name}`` captures one dash-separated segment (``[^-]+``); ``*`` matches anything,
    including nothing; every other character is literal. Without either it is an exact state.
    """
    if not source:
        raise ValueError("match pattern must not be empty")
    regex = ""
    captures: list[str] = []
    previous_wild = False
    i = 0
    while i < len(source):
        char = source[i]
        if char == "{":
            end = source.find("}", i)
            if end < 0:
                raise ValueError(f"'{{' without a closing '}}' in pattern {source!r}")
            name = source[i + 1 : end]
            _check_capture(source, name, captures, previous_wild)
            captures.append(name)
            regex += f"(?P<{name}>[^-]+)"
            previous_wild = True
            i = end + 1
            continue
        if char == "}":
            raise ValueError(f"'}}' without an opening '{{' in pattern {source!r}")
        if char == "*":
            if previous_wild:
                raise _ambiguous(source)
            regex += ".*"
            previous_wild = True
        else:
            regex += re.escape(char)
            previous_wild = False
        i += 1
    is_pattern = bool(captures) or "*" in source
    return StatePattern(source, re.compile(regex) if is_pattern else None, tuple(captures))


def _check_capture(source: str, name: str, captures: list[str], previous_wild: bool) -> None:
    """Refuse a ``{name}`` capture that could not be bound to one segment of one name."""
    if not _CAPTURE_NAME.fullmatch(name):
        raise ValueError(
            f"bad capture '{{{name}}}' in pattern {source!r}: names use a-z, 0-9 and _"
        )
    if name in captures:
        raise ValueError(f"capture '{{{name}}}' appears twice in pattern {source!r}")
    if name.startswith("store_"):
        raise ValueError(f"capture '{{{name}}}': names starting store_ are reserved")
    if previous_wild:
        raise _ambiguous(source)


def _ambiguous(source: str) -> ValueError:
    return ValueError(
        f"pattern {source!r} is ambiguous: put a literal (e.g. '-') between captures and '*'"
    )


def check_pattern(value: str) -> str:
    """A pydantic validator: the entry if it compiles, else the ValueError of `compile_pattern`."""
    compile_pattern(value)
    return value


class Subst:
    """A ``{name}`` substitution (store ids, tag names), parsed once at load time."""

    __slots__ = ("names", "parts", "source")

    def __init__(self, source: str) -> None:
        self.source = source
        self.parts: list[tuple[bool, str]] = []  # (is_variable, text)
        last = 0
        for found in _PLACEHOLDER.finditer(source):
            if found.start() > last:
                self.parts.append((False, source[last : found.start()]))
            self.parts.append((True, found.group(1)))
            last = found.end()
        if last < len(source):
            self.parts.append((False, source[last:]))
        self.names = tuple(text for is_var, text in self.parts if is_var)

    def __call__(self, values: Mapping[str, str]) -> str:
        if not self.names:
            return self.source
        return "".join(values[text] if is_var else text for is_var, text in self.parts)
