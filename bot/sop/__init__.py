"""Daily group SOPs (issue 3): what goes out to which customer groups, when, and in what words.

Operators describe SOPs in YAML under `sop/` (daily.yaml, weekly.yaml, ...; robots.yaml,
groups.yaml, data/*.yaml) with Jinja templates under `templates/sop/`; docs/sop.md is their
guide. This package loads and checks those files (`SopBook.load`), says when each SOP fires
(`Schedule`, with APScheduler triggers), which groups it reaches (`SopBook.select_groups`
over `GroupRow`s from `load_groups`) and what it says (`SopBook.render`). Sending, quotas and
records are the outbox's business; this package never talks to WeCom.

Modules: `spec` (file schemas), `model` (compiled values), `schedule` and `cron` (times and
triggers), `group_tags` (group rows and group tags), `robots` (webhook robots), `datafiles`
(per-store data), `compile` (spec → `Sop`), `checks` (load-time render checks), `book` (the
whole), `preview` and `cli` (``python -m bot sop check|preview``; ``report`` is the outbox's).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.sop.book import (
        GroupSelect,
        MemberSelect,
        Sop,
        SopBook,
        SopError,
        SopMessage,
        TagRef,
        sop_files,
    )
    from bot.sop.group_tags import GroupRow, GroupTags, load_groups, nominal_groups, read_groups
    from bot.sop.robots import Robot, RobotKeyMissing
    from bot.sop.schedule import Schedule, SopTrigger, parse_cron

# Imported on first use: `python -m bot run` imports bot.sop.commands for its parser, and a
# restart should not wait for the SOP book's modules (docs/capacity.md).
_WHERE = {
    **dict.fromkeys(("GroupSelect", "MemberSelect", "Sop", "SopBook", "SopError", "SopMessage",
                     "TagRef", "sop_files"), "bot.sop.book"),
    **dict.fromkeys(("GroupRow", "GroupTags", "load_groups", "nominal_groups", "read_groups"),
                    "bot.sop.group_tags"),
    **dict.fromkeys(("Robot", "RobotKeyMissing"), "bot.sop.robots"),
    **dict.fromkeys(("Schedule", "SopTrigger", "parse_cron"), "bot.sop.schedule"),
}


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'bot.sop' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


__all__ = [
    "GroupRow",
    "GroupSelect",
    "GroupTags",
    "MemberSelect",
    "Robot",
    "RobotKeyMissing",
    "Schedule",
    "Sop",
    "SopBook",
    "SopError",
    "SopMessage",
    "SopTrigger",
    "TagRef",
    "load_groups",
    "nominal_groups",
    "parse_cron",
    "read_groups",
    "sop_files",
]
