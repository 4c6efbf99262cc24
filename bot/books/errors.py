"""The error an operator sees: one problem at `file:line:col`, or every problem of one check.

Its own module because every operator-file module raises these (loading, positions,
validation, and the books' own semantic checks), and none of them should have to import the
YAML loader to do so.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable
from pathlib import Path

from bot.i18n import t

__all__ = ["OperatorFileError", "OperatorFileErrors"]


class OperatorFileError(Exception):
    """One problem in an operator file, located at a 1-based line and column (0: the line
    only, as for a template, whose compiler knows lines but not columns)."""

    def __init__(self, path: Path | str, line: int, column: int, reason: str) -> None:
        super().__init__(path, line, column, reason)
        self.path = Path(path)
        self.line = line
        self.column = column
        self.reason = reason

    def __str__(self) -> str:
        if not self.column:
            return f"{self.path}:{self.line}: {self.reason}"
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
        head = t("check.problems_in_files", count=count, s="s" if count != 1 else "")
        return "\n".join([head, *(f"  {e}" for e in self.errors)])

    def __iter__(self) -> typing.Iterator[OperatorFileError]:
        return iter(self.errors)

    def __len__(self) -> int:
        return len(self.errors)
