"""``python -m bot codes cards [--store ID] [--channel NAME] --out DIR``: print-ready cards.

For every recorded code (made by ``codes sync``) and every size (台卡, 外卖卡, 海报) it writes
``<store>-<channel>-<size>.png`` and ``.pdf`` into DIR, with the QR image WeCom serves for
the code. Nothing is sent to customers; the only calls are the QR image downloads.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence
from pathlib import Path

from bot.cards.draw import CardFontMissing, draw_card, find_font, save_card
from bot.cards.model import SIZES, CardCode, CardSize, CodeSource
from bot.cards.recorded import recorded_source
from bot.config import ConfigError, load_settings
from bot.media.fetch import Fetch, QrFetchError, qr_fetcher

__all__ = ["add_cards_command", "make_cards", "run_cards"]


def add_cards_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cards = commands.add_parser("cards", help="print-ready QR cards per store and channel")
    cards.add_argument("--store", help="only this store (4-digit id)")
    cards.add_argument("--channel", help="only this channel (name in channels.yaml)")
    cards.add_argument("--size", choices=[s.name for s in SIZES], action="append",
                       help="only these sizes (default: all three)")
    cards.add_argument("--out", type=Path, required=True, help="folder to write the cards to")
    cards.add_argument("--config", type=Path, help="TOML settings file")


async def make_cards(codes: Sequence[CardCode], out: Path, fetch: Fetch,
                     sizes: Sequence[CardSize] = SIZES) -> list[Path]:
    """Every card of every code, written to `out`; the files written, PNG then PDF."""
    font = find_font()
    await asyncio.to_thread(out.mkdir, parents=True, exist_ok=True)
    written: list[Path] = []
    for code in codes:
        qr_png = await fetch(code.qr_url)
        for size in sizes:
            card = draw_card(code, qr_png, size, font)
            written.extend(save_card(card, size, out / f"{code.store_id}-{code.channel}-"
                                                      f"{size.name}"))
    return written


def run_cards(args: argparse.Namespace, source: CodeSource | None = None,
              fetch: Fetch | None = None) -> int:
    """The command: 0 with the files listed, 1 when nothing was made, 2 on a setup error.
    `source` and `fetch` default to the recorded codes and an HTTP download."""
    try:
        settings = load_settings(args.config)
        source = source or recorded_source(settings)
        fetch = fetch or qr_fetcher(settings.wecom.api_base_url)
        codes = source(args.store, args.channel)
    except (RuntimeError, ValueError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if not codes:
        print("no codes recorded for that store/channel: run `python -m bot codes sync` "
              "first", file=sys.stderr)
        return 1
    sizes = [s for s in SIZES if not args.size or s.name in args.size]
    try:
        written = asyncio.run(make_cards(codes, args.out, fetch, sizes))
    except (CardFontMissing, QrFetchError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    print(f"{len(codes)} codes, {len(written)} files in {args.out}")
    return 0
