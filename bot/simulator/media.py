"""WeCom's media store: ``media/uploadimg``, ``media/upload`` and the pictures it hosts.

What the real service does (doc 96484 for upload, the uploadimg doc's text as the SDKs
quote it, errcodes from the global list, doc 90313):

- Both take multipart/form-data with one file part named ``media``; no part: 44001.
- ``uploadimg``: JPG/PNG of 5 B to 2 MB; answers ``url``, permanent, on WeCom's picture
  host (``http://p.qpic.cn/pic_wework/<n>/<hash>/0``). The simulator answers the same path
  on its own host, so the picture can be fetched back (GET /pic_wework/...).
- ``upload?type=image``: JPG/PNG of 5 B to 10 MB; answers ``type``, ``media_id`` and
  ``created_at`` (a string of unix seconds). A media_id lasts 3 days; past that, a message
  naming it is refused with 40007. Other types (voice, video, file) are not simulated: 40005.
- Not a JPG or PNG (judged by content): 40004; under 5 B: 40006; over the limit: 45001.

``pic_url`` in welcomes and 群发 may only be a URL ``uploadimg`` returned. What WeCom does
with another URL is not documented; by default the simulator accepts the message and
records the URL in `foreign_pic_urls` (ASSUMED, docs/cards.md); with `refuse_foreign` set
it answers 41065 like any other bad attachment.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from aiohttp import web

from . import codes
from .api import ApiRequest, Handler
from .codes import ApiError
from .state import World

UPLOADIMG_MAX_BYTES = 2 * 1024 * 1024
IMAGE_MAX_BYTES = 10 * 1024 * 1024
MIN_BYTES = 5
MEDIA_TTL_S = 3 * 86_400
MAX_UPLOAD_BYTES = 21 * 1024 * 1024  # a request body: a 20 MB file (type=file) and its framing
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"))


@dataclass(frozen=True, slots=True)
class StoredMedia:
    media_id: str
    data: bytes
    content_type: str
    filename: str
    created_at: int


@dataclass(frozen=True, slots=True)
class Upload:
    """What arrived in the ``media`` part."""

    data: bytes
    filename: str


def parse_upload(content_type: str, raw: bytes) -> Upload:
    """The ``media`` file part of a multipart/form-data body; 44001 without one."""
    if not content_type.startswith("multipart/form-data"):
        raise ApiError(codes.EMPTY_MEDIA, "expected multipart/form-data with a media part")
    message = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    if not message.is_multipart():
        raise ApiError(codes.EMPTY_MEDIA, "no media part")
    for part in message.iter_parts():
        if part.get_param("name", header="content-disposition") != "media":
            continue
        data = part.get_payload(decode=True)
        filename = part.get_filename() or ""
        if not isinstance(data, bytes) or not data:
            break
        return Upload(data, filename)
    raise ApiError(codes.EMPTY_MEDIA, "no media part")


def _image_type(data: bytes, limit: int) -> str:
    content_type = next((t for magic, t in _MAGIC if data.startswith(magic)), None)
    if content_type is None:
        raise ApiError(codes.INVALID_MEDIA_TYPE, "only JPG and PNG images")
    if len(data) < MIN_BYTES:
        raise ApiError(codes.INVALID_FILE_SIZE, f"under {MIN_BYTES} B")
    if len(data) > limit:
        raise ApiError(codes.MEDIA_TOO_LARGE, f"over {limit} B")
    return content_type


class SimMedia:
    """The corp's uploads: permanent pictures by URL path, temporary media by id."""

    def __init__(self, world: World, base_url: Callable[[], str | None]) -> None:
        self.world = world
        self._base_url = base_url
        self.pictures: dict[str, StoredMedia] = {}  # URL path -> picture
        self.media: dict[str, StoredMedia] = {}  # media_id -> file
        self.uploads: list[str] = []  # "uploadimg" / "upload", one per accepted upload
        self.foreign_pic_urls: list[str] = []
        self.refuse_foreign = False

    def routes(self) -> dict[str, tuple[str, Handler]]:
        return {"media/uploadimg": ("POST", self.uploadimg),
                "media/upload": ("POST", self.upload)}

    def register(self, app: web.Application) -> None:
        """The picture host: GET of a URL ``uploadimg`` returned (no token, like a CDN)."""
        app.router.add_get("/pic_wework/{corp}/{hash}/0", self._serve_picture)

    # -- the API ------------------------------------------------------------------------

    def uploadimg(self, req: ApiRequest) -> dict[str, Any]:
        upload = parse_upload(req.content_type, req.raw)
        content_type = _image_type(upload.data, UPLOADIMG_MAX_BYTES)
        digest = hashlib.sha256(upload.data + self.world.new_id("", 8).encode()).hexdigest()
        corp = int(hashlib.sha256(self.world.corp_id.encode()).hexdigest()[:8], 16)
        path = f"/pic_wework/{corp}/{digest[:48]}/0"
        self.pictures[path] = StoredMedia("", upload.data, content_type, upload.filename,
                                          self.world.now())
        self.uploads.append("uploadimg")
        return {"url": f"{self._base_url() or 'http://p.qpic.cn'}{path}"}

    def upload(self, req: ApiRequest) -> dict[str, Any]:
        kind = req.query.get("type", "")
        if kind != "image":
            raise ApiError(codes.INVALID_UPLOAD_TYPE,
                           "the simulator stores images (type=image) only")
        upload = parse_upload(req.content_type, req.raw)
        content_type = _image_type(upload.data, IMAGE_MAX_BYTES)
        media_id = "3" + self.world.new_id("", 63, "abcdefghijklmnopqrstuvwxyz0123456789_-")
        created = self.world.now()
        self.media[media_id] = StoredMedia(media_id, upload.data, content_type,
                                           upload.filename, created)
        self.uploads.append("upload")
        return {"type": kind, "media_id": media_id, "created_at": str(created)}

    # -- what sends check ---------------------------------------------------------------

    def live_media(self, media_id: Any) -> StoredMedia:
        """The media a message names; 40007 when unknown or older than 3 days."""
        stored = self.media.get(media_id) if isinstance(media_id, str) else None
        if stored is None or self.world.now() - stored.created_at >= MEDIA_TTL_S:
            raise ApiError(codes.INVALID_MEDIA_ID, f"{media_id!r} unknown or expired")
        return stored

    def hosted(self, url: str) -> bool:
        """A URL this corp's uploadimg returned (http or https: the same picture)."""
        return "/" + url.split("://", 1)[-1].partition("/")[2] in self.pictures

    def check_attachments(self, attachments: Iterable[dict[str, Any]]) -> None:
        """Media ids must be live (40007); a pic_url not from uploadimg is recorded, or
        refused with 41065 when `refuse_foreign` is set."""
        for attachment in attachments:
            inner = attachment.get(str(attachment.get("msgtype")))
            if not isinstance(inner, dict):
                continue
            for key in ("media_id", "pic_media_id"):
                if key in inner:
                    self.live_media(inner[key])
            for key in ("pic_url", "picurl"):
                url = inner.get(key)
                if isinstance(url, str) and url and not self.hosted(url):
                    if self.refuse_foreign:
                        raise ApiError(codes.INVALID_ATTACHMENT,
                                       f"{key} must come from media/uploadimg: {url}")
                    self.foreign_pic_urls.append(url)

    async def _serve_picture(self, request: web.Request) -> web.Response:
        stored = self.pictures.get(request.path)
        if stored is None:
            raise web.HTTPNotFound
        return web.Response(body=stored.data, content_type=stored.content_type)
