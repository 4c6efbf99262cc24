"""Cards from the codes ``codes sync`` recorded (bot.codes.recorded_codes).

The codes package records each code (store, channel, state, qr_url); the card line is the
channel's ``card_line`` in channels.yaml, read here so an edited line is printed without a
new sync. Only `kind` "contact_way" codes (a store manager's 「联系我」) make cards with the
channel's line; a store's 「加入群聊」 join code is printed with the group's line.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bot.cards.model import CardCode, CodeSource
from bot.config import load_settings

GROUP_LINE = "扫码进门店福利群，每天限时秒杀"


def codes_reader() -> Callable[..., Any] | None:
    """bot.codes.recorded_codes(db, store=None, channel=None), or None in a build without
    the codes package (imported by name: cards are printed from whatever records codes)."""
    try:
        module = importlib.import_module("bot.codes")
    except ImportError:
        return None
    reader = getattr(module, "recorded_codes", None)
    return reader if callable(reader) else None


def recorded_source(config: Path | None) -> CodeSource:
    """A `CodeSource` over the database and channels.yaml named by `config`."""
    recorded_codes = codes_reader()
    if recorded_codes is None:
        raise RuntimeError("no recorded codes: this build has no bot.codes (codes sync)")
    from bot.db.engine import Database
    from bot.operator_books import load_operator_files

    settings = load_settings(config)
    _, channels = load_operator_files(settings)

    def source(store: str | None, channel: str | None) -> list[CardCode]:
        async def read() -> list[Any]:
            db = Database(settings.database.url)
            try:
                found = recorded_codes(db, store=store, channel=channel)
                return list(await found if inspect.isawaitable(found) else found)
            finally:
                await db.close()

        return [CardCode(r.store_id, r.store_name, r.channel,
                         channels.card_line(r.channel) if r.kind != "join_way" else GROUP_LINE,
                         r.qr_url)
                for r in asyncio.run(read())]

    return source
