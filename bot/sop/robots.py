"""Group robots (群机器人) from `sop/robots.yaml`: where a ``via: {robot: ...}`` SOP posts.

A robot's webhook key is a credential: whoever has it can post into the group. So the file
names only the *environment variable* that holds it (``key_env``), and the key is read from
the environment when a message is sent. A missing variable is a warning for ``sop check``
(the file is fine; the machine is not set up yet) and an error for that one send at run time,
never a crash of the bot.

Robots sit in WeCom internal groups (staff, managers); whether they may post into external
customer groups is not confirmed (wecom-reference §4), which is why customer-facing SOPs use
``group_send`` and robots carry staff reminders.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.books.stores import StoreDirectory
from bot.books.yamlfile import OperatorFileError, OperatorFileErrors, error_at, load_model
from bot.i18n import t
from bot.sop.spec import RobotsFile

__all__ = [
    "MAX_MARKDOWN_BYTES",
    "MAX_ROBOT_TEXT_BYTES",
    "Robot",
    "RobotKeyMissing",
    "load_robots",
]

MAX_ROBOT_TEXT_BYTES = 2048  # webhook/send text.content (reference §4)
MAX_MARKDOWN_BYTES = 4096  # webhook/send markdown.content


class RobotKeyMissing(Exception):
    """The environment variable holding a robot's webhook key is not set (a per-send error)."""

    def __init__(self, robot: str, key_env: str) -> None:
        super().__init__(robot, key_env)
        self.robot = robot
        self.key_env = key_env

    def __str__(self) -> str:
        return (
            f"robot '{self.robot}': environment variable {self.key_env} is not set; it must "
            "hold the robot's webhook key (the key=... part of its webhook address)"
        )


@dataclass(frozen=True, slots=True)
class Robot:
    """One robot: how to reach it and how its messages look."""

    name: str
    key_env: str
    chat: str
    format: str  # text | markdown
    mention: tuple[str, ...]  # userids, or ("@all",)
    store_id: str | None = None
    note: str = ""

    @property
    def max_bytes(self) -> int:
        return MAX_MARKDOWN_BYTES if self.format == "markdown" else MAX_ROBOT_TEXT_BYTES

    def key(self, environ: Mapping[str, str] | None = None) -> str:
        """The webhook key from the environment; raises `RobotKeyMissing` when unset."""
        value = (os.environ if environ is None else environ).get(self.key_env, "").strip()
        if not value:
            raise RobotKeyMissing(self.name, self.key_env)
        return value

    def content(self, text: str) -> str:
        """The text as posted: markdown carries its mentions inline as ``<@userid>``."""
        if self.format == "markdown" and self.mention:
            return text + "\n" + " ".join(f"<@{userid}>" for userid in self.mention)
        return text

    def payload(self, text: str) -> dict[str, Any]:
        """The JSON body of ``webhook/send?key=...`` for `text`."""
        if self.format == "markdown":
            return {"msgtype": "markdown", "markdown": {"content": self.content(text)}}
        body: dict[str, Any] = {"content": text}
        if self.mention:
            body["mentioned_list"] = list(self.mention)
        return {"msgtype": "text", "text": body}


def load_robots(
    path: Path, stores: StoreDirectory, *, environ: Mapping[str, str] | None = None
) -> tuple[dict[str, Robot], list[OperatorFileError]]:
    """Robots by name, plus warnings (unset key variables). A missing file means no robots.

    Raises `OperatorFileErrors` for problems in the file itself.
    """
    if not path.exists():
        return {}, []
    data, spec = load_model(path, RobotsFile)
    environ = os.environ if environ is None else environ
    errors: list[OperatorFileError] = []
    warnings: list[OperatorFileError] = []
    robots: dict[str, Robot] = {}
    for name, item in spec.robots.items():
        if item.store is not None and item.store not in stores:
            errors.append(
                error_at(
                    path,
                    data,
                    ("robots", name, "store"),
                    f"robots.{name}.store: " + t("sop.cli.unknown_store", store=item.store),
                )
            )
        if not environ.get(item.key_env, "").strip():
            warnings.append(
                error_at(
                    path,
                    data,
                    ("robots", name, "key_env"),
                    f"robots.{name}.key_env: " + t("robots.key_unset", env=item.key_env),
                )
            )
        robots[name] = Robot(
            name=name,
            key_env=item.key_env,
            chat=item.chat,
            format=item.format,
            mention=tuple(item.mention),
            store_id=item.store,
            note=item.note,
        )
    if errors:
        raise OperatorFileErrors(errors)
    return robots, warnings
