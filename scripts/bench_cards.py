"""How long printing cards takes: per card and size, and for a whole chain.

`python -m bot codes cards` draws every code in three sizes (PNG + PDF each). This draws
`--codes` codes from one QR image (no network: the download is a separate, parallel cost)
and prints the time per code and size, the bytes written, and what a chain of `--stores`
stores with `--channels` channels each would take on this machine.

    .venv/bin/python scripts/bench_cards.py --codes 10 --stores 10000 --channels 2
"""

from __future__ import annotations

import argparse
import asyncio
import io
import tempfile
import time
from pathlib import Path

import segno

from bot.cards.cli import make_cards
from bot.cards.model import SIZES, CardCode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--codes", type=int, default=10)
    parser.add_argument("--stores", type=int, default=10_000)
    parser.add_argument("--channels", type=int, default=2)
    args = parser.parse_args()
    buf = io.BytesIO()
    segno.make("https://work.weixin.qq.com/ca/cawcde0012counter5a1b", error="m").save(
        buf, kind="png", scale=6, border=4)
    qr = buf.getvalue()

    async def fetch(url: str) -> bytes:
        return qr

    codes = [CardCode(f"{i:04d}", "天钥桥路店", "store-counter", "扫码加店长，送5元无门槛券", "x")
             for i in range(args.codes)]
    with tempfile.TemporaryDirectory() as tmp:
        for size in SIZES:
            start = time.perf_counter()
            written = asyncio.run(make_cards(codes, Path(tmp) / size.name, fetch, [size]))
            per_code = (time.perf_counter() - start) / args.codes
            size_bytes = sum(p.stat().st_size for p in written) / args.codes
            print(f"{size.label} {size.name:8} {size.width_mm}x{size.height_mm} mm: "
                  f"{per_code * 1000:7.1f} ms and {size_bytes / 1024:6.0f} KB per code "
                  f"(PNG + PDF)")
            total = per_code * args.stores * args.channels
            print(f"    {args.stores} stores x {args.channels} channels: {total / 60:.1f} min "
                  "on one core")


if __name__ == "__main__":
    main()
