"""A customer's phone camera: reads the QR code off a picture, as WeChat's scanner does.

The demo prints a store's till card and "scans" the printed file, so the code a customer
reaches is the one on paper, not one the script already knew. zxing-cpp is the decoder
(the same one the tests use to check printed cards).
"""

from __future__ import annotations

import io
from pathlib import Path

import zxingcpp
from PIL import Image

__all__ = ["read_qr"]


def read_qr(picture: Path | bytes) -> str:
    """The text of the one QR code in `picture` (a PNG/JPG file or its bytes)."""
    source = io.BytesIO(picture) if isinstance(picture, bytes) else picture
    with Image.open(source) as image:
        found = zxingcpp.read_barcodes(image)
    if len(found) != 1:
        raise ValueError(f"expected one QR code in the picture, found {len(found)}")
    return str(found[0].text)
