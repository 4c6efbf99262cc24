"""What an operator's check command prints: the settings it runs with, and every problem.

`replies check`, `sop check` and `sop report` read the same settings and report the same way
(every problem as ``file:line:col: reason``, each once, in file order, then how many there
are), so an operator reads one format whichever file they edited. This module is that format,
in the operators' language (`bot.i18n`).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from bot.books.errors import OperatorFileError, OperatorFileErrors
from bot.config import ConfigError, Settings, load_settings
from bot.i18n import t

__all__ = ["print_check_failure", "print_problems", "print_warning", "settings_for_check"]


def settings_for_check(config: Path | None, out: TextIO) -> Settings | None:
    """The settings in `config` (the defaults without one); None once the error is printed."""
    try:
        return load_settings(config) if config is not None else Settings()
    except ConfigError as exc:
        print(t("check.error", detail=exc), file=out)
        return None


def print_problems(errors: Iterable[OperatorFileError], out: TextIO,
                   notes: Iterable[str] = ()) -> int:
    """Every error as file:line:col, then each note (a problem in no file) as ``error: ...``;
    returns how many problems were printed."""
    found = OperatorFileErrors(errors)
    for error in found:
        print(error, file=out)
    count = len(found)
    for note in notes:
        print(t("check.error", detail=note), file=out)
        count += 1
    return count


def print_check_failure(errors: Iterable[OperatorFileError], out: TextIO,
                        notes: Iterable[str] = ()) -> int:
    """`print_problems`, then the count and what to do; returns the check's exit code, 1."""
    count = print_problems(errors, out, notes)
    print(t("check.fix_and_rerun", count=count, s="s" if count != 1 else ""), file=out)
    return 1


def print_warning(warning: object, out: TextIO) -> None:
    """A problem that does not stop the files from loading, as ``warning: ...``."""
    print(t("check.warning", detail=warning), file=out)
