"""Draw the demo pictures the shipped files name (sop/images/), and point the files at them.

WeCom shows only pictures it hosts, so the shipped SOPs, channels and data files name local
files that the bot uploads once (bot/media/) instead of outside URLs. This script made
them: a small card per product, flash sale, banner and store group (a few KB each, drawn
with Pillow in the chain's fruit colours, with the Chinese name on it). The group cards
carry a real QR code of the store's group invitation page (segno, a test dependency).

    .venv/bin/python scripts/make_demo_images.py          # rewrite sop/images/ and the files
"""

from __future__ import annotations

import hashlib
import io
import re
from pathlib import Path

import segno
from PIL import Image, ImageDraw, ImageFont

from bot.cards.draw import find_font

REPO = Path(__file__).resolve().parent.parent
SOP = REPO / "sop"
OUTSIDE = re.compile(r"https://img\.guotian\.example/([\w/.-]+)\.(?:jpg|png)")
COLOURS = [(242, 140, 40), (230, 57, 70), (255, 202, 58), (106, 176, 76), (142, 68, 173),
           (52, 152, 219), (255, 127, 80), (46, 204, 113)]
NAMES = {
    "banners/stores": "附近门店 · 福利群", "banners/fruit-day": "周二水果日",
    "banners/kids-fruit": "周末亲子水果课", "banners/member-day": "会员日 · 专享价",
}


def _label(path: str, text: str) -> str:
    """The Chinese name next to the photo in its YAML (name:/product:), else a fallback."""
    if path in NAMES:
        return NAMES[path]
    if path.startswith("group-qr/"):
        return f"门店福利群 {path.rsplit('/', 1)[1]}"
    before = text[:text.index(path)]
    found = re.findall(r"(?:name|product):\s*(.+)", before)
    return found[-1].strip() if found else "果田鲜生"


def draw(label: str, path: str, font_path: Path) -> bytes:
    digest = hashlib.sha256(path.encode()).digest()
    colour = COLOURS[digest[0] % len(COLOURS)]
    image = Image.new("RGB", (480, 320), colour)
    pen = ImageDraw.Draw(image)
    pen.ellipse((300, 40, 460, 200), fill=tuple(min(255, c + 50) for c in colour))
    if path.startswith("group-qr/"):
        buf = io.BytesIO()
        store = path.rsplit("/", 1)[1]
        segno.make(f"https://work.weixin.qq.com/gm/demo-{store}", error="m").save(
            buf, kind="png", scale=5, border=2)
        qr = Image.open(buf).convert("RGB")
        image.paste(qr, (480 - qr.width - 20, 320 - qr.height - 20))
    font = ImageFont.truetype(str(font_path), 40)
    small = ImageFont.truetype(str(font_path), 22)
    pen.text((28, 200), label, font=font, fill=(255, 255, 255))
    pen.text((28, 260), "果田鲜生", font=small, fill=(255, 255, 255))
    out = io.BytesIO()
    image.quantize(64).save(out, "PNG", optimize=True)
    return out.getvalue()


def main() -> None:
    font_path = find_font()
    files = [*SOP.glob("*.yaml"), *SOP.glob("data/*.yaml")]
    for file in files:
        text = file.read_text(encoding="utf-8")
        for match in OUTSIDE.finditer(text):
            path = match.group(1)
            target = SOP / "images" / f"{path}.png"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(draw(_label(path, text), path, font_path))
        file.write_text(OUTSIDE.sub(lambda m: f"images/{m.group(1)}.png", text),
                        encoding="utf-8")
    total = sum(p.stat().st_size for p in (SOP / "images").rglob("*.png"))
    print(f"{len(list((SOP / 'images').rglob('*.png')))} pictures, {total:,} bytes")


if __name__ == "__main__":
    main()
