"""Cards from the codes `codes sync` recorded (bot.codes.recorded_codes).

The card line is the channel's ``card_line`` in channels.yaml, read at print time so an
edited line is printed without a new sync. A store's 「加入群聊」 join code is printed with
the group's line; group welcome templates are not codes and print nothing.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from bot.cards.model import CardCode, CodeSource
from bot.channels import ChannelBook
from bot.codes import RecordedCode, recorded_codes
from bot.config import Settings
from bot.db.engine import Database

GROUP_LINE = "扫码进门店福利群，每天限时秒杀"
CHAIN = "chain"  # the file-name part of a chain-wide code (no store)


def as_cards(recorded: Iterable[RecordedCode], channels: ChannelBook) -> list[CardCode]:
    """The printable ones of `recorded`, each with its line."""
    cards: list[CardCode] = []
    for code in recorded:
        if code.kind == "join":
            line = GROUP_LINE
        elif code.kind == "contact":
            line = channels.card_line(code.channel)
        else:
            continue
        cards.append(CardCode(code.store_id or CHAIN, code.store_name, code.channel, line,
                              code.qr_code))
    return cards


async def store_cards(db: Database, channels: ChannelBook, store_ids: Iterable[str]
                      ) -> list[CardCode]:
    """The cards of these stores (for the `二维码` app command)."""
    out: list[CardCode] = []
    for store_id in store_ids:
        out.extend(as_cards(await recorded_codes(db, store=store_id), channels))
    return out


def recorded_source(settings: Settings) -> CodeSource:
    """A `CodeSource` over the database and channels.yaml these settings name."""
    from bot.operator_books import load_operator_files

    _, channels = load_operator_files(settings)

    def source(store: str | None, channel: str | None) -> list[CardCode]:
        async def read() -> list[RecordedCode]:
            db = Database(settings.database.url)
            try:
                return await recorded_codes(db, store=store, channel=channel)
            finally:
                await db.close()

        return as_cards(asyncio.run(read()), channels)

    return source
