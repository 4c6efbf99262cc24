"""Uploads to WeCom: ``media/uploadimg`` (a permanent picture URL) and ``media/upload``
(a media_id that lasts 3 days).

Both take the file as multipart/form-data with one part named ``media`` that carries a
filename and a content type (doc 96484; the SDKs send the same: go-workwx, WxJava). WeCom
hosts what it is given: only a URL from ``uploadimg`` is accepted as ``pic_url`` in a
welcome or group send ("仅可使用上传图片接口得到的链接"), and an app image message, a
mini-program cover or a welcome's ``image.media_id`` need a ``media_id`` from ``upload``.

Limits checked here before any call, so a file WeCom would refuse costs no request:
``uploadimg`` takes JPG/PNG of 5 B to 2 MB; ``upload?type=image`` JPG/PNG of 5 B to 10 MB.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from bot.wecom.client import WeComClient
from bot.wecom.http import Multipart

__all__ = [
    "MAX_MEDIA_IMAGE_BYTES",
    "MAX_UPLOADIMG_BYTES",
    "MEDIA_ID_TTL_S",
    "MIN_UPLOAD_BYTES",
    "UploadedMedia",
    "image_format",
    "multipart_file",
    "upload_image",
    "upload_media",
    "upload_problem",
]

MIN_UPLOAD_BYTES = 5  # "文件大小应在 5B ~ ..."
MAX_UPLOADIMG_BYTES = 2 * 1024 * 1024  # media/uploadimg
MAX_MEDIA_IMAGE_BYTES = 10 * 1024 * 1024  # media/upload?type=image
MEDIA_ID_TTL_S = 3 * 86_400  # a media_id from media/upload works for 3 days

_MAGIC = ((b"\x89PNG\r\n\x1a\n", "png"), (b"\xff\xd8\xff", "jpg"))
_CONTENT_TYPES = {"png": "image/png", "jpg": "image/jpeg"}


@dataclass(frozen=True, slots=True)
class UploadedMedia:
    """A temporary media: `created_at` is WeCom's (unix seconds); it expires 3 days on."""

    media_id: str
    created_at: int

    @property
    def expires_at(self) -> int:
        return self.created_at + MEDIA_ID_TTL_S


def image_format(data: bytes) -> str | None:
    """"png" or "jpg" from the file's first bytes (not its name), or None."""
    for magic, name in _MAGIC:
        if data.startswith(magic):
            return name
    return None


def upload_problem(data: bytes, limit: int) -> str | None:
    """Why WeCom would refuse this image, or None: format by content, size in bytes."""
    if image_format(data) is None:
        return "is not a JPG or PNG image (WeCom takes only these)"
    if len(data) < MIN_UPLOAD_BYTES:
        return f"is {len(data)} bytes, WeCom needs at least {MIN_UPLOAD_BYTES}"
    if len(data) > limit:
        return f"is {len(data):,} bytes, WeCom takes at most {limit:,}"
    return None


def multipart_file(data: bytes, filename: str, content_type: str,
                   field: str = "media") -> Multipart:
    """One file part, as WeCom's upload APIs read it (field ``media``, a filename, the
    part's content type and ``filelength``, as the reference's doc lists them)."""
    boundary = "----wecombot" + secrets.token_hex(12)
    safe_name = filename.replace('"', "").replace("\r", "").replace("\n", "") or "image"
    head = (f"--{boundary}\r\n"
            f'Content-Disposition: form-data; name="{field}"; filename="{safe_name}"; '
            f"filelength={len(data)}\r\n"
            f"Content-Type: {content_type}\r\n\r\n").encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    return Multipart(head + data + tail, f"multipart/form-data; boundary={boundary}")


def _part(data: bytes, filename: str, limit: int) -> Multipart:
    if problem := upload_problem(data, limit):
        raise ValueError(f"{filename} {problem}")
    kind = image_format(data)
    assert kind is not None  # upload_problem checked it
    return multipart_file(data, filename, _CONTENT_TYPES[kind])


async def upload_image(client: WeComClient, data: bytes, filename: str, *,
                       deadline: float | None = None) -> str:
    """media/uploadimg: the permanent URL WeCom now hosts the picture at, for ``pic_url``
    and link ``picurl``. WeCom's example answers ``http://p.qpic.cn/...``; its picture hosts
    serve the same path over https, which is what customers' clients are given."""
    data_json = await client.call("media/uploadimg", _part(data, filename, MAX_UPLOADIMG_BYTES),
                                  deadline=deadline)
    url = str(data_json.get("url", ""))
    host = urlsplit(url).hostname or ""
    if url.startswith("http://") and (host == "qpic.cn" or host.endswith(".qpic.cn")):
        url = "https://" + url[len("http://"):]
    return url


async def upload_media(client: WeComClient, data: bytes, filename: str, *,
                       deadline: float | None = None) -> UploadedMedia:
    """media/upload?type=image: a media_id valid for 3 days (an app image message, a
    welcome's ``image.media_id``)."""
    answer = await client.call("media/upload", _part(data, filename, MAX_MEDIA_IMAGE_BYTES),
                               params={"type": "image"}, deadline=deadline)
    return UploadedMedia(str(answer["media_id"]), int(answer.get("created_at", 0)))
