"""``python -m bot codes cards [--store ID] [--channel NAME] --out DIR``: print-ready cards.

For every recorded code (made by ``codes sync``) and every size (台卡, 外卖卡, 海报) it writes
``<store>-<channel>-<size>.png`` and ``.pdf`` into DIR, with the QR image WeCom serves for
the code. Nothing is sent to customers; the only calls are the QR image downloads.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from bot.cards.draw import CardFontMissing, draw_card, find_font, save_card
from bot.cards.model import SIZES, CardCode, CardSize, CodeSource
from bot.cards.recorded import recorded_source
from bot.config import REAL_WECOM_API, ConfigError, load_settings

__all__ = ["add_cards_command", "fetch_qr", "make_cards", "run_cards"]

Fetch = Callable[[str], Awaitable[bytes]]
MAX_QR_BYTES = 2 * 1024 * 1024


class QrFetchError(RuntimeError):
    """WeCom's QR image of a code could not be downloaded."""


def add_cards_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    cards = commands.add_parser("cards", help="print-ready QR cards per store and channel")
    cards.add_argument("--store", help="only this store (4-digit id)")
    cards.add_argument("--channel", help="only this channel (name in channels.yaml)")
    cards.add_argument("--size", choices=[s.name for s in SIZES], action="append",
                       help="only these sizes (default: all three)")
    cards.add_argument("--out", type=Path, required=True, help="folder to write the cards to")
    cards.add_argument("--config", type=Path, help="TOML settings file")


def picture_source(url: str, api_base_url: str) -> str:
    """Where to download a WeCom-hosted picture from: the URL itself against the real WeCom;
    against the simulator (any other API base), the same path on the simulator's host, which
    serves WeCom's picture paths (docs/simulator.md)."""
    if api_base_url == REAL_WECOM_API:
        return url
    host = urlsplit(url).hostname or ""
    if not (host == "qpic.cn" or host.endswith(".qpic.cn")):
        return url
    base = urlsplit(api_base_url)
    parts = urlsplit(url)
    return urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))


def qr_fetcher(api_base_url: str) -> Fetch:
    """`fetch_qr` from where this deployment's WeCom serves its pictures."""

    async def fetch(url: str) -> bytes:
        return await fetch_qr(picture_source(url, api_base_url))

    return fetch


async def fetch_qr(url: str, session: aiohttp.ClientSession | None = None) -> bytes:
    """The QR image at `url` (WeCom's qr_code address of a code)."""
    own = session is None
    http = session or aiohttp.ClientSession()
    try:
        async with http.get(url, timeout=aiohttp.ClientTimeout(total=20)) as resp:
            if resp.status != 200:
                raise QrFetchError(f"{url}: HTTP {resp.status}")
            data = await resp.content.read(MAX_QR_BYTES + 1)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise QrFetchError(f"{url}: {type(exc).__name__} {exc}") from exc
    finally:
        if own:
            await http.close()
    if len(data) > MAX_QR_BYTES:
        raise QrFetchError(f"{url}: answer over {MAX_QR_BYTES} bytes, not a QR image")
    return data


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
