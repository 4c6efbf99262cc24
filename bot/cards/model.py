"""What a printed card needs to know, and the print sizes it comes in.

A card is made for one code: one store's QR code of one channel (the till stand of store
0012, the takeout bag of store 0015). The codes themselves are made and recorded by
`python -m bot codes sync` (bot/codes/); cards only read them, through a `CodeSource`, so
the printing does not depend on how codes are stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["SIZES", "CardCode", "CardSize", "CodeSource"]


@dataclass(frozen=True, slots=True)
class CardCode:
    """One code to print: `qr_url` is WeCom's QR image of it (contact way ``qr_code``)."""

    store_id: str
    store_name: str
    channel: str
    line: str  # the channel's card_line: "扫码加店长，送5元无门槛券"
    qr_url: str


class CodeSource(Protocol):
    """The recorded codes, filtered by store id and channel name (None: all)."""

    def __call__(self, store: str | None, channel: str | None) -> list[CardCode]: ...


@dataclass(frozen=True, slots=True)
class CardSize:
    """A print size in millimetres, drawn at `dpi` (300: what print shops ask for)."""

    name: str  # file name part: till, takeout, poster
    label: str  # what staff call it
    width_mm: float
    height_mm: float
    dpi: int = 300

    @property
    def pixels(self) -> tuple[int, int]:
        return (round(self.width_mm / 25.4 * self.dpi), round(self.height_mm / 25.4 * self.dpi))


SIZES: tuple[CardSize, ...] = (
    CardSize("till", "台卡", 100, 140),  # the acrylic till stand (100×140 mm insert)
    CardSize("takeout", "外卖卡", 90, 54),  # business-card size, goes in the takeout bag
    CardSize("poster", "海报", 210, 297),  # A4, shop window and the Tuesday poster
)
