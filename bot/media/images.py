"""Which images an operator may name, and why one is refused.

An image in a channel, an SOP or a data file is either a local file (``images/mango.png``,
relative to the sop/ folder) that the bot uploads to WeCom before sending, or a URL that
WeCom already hosts (one ``media/uploadimg`` returned: ``https://p.qpic.cn/pic_wework/...``;
WeCom shows only such pictures in ``pic_url``). An outside URL (a shop's CDN) is refused by
the check when the bot talks to the real WeCom, with file:line, rather than found missing in
25,000 customers' chats. Against the local simulator its own picture host counts as WeCom's.

`ImageRule` is the check, given to the template library (bot.books.templating), so every
rendered pic_url / picurl is checked where it is rendered: at load (``sop check``, the
channel check, a live reload) for every sample store, and before each send.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from bot.config import REAL_WECOM_API
from bot.wecom.media import MAX_UPLOADIMG_BYTES, image_format

__all__ = ["IMAGE_SUFFIXES", "WECOM_PICTURE_DOMAINS", "ImageRule", "is_local_image",
           "local_image_path", "wecom_hosted"]

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
# Hosts WeCom serves uploaded pictures and QR codes from (uploadimg's answers, contact-way
# qr_code, avatars): p.qpic.cn, wework.qpic.cn, wx.qlogo.cn, ...
WECOM_PICTURE_DOMAINS = ("qpic.cn", "qlogo.cn")


def is_local_image(value: str) -> bool:
    """A relative file name such as ``images/mango.png``: no scheme, an image suffix."""
    return "://" not in value and not value.startswith(("/", "data:")) \
        and value.lower().endswith(IMAGE_SUFFIXES)


def local_image_path(base: Path, value: str) -> Path | None:
    """The file `value` names under `base`, or None when it would leave that folder."""
    path = (base / value).resolve()
    root = base.resolve()
    return path if path == root or root in path.parents else None


def wecom_hosted(url: str, api_base_url: str) -> bool:
    """True for a picture on WeCom's own hosts (or, for a simulator, on its host)."""
    host = (urlsplit(url).hostname or "").lower()
    if any(host == d or host.endswith("." + d) for d in WECOM_PICTURE_DOMAINS):
        return True
    api_host = (urlsplit(api_base_url).hostname or "").lower()
    return api_base_url != REAL_WECOM_API and host == api_host


@dataclass
class ImageRule:
    """Checks one rendered image value; `__call__` gives the reason it is refused or None.

    `base` is the folder local names are relative to (sop/). File checks are cached by
    (path, size, mtime), since a check renders the same photo for every sample store.
    """

    base: Path
    api_base_url: str = REAL_WECOM_API
    max_bytes: int = MAX_UPLOADIMG_BYTES
    _seen: dict[tuple[str, int, int], str | None] = field(default_factory=dict, repr=False)
    _paths: dict[str, Path | None] = field(default_factory=dict, repr=False)

    @property
    def real_api(self) -> bool:
        return self.api_base_url.rstrip("/") == REAL_WECOM_API.rstrip("/")

    def __call__(self, value: str) -> str | None:
        if is_local_image(value):
            return self._file_problem(value)
        if wecom_hosted(value, self.api_base_url):
            return None  # uploadimg answers http://p.qpic.cn/...: WeCom's own, any scheme
        if not value.startswith("https://"):
            return (f"must be a local image file (e.g. images/mango.png under "
                    f"{self.base}) or an https:// address, got {value!r}")
        if self.real_api and not wecom_hosted(value, self.api_base_url):
            return (f"{value} is not hosted by WeCom, which shows only pictures it hosts: "
                    f"save the picture under {self.base} and name the file instead "
                    "(the bot uploads it once)")
        return None

    def _file_problem(self, value: str) -> str | None:
        """One stat per call (every welcome renders its pictures through here): the path is
        resolved once per name, the content checked once per (size, mtime)."""
        if value not in self._paths:
            self._paths[value] = local_image_path(self.base, value)
        path = self._paths[value]
        if path is None:
            return f"image {value} is outside {self.base}"
        try:
            stat = path.stat()
        except OSError:
            return f"image file {value} not found under {self.base}"
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key not in self._seen:
            self._seen[key] = self._content_problem(value, path, stat.st_size)
        return self._seen[key]

    def _content_problem(self, value: str, path: Path, size: int) -> str | None:
        if size > self.max_bytes:
            return (f"image {value} is {size:,} bytes; WeCom takes pictures up to "
                    f"{self.max_bytes:,} bytes (2 MB): make it smaller")
        with path.open("rb") as fh:
            head = fh.read(16)
        if image_format(head) is None:
            return f"image {value} is not a PNG or JPG file (WeCom takes only these)"
        return None
