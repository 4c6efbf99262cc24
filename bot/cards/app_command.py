"""``二维码`` in the bot app: a store manager gets their store's codes back as card images.

A manager who lost the till card, or wants to send the code to a customer, asks the bot
rather than head office. The store directory (sop/stores.yaml) says which stores the member
manages; each of their codes comes back as the till card (QR, store name, channel line),
uploaded with media/upload (cached by content: asking twice in 3 days uploads nothing).
Anyone else gets a short text saying why not.
"""

from __future__ import annotations

import asyncio
import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING

from bot.cards.model import SIZES, CardCode
from bot.cards.recorded import store_cards
from bot.i18n import t
from bot.media.fetch import QrFetchError, qr_fetcher
from bot.wecom.errors import WeComError

if TYPE_CHECKING:
    from PIL import Image

    from bot.services import Services

log = logging.getLogger(__name__)

__all__ = ["QR_COMMAND", "answer_qr", "is_qr_command"]

QR_COMMAND = "二维码"
_TILL = SIZES[0]


def is_qr_command(text: str) -> bool:
    return text.strip().lower() in (QR_COMMAND, "qr", "qrcode")


async def answer_qr(services: Services, userid: str) -> int:
    """Send `userid` their stores' cards (the codes `codes sync` recorded); the number of
    images sent."""
    messenger = services.app_messenger
    fetch = qr_fetcher(services.settings.wecom.api_base_url)
    stores = services.stores.by_manager(userid)
    if not stores:
        await messenger.send_text(userid, t("app.qr.not_a_manager"))
        return 0
    found = await store_cards(services.db, services.channels, [s.id for s in stores])
    if not found:
        names = t("app.list_sep").join(s.name for s in stores)
        await messenger.send_text(userid, t("app.qr.no_codes", stores=names))
        return 0
    if services.media is None:
        log.error("二维码 for %s: no media cache to upload the cards with", userid)
        return 0
    from bot.cards.draw import find_font  # Pillow: not for every start (docs/capacity.md)

    font: Path = find_font()
    sent = 0
    for code in found:
        try:  # one card that cannot be made must not stop (or, retried, repeat) the others
            qr_png = await fetch(code.qr_url)
            # a few hundred ms of drawing and encoding: not on the loop the callbacks use
            card = await asyncio.to_thread(_card_png, code, qr_png, font)
            media_id = await services.media.media_id(card, f"{code.store_id}-{code.channel}.png")
        except (QrFetchError, WeComError, ValueError) as exc:
            log.error("二维码 for %s: card %s/%s not made: %s", userid, code.store_id,
                      code.channel, exc)
            continue
        sent += await messenger.send_image(userid, media_id)
    if not sent:
        await messenger.send_text(userid, t("app.qr.failed"))
    return sent


def _card_png(code: CardCode, qr_png: bytes, font: Path) -> bytes:
    from bot.cards.draw import draw_card

    card: Image.Image = draw_card(code, qr_png, _TILL, font)
    buf = io.BytesIO()
    card.save(buf, "PNG", optimize=True)
    return buf.getvalue()
