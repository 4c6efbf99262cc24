"""Printed cards: the QR WeCom serves for a code, scanned back off the PNG and the PDF.

The code's QR image is hosted by the simulated WeCom (uploaded with media/uploadimg, served
from its picture host) and downloaded over HTTP like WeCom's ``qr_code`` address; the
cards are decoded with zxing-cpp, as a phone camera would read them.
"""

from __future__ import annotations

import argparse
import io
import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import segno
import zxingcpp
from PIL import Image

from bot.cards import draw
from bot.cards.cli import make_cards, run_cards
from bot.cards.model import SIZES, CardCode
from bot.media.fetch import QrFetchError, fetch_qr
from bot.simulator import Simulator
from bot.wecom.client import WeComClient
from bot.wecom.media import upload_image
from tests.conftest import make_secrets

CODE_URL = "https://work.weixin.qq.com/ca/cawcde0012counter5a1b"  # what a contact way's QR says
POINTS_PER_MM = 72 / 25.4
SECRETS = make_secrets()


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(SECRETS.corp_id, SECRETS.secret, SECRETS.token, SECRETS.aes_key)
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


async def hosted_qr(sim: Simulator, text: str) -> str:
    """A QR image of `text`, hosted by the simulated WeCom: its URL."""
    buf = io.BytesIO()
    segno.make(text, error="m").save(buf, kind="png", scale=6, border=4)
    async with WeComClient(sim.base_url, SECRETS.corp_id, SECRETS.secret) as client:
        return await upload_image(client, buf.getvalue(), "qr.png")


def decoded(image: Image.Image) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(image)]


def pdf_page_mm(pdf: bytes) -> tuple[float, float]:
    box = re.search(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", pdf)
    assert box is not None
    return float(box[1]) / POINTS_PER_MM, float(box[2]) / POINTS_PER_MM


def pdf_image(pdf: bytes) -> Image.Image:
    """The page's picture: the JPEG stream Pillow wrote into the PDF."""
    start = pdf.index(b"/DCTDecode")
    body = pdf.index(b"stream", start) + len(b"stream")
    body += 2 if pdf[body:body + 2] == b"\r\n" else 1
    return Image.open(io.BytesIO(pdf[body:pdf.index(b"endstream", body)]))


async def test_every_size_prints_a_qr_that_scans_to_the_code(sim: Simulator, tmp_path: Path):
    qr_url = await hosted_qr(sim, CODE_URL)
    code = CardCode("0012", "天钥桥路店", "store-counter", "扫码加店长，送5元无门槛券", qr_url)
    written = await make_cards([code], tmp_path / "cards", fetch_qr)
    assert [p.name for p in written] == [
        f"0012-store-counter-{s.name}.{ext}" for s in SIZES for ext in ("png", "pdf")]
    for size in SIZES:
        png = Image.open(tmp_path / "cards" / f"0012-store-counter-{size.name}.png")
        assert png.size == size.pixels
        assert round(png.info["dpi"][0]) == 300
        assert decoded(png) == [CODE_URL]
        pdf = (tmp_path / "cards" / f"0012-store-counter-{size.name}.pdf").read_bytes()
        width, height = pdf_page_mm(pdf)
        assert abs(width - size.width_mm) < 0.3 and abs(height - size.height_mm) < 0.3
        assert decoded(pdf_image(pdf)) == [CODE_URL]  # the PDF carries the same card


async def test_two_stores_get_two_different_cards(sim: Simulator, tmp_path: Path):
    codes = [CardCode(store, name, "takeout-store", "扫码加店长，下次外卖立减3元",
                      await hosted_qr(sim, f"https://work.weixin.qq.com/ca/takeout-{store}"))
             for store, name in (("0012", "天钥桥路店"), ("0015", "长寿路店"))]
    takeout = [s for s in SIZES if s.name == "takeout"]
    await make_cards(codes, tmp_path, fetch_qr, takeout)
    for store in ("0012", "0015"):
        card = Image.open(tmp_path / f"{store}-takeout-store-takeout.png")
        assert decoded(card) == [f"https://work.weixin.qq.com/ca/takeout-{store}"]


async def test_clear_errors_without_font_or_qr(sim: Simulator, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch):
    code = CardCode("0012", "天钥桥路店", "store-counter", "扫码", sim.url + "/pic_wework/1/x/0")
    with pytest.raises(QrFetchError, match="HTTP 404"):
        await make_cards([code], tmp_path, fetch_qr)
    monkeypatch.setattr(draw, "FONT_PATHS", (tmp_path / "nofont.ttc",))
    with pytest.raises(draw.CardFontMissing, match="fonts-wqy-microhei"):
        await make_cards([code], tmp_path, fetch_qr)


def test_the_command_writes_cards_for_the_codes_asked_for(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]):
    buf = io.BytesIO()
    segno.make(CODE_URL, error="m").save(buf, kind="png", scale=6, border=4)
    (tmp_path / "qr.png").write_bytes(buf.getvalue())
    asked: list[tuple[str | None, str | None]] = []

    def source(store: str | None, channel: str | None) -> list[CardCode]:
        asked.append((store, channel))
        return [CardCode("0012", "天钥桥路店", "store-counter", "扫码加店长",
                         (tmp_path / "qr.png").as_uri())]

    args = argparse.Namespace(store="0012", channel="store-counter", size=["till"],
                              out=tmp_path / "out", config=None)
    qr_png = (tmp_path / "qr.png").read_bytes()

    async def read_file(url: str) -> bytes:  # the command's own fetch is HTTP (tested above)
        assert url == (tmp_path / "qr.png").as_uri()
        return qr_png

    assert run_cards(args, source, read_file) == 0
    assert asked == [("0012", "store-counter")]
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "0012-store-counter-till.pdf", "0012-store-counter-till.png"]
    assert "1 codes, 2 files" in capsys.readouterr().out
    assert run_cards(args, lambda store, channel: []) == 1
    assert "codes sync" in capsys.readouterr().err
