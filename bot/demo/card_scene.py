"""The demo's till card: the operator runs `codes sync`, the store prints its till card,
and 王丽 scans the printed card, so her welcome starts from paper as it does in a shop.

Everything goes through the real paths: `bot.codes.cli.sync` makes the codes in the
simulated WeCom, `bot.cards` prints the card from the QR image WeCom serves, and the
simulator's phone reads the QR off the printed PNG before the customer "scans" it.
"""

from __future__ import annotations

import asyncio
import io
from dataclasses import dataclass
from pathlib import Path

from bot.app import BotRuntime
from bot.cards.cli import make_cards
from bot.cards.model import SIZES
from bot.cards.recorded import store_cards
from bot.codes import recorded_codes
from bot.codes.cli import sync
from bot.config import Secrets, Settings
from bot.i18n import t
from bot.media.fetch import qr_fetcher
from bot.simulator.phone import read_qr

__all__ = ["PrintedCards", "print_till_card"]

STORE, CHANNEL = "0012", "store-counter"


@dataclass
class PrintedCards:
    """What the demo printed and what a phone reads off it."""

    card: Path | None = None
    scanned: str = ""  # the QR's content, as the phone read it off the card
    join_code: str = ""  # the store's 「加入群聊」 QR content, read off its picture


async def print_till_card(runtime: BotRuntime, settings: Settings, secrets: Secrets,
                          workdir: Path, printed: PrintedCards) -> None:
    """`codes sync`, then 天钥桥路店's till card; fills `printed`."""
    out = io.StringIO()
    code = await sync(settings, secrets, dry_run=False, prune=False, out=out)
    head = t("codes.plan", create="", update="", unchanged="", orphan="", orphans="")
    head = head[:head.index(" ")]  # "plan:" / "计划：新建", in the operator's language
    plan = next((line for line in out.getvalue().splitlines() if line.startswith(head)), "")
    print(f"           codes sync → exit {code}; {plan}")
    services = runtime.services
    assert services is not None  # the bot has started
    [card] = [c for c in await store_cards(services.db, services.channels, [STORE])
              if c.channel == CHANNEL]
    fetch = qr_fetcher(settings.wecom.api_base_url)
    written = await make_cards([card], workdir / "cards", fetch, [SIZES[0]])
    printed.card = next(p for p in written if p.suffix == ".png")
    printed.scanned = await asyncio.to_thread(read_qr, printed.card)
    [join] = await recorded_codes(services.db, store=STORE, channel="门店福利群")
    printed.join_code = await asyncio.to_thread(read_qr, await fetch(join.qr_code))
    print(f"           打印台卡 {printed.card.name} ({printed.card.parent})，"
          f"卡上二维码：{printed.scanned}")
