"""The operators' language: every message an operator or store staff reads, by key.

Operators edit the files and read `sop check`, `replies check` and the other checks in
Chinese; the English catalog is for the developers and for those who set
``[operator] language = "en"`` (or ``BOT_OPERATOR_LANGUAGE=en``). A message is a key and
named fields (``t("sop.undefined_variable", name="store_nmae", hint=...)``); both catalogs
hold every key with the same fields (tests/i18n checks it, and that every key used in
``bot/`` is in them).

The language is one per process: `bot.config.load_settings` sets it from the settings;
before that it is ``BOT_OPERATOR_LANGUAGE`` or Chinese.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from bot.i18n.en import MESSAGES as EN
from bot.i18n.zh import MESSAGES as ZH

__all__ = ["CATALOGS", "DEFAULT_LANGUAGE", "LANGUAGES", "LANGUAGE_ENV", "current_language",
           "set_language", "speaking", "t"]

CATALOGS: Mapping[str, Mapping[str, str]] = {"zh": ZH, "en": EN}
LANGUAGES = tuple(CATALOGS)
DEFAULT_LANGUAGE = "zh"
LANGUAGE_ENV = "BOT_OPERATOR_LANGUAGE"  # overrides [operator] language

_chosen: str | None = None  # set from the settings; None: the environment, else Chinese


def current_language() -> str:
    """The language messages are written in now."""
    if _chosen is not None:
        return _chosen
    env = os.environ.get(LANGUAGE_ENV, "").strip().lower()
    return env if env in CATALOGS else DEFAULT_LANGUAGE


def set_language(language: str | None) -> None:
    """Use `language` ("zh" or "en") from now on; None goes back to the environment."""
    if language is not None and language not in CATALOGS:
        raise ValueError(f"unknown language {language!r} (known: {', '.join(LANGUAGES)})")
    global _chosen
    _chosen = language


@contextmanager
def speaking(language: str) -> Iterator[None]:
    """Messages in `language` inside the block (tests, and a command's --language)."""
    before = _chosen
    set_language(language)
    try:
        yield
    finally:
        set_language(before)


def t(key: str, /, **fields: Any) -> str:
    """The message `key` in the current language with its named fields filled in.

    A key missing from the catalog is a bug the catalog test finds; at run time the key
    itself is shown (with its fields) rather than failing the check that wanted to speak."""
    template = CATALOGS[current_language()].get(key)
    if template is None:
        return key + "".join(f" {name}={value}" for name, value in fields.items())
    return template.format(**fields)
