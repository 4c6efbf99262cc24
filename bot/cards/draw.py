"""Drawing one card: the QR as WeCom made it, the store's name and the channel's line.

The QR image is the one WeCom serves for the code (contact way ``qr_code``), scaled by a
whole number with no smoothing, so every module stays a crisp square a phone reads from
across the counter. Text is drawn in WenQuanYi Micro Hei (Debian's fonts-wqy-microhei,
installed by .ci/run and the Dockerfile): a CJK font is needed, and a missing one is an
error that says what to install, not tofu boxes on 500 printed cards.

A PNG at 300 dpi, and a PDF of one page with the card's exact size in millimetres (Pillow
writes the page from the image and its resolution), which is what a print shop takes.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from bot.cards.model import CardCode, CardSize

__all__ = ["FONT_PATHS", "CardFontMissing", "draw_card", "find_font", "save_card"]

FONT_PATHS = (Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"),
              Path("/usr/share/fonts/wqy-microhei/wqy-microhei.ttc"))
BRAND = (232, 106, 23)  # orange, as the chain's signs
INK = (40, 40, 40)
PAPER = (255, 255, 255)
Font = ImageFont.FreeTypeFont


class CardFontMissing(RuntimeError):
    """No CJK font: cards would print boxes instead of the store's name."""


def find_font() -> Path:
    for path in FONT_PATHS:
        if path.is_file():
            return path
    raise CardFontMissing(
        "no CJK font for the cards: install Debian's fonts-wqy-microhei "
        "(apt-get install fonts-wqy-microhei; .ci/run and the Dockerfile do) "
        f"- looked for {', '.join(str(p) for p in FONT_PATHS)}")


def _fit(draw: ImageDraw.ImageDraw, text: str, font_path: Path, size: int,
         max_width: int) -> Font:
    """The largest font up to `size` px in which `text` fits on one line of `max_width`."""
    while True:
        font = ImageFont.truetype(str(font_path), size)
        if size <= 12 or draw.textlength(text, font=font) <= max_width:
            return font
        size = int(size * 0.9)


def _qr(qr_png: bytes, target: int) -> Image.Image:
    """WeCom's QR image scaled by a whole factor to at most `target` px (nearest pixel)."""
    source = Image.open(io.BytesIO(qr_png)).convert("L")
    factor = max(1, target // max(source.size))
    return source.resize((source.width * factor, source.height * factor),
                         Image.Resampling.NEAREST)


def _centered(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], text: str,
              font: Font, fill: tuple[int, int, int]) -> None:
    left, top, right, bottom = box
    draw.text(((left + right) // 2, (top + bottom) // 2), text, font=font, fill=fill,
              anchor="mm")


def draw_card(code: CardCode, qr_png: bytes, size: CardSize, font_path: Path) -> Image.Image:
    """The card as an RGB image of `size` at its dpi."""
    width, height = size.pixels
    card = Image.new("RGB", (width, height), PAPER)
    draw = ImageDraw.Draw(card)
    margin = round(width * 0.06)
    if width > height:  # the takeout card: QR on the left, words on the right
        qr = _qr(qr_png, height - 2 * margin)
        card.paste(qr, (margin, (height - qr.height) // 2))
        left = margin * 2 + qr.width
        text_box = width - left - margin
        draw.rectangle((left, 0, width, round(height * 0.08)), fill=BRAND)
        name_font = _fit(draw, code.store_name, font_path, round(height * 0.14), text_box)
        line_font = _fit(draw, code.line, font_path, round(height * 0.09), text_box)
        _centered(draw, (left, round(height * 0.2), width - margin, round(height * 0.45)),
                  code.store_name, name_font, INK)
        _centered(draw, (left, round(height * 0.5), width - margin, round(height * 0.8)),
                  code.line, line_font, BRAND)
        return card
    band = round(height * 0.16)
    draw.rectangle((0, 0, width, band), fill=BRAND)
    name_font = _fit(draw, code.store_name, font_path, round(band * 0.5), width - 2 * margin)
    _centered(draw, (0, 0, width, band), code.store_name, name_font, PAPER)
    qr = _qr(qr_png, min(width - 2 * margin, round(height * 0.55)))
    qr_top = band + margin
    card.paste(qr, ((width - qr.width) // 2, qr_top))
    below = qr_top + qr.height
    line_font = _fit(draw, code.line, font_path, round(width * 0.075), width - 2 * margin)
    _centered(draw, (0, below, width, below + round((height - below) * 0.55)), code.line,
              line_font, BRAND)
    hint = "微信扫一扫 · 添加店长企业微信"
    hint_font = _fit(draw, hint, font_path, round(width * 0.04), width - 2 * margin)
    _centered(draw, (0, height - round((height - below) * 0.45), width, height - margin // 2),
              hint, hint_font, INK)
    return card


def save_card(card: Image.Image, size: CardSize, stem: Path) -> tuple[Path, Path]:
    """`stem`.png and `stem`.pdf; the PDF's page is the card's size in mm."""
    png, pdf = stem.with_suffix(".png"), stem.with_suffix(".pdf")
    card.save(png, "PNG", dpi=(size.dpi, size.dpi), compress_level=6)
    card.save(pdf, "PDF", resolution=float(size.dpi))
    return png, pdf
