"""Downloading a picture WeCom hosts: a code's QR image (``qr_code``) for the printed cards
and for the hosted copy welcomes attach.

Against the real API the URL itself is fetched; against the simulator (any other API
base) the same path on the simulator's host, which serves WeCom's picture paths
(docs/simulator.md). Answers are capped: a QR image is a few kB, never megabytes.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from bot.config import REAL_WECOM_API

__all__ = ["MAX_QR_BYTES", "Fetch", "QrFetchError", "fetch_qr", "picture_source",
           "qr_fetcher"]

Fetch = Callable[[str], Awaitable[bytes]]
MAX_QR_BYTES = 2 * 1024 * 1024


class QrFetchError(RuntimeError):
    """WeCom's QR image of a code could not be downloaded."""


def picture_source(url: str, api_base_url: str) -> str:
    """Where to download a WeCom-hosted picture from (see the module's docstring)."""
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
