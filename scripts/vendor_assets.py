"""Vendor Apache ECharts into bot/console/static/ from the npm registry, checked.

Why vendored: the console must draw its charts without a CDN at run time (stores' networks,
an intranet deployment, a CSP of 'self'). The pinned tarball is downloaded from
registry.npmjs.org, its sha512 compared with the integrity npm publishes for that version
(pinned here, so a changed tarball is refused), and only ``dist/echarts.min.js`` (and the
licence) is kept. The result is committed; run this again to change the version:

    python scripts/vendor_assets.py            # fetch, check, write
    python scripts/vendor_assets.py --check    # is the committed file the pinned one?
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import sys
import tarfile
import urllib.request
from pathlib import Path

VERSION = "5.5.1"
TARBALL = f"https://registry.npmjs.org/echarts/-/echarts-{VERSION}.tgz"
INTEGRITY = ("sha512-Fce8upazaAXUVUVsjgV6mBnGuqgO+JNDlcgF79Dksy4+wgGpQB2lmYoO4TSweFg/"
             "mZITdpGHomw/cNBJZj1icA==")
STATIC = Path(__file__).resolve().parent.parent / "bot" / "console" / "static"
KEEP = {"package/dist/echarts.min.js": "echarts.min.js", "package/LICENSE": "echarts.LICENSE"}
STAMP = STATIC / "echarts.version"


def fetch() -> bytes:
    with urllib.request.urlopen(TARBALL, timeout=60) as answer:
        data: bytes = answer.read()
    algorithm, _, expected = INTEGRITY.partition("-")
    digest = base64.b64encode(hashlib.new(algorithm, data).digest()).decode()
    if digest != expected:
        raise SystemExit(f"{TARBALL}: integrity mismatch ({algorithm}-{digest}), refused")
    return data


def unpack(data: bytes) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member, name in KEEP.items():
            extracted = tar.extractfile(member)
            if extracted is None:
                raise SystemExit(f"{member} missing from {TARBALL}")
            found[name] = extracted.read()
    return found


def stamp(files: dict[str, bytes]) -> str:
    digest = hashlib.sha256(files["echarts.min.js"]).hexdigest()
    return f"echarts {VERSION} {INTEGRITY} echarts.min.js sha256:{digest}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare, write nothing")
    args = parser.parse_args(argv)
    if args.check:
        current = (STATIC / "echarts.min.js").read_bytes()
        ok = STAMP.read_text().endswith(f"sha256:{hashlib.sha256(current).hexdigest()}\n")
        print("echarts.min.js matches its stamp" if ok else "echarts.min.js was changed")
        return 0 if ok and f" {VERSION} " in STAMP.read_text() else 1
    files = unpack(fetch())
    STATIC.mkdir(parents=True, exist_ok=True)
    for name, content in files.items():
        (STATIC / name).write_bytes(content)
    STAMP.write_text(stamp(files))
    size = len(files["echarts.min.js"])
    print(f"wrote {STATIC}/echarts.min.js ({size:,} bytes), echarts {VERSION}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
