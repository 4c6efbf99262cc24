"""``python -m bot replies check [DIR]``: the command operators run after editing 话术 files.

Exit 0 with one line per file when the library loads; exit 1 with every problem as
``file:line:col: reason`` otherwise (the same checks the running bot makes before it swaps
a reloaded library in). Templates are rendered for a sample customer with a store, using
the first store of ``stores.yaml`` when it can be found.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path
from typing import TextIO

from bot.books.checks import print_check_failure, settings_for_check
from bot.books.stores import StoreDirectory
from bot.books.yamlfile import OperatorFileErrors
from bot.config import Settings
from bot.i18n import t
from bot.replies.library import ReplyLibrary


def add_replies_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    replies = commands.add_parser("replies", help="check the 话术 library in templates/replies/")
    sub = replies.add_subparsers(dest="replies_command", required=True)
    check_cmd = sub.add_parser("check", help="check every reply file; exit 1 listing all "
                               "problems as file:line:col")
    check_cmd.add_argument("dir", nargs="?", type=Path,
                           help="the replies folder (default: [paths] templates_dir/replies)")
    check_cmd.add_argument("--config", type=Path, help="TOML settings file")


def run_replies_command(args: argparse.Namespace) -> int:
    return check(args.dir, args.config)


def check(folder: Path | None = None, config: Path | None = None, *,
          out: TextIO | None = None) -> int:
    out = out or sys.stdout
    settings = settings_for_check(config, out)
    if settings is None:
        return 1
    folder = folder if folder is not None else settings.paths.templates_dir / "replies"
    if not folder.is_dir():
        print(t("check.error", detail=t("check.folder_not_found", path=folder)), file=out)
        return 1
    stores = _stores(folder, settings)
    try:
        library = ReplyLibrary.load(folder, stores)
    except OperatorFileErrors as exc:
        return print_check_failure(exc, out)
    per_file = Counter(r.path for r in library.replies)
    print(t("replies.ok_categories", path=library.files[0], count=len(library.categories)),
          file=out)
    for path in library.files[1:]:
        print(t("replies.ok_replies", path=path, count=per_file[path]), file=out)
    if stores is None:
        print(t("replies.no_stores"), file=out)
    return 0


def _stores(folder: Path, settings: Settings) -> StoreDirectory | None:
    """stores.yaml from the config, else beside the repository's templates/ folder."""
    for candidate in (settings.paths.sop_dir / "stores.yaml",
                      folder.resolve().parent.parent / "sop" / "stores.yaml"):
        if candidate.is_file():
            try:
                return StoreDirectory.load(candidate)
            except OperatorFileErrors:
                return None  # `sop check` reports it; the replies are checked without it
    return None
