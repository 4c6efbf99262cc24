"""Local pictures become WeCom-hosted ones, each uploaded once.

A rendered message may name local files (``images/mango.png``) where WeCom wants its own
URL (``pic_url``, a link's ``picurl``) or a media id (``image.media_id``, a mini-program's
``pic_media_id``, an app image message). `MediaCache.resolve` swaps each for what WeCom
hosts, right before the send. Uploads are keyed by the sha256 of the file's bytes in the
``media_upload`` table, so the same picture named by ten SOPs and a thousand welcomes costs
one ``media/uploadimg`` call, ever, and an edited picture (new bytes) is uploaded anew.

A media id lives 3 days: one with less than `RENEW_BEFORE_S` left is uploaded again before
use (a 群发 is confirmed by its owner up to hours later; a dead id there is a lost image).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import Connection

from bot.db.engine import Database, sql
from bot.media.images import is_local_image, local_image_path
from bot.wecom.client import WeComClient
from bot.wecom.media import upload_image, upload_media
from bot.wecom.moments import upload_attachment

log = logging.getLogger(__name__)

__all__ = ["RENEW_BEFORE_S", "MediaCache", "MediaFileError"]

RENEW_BEFORE_S = 86_400.0  # renew a media id with less than a day of its 3 left
PIC_URL, MEDIA_ID = "pic_url", "media_id"
ATTACHMENT = "attachment"  # a media id from media/upload_attachment (客户朋友圈)
# attachment field -> what WeCom wants there
_FIELDS = {"pic_url": PIC_URL, "picurl": PIC_URL, "media_id": MEDIA_ID,
           "pic_media_id": MEDIA_ID}


class MediaFileError(ValueError):
    """A local picture named by a message that cannot be read (removed since the check)."""


class MediaCache:
    """Uploads by content hash, remembered in the database (shared by replicas)."""

    def __init__(self, db: Database, wecom: WeComClient, base: Path, *,
                 clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._wecom = wecom
        self._base = base
        self._clock = clock
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        # What this process already knows, so a welcome costs no file read, hash or database
        # read: (digest, kind) -> (value, expires_at), and a file's (path, size, mtime) ->
        # digest (an edited file has a new mtime, so it is read and hashed again).
        self._known: dict[tuple[str, str], tuple[str, float | None]] = {}
        self._digests: dict[tuple[str, int, int], str] = {}
        self._paths: dict[str, Path | None] = {}  # a name resolved once (no symlink walk)
        self.uploads = 0  # uploads made by this process (metrics, tests)

    def _path(self, name: str) -> Path:
        if name not in self._paths:
            self._paths[name] = local_image_path(self._base, name)
        path = self._paths[name]
        if path is None:
            raise MediaFileError(f"image {name} is outside {self._base}")
        return path

    def read_local(self, name: str) -> bytes:
        try:
            return self._path(name).read_bytes()
        except OSError as exc:
            raise MediaFileError(f"image {name}: {exc.strerror or exc}") from exc

    def _fresh(self, digest: str, kind: str) -> str | None:
        known = self._known.get((digest, kind))
        if known is None or (known[1] is not None and known[1] - self._clock() <= RENEW_BEFORE_S):
            return None
        return known[0]

    async def _local(self, name: str, kind: str, deadline: float | None) -> str:
        """The hosted value of local file `name`, from memory while the file is unchanged."""
        try:
            stat = self._path(name).stat()
        except OSError as exc:
            raise MediaFileError(f"image {name}: {exc.strerror or exc}") from exc
        key = (name, stat.st_size, stat.st_mtime_ns)
        digest = self._digests.get(key)
        if digest is not None and (value := self._fresh(digest, kind)) is not None:
            return value
        data = self.read_local(name)
        self._digests[key] = hashlib.sha256(data).hexdigest()
        return await self._hosted(data, Path(name).name, kind, deadline)

    async def pic_url(self, data: bytes, filename: str) -> str:
        """The permanent WeCom URL of this picture (media/uploadimg once per content)."""
        return await self._hosted(data, filename, PIC_URL)

    async def media_id(self, data: bytes, filename: str) -> str:
        """A media id of this picture with at least `RENEW_BEFORE_S` to live."""
        return await self._hosted(data, filename, MEDIA_ID)

    async def moment_media(self, name: str) -> str:
        """A media id for a moment of local file `name` (image or MP4), from
        media/upload_attachment; once per content, renewed like any media id."""
        return await self._local(name, ATTACHMENT, None)

    async def resolve(self, attachments: list[dict[str, Any]], *,
                      deadline: float | None = None) -> list[dict[str, Any]]:
        """`attachments` with every local picture swapped for what WeCom hosts (new dicts;
        the given ones, maybe cached renders, are left as they are). `deadline`
        (time.monotonic()) bounds the uploads, e.g. by a welcome's 20 seconds."""
        out: list[dict[str, Any]] = []
        for attachment in attachments:
            kind = str(attachment.get("msgtype", ""))
            inner = attachment.get(kind)
            if not isinstance(inner, dict) or not any(
                    isinstance(inner.get(k), str) and is_local_image(inner[k]) for k in _FIELDS):
                out.append(attachment)
                continue
            swapped = dict(inner)
            for key, want in _FIELDS.items():
                value = inner.get(key)
                if isinstance(value, str) and is_local_image(value):
                    swapped[key] = await self._local(value, want, deadline)
            out.append({**attachment, kind: swapped})
        return out

    async def _hosted(self, data: bytes, filename: str, kind: str,
                      deadline: float | None = None) -> str:
        digest = hashlib.sha256(data).hexdigest()
        if (known := self._fresh(digest, kind)) is not None:
            return known
        lock = self._locks.setdefault((digest, kind), asyncio.Lock())
        async with lock:  # two welcomes with a new picture at once: one upload
            now = self._clock()
            row = await self._db.read(lambda c: _lookup(c, digest, kind))
            if row is not None and (row[1] is None or row[1] - now > RENEW_BEFORE_S):
                self._known[(digest, kind)] = row
                return row[0]
            expires: float | None = None
            if kind == PIC_URL:
                value = await upload_image(self._wecom, data, filename, deadline=deadline)
            elif kind == ATTACHMENT:
                media = await upload_attachment(self._wecom, data, filename, deadline=deadline)
                value, expires = media.media_id, float(media.expires_at)
            else:
                media = await upload_media(self._wecom, data, filename, deadline=deadline)
                value, expires = media.media_id, float(media.expires_at)
            self.uploads += 1
            log.info("uploaded %s (%d bytes) as %s%s", filename, len(data), kind,
                     " (renewed)" if row is not None else "")
            await self._db.write(lambda c: _store(c, digest, kind, value, now, expires))
            self._known[(digest, kind)] = (value, expires)
            return value


def _lookup(conn: Connection, digest: str, kind: str) -> tuple[str, float | None] | None:
    row = conn.execute(sql("SELECT value, expires_at FROM media_upload "
                           "WHERE content_hash = :h AND kind = :k"),
                       {"h": digest, "k": kind}).first()
    return None if row is None else (str(row[0]), None if row[1] is None else float(row[1]))


def _store(conn: Connection, digest: str, kind: str, value: str, now: float,
           expires: float | None) -> None:
    """Insert or replace: two replicas uploading the same new picture both succeed, the
    later answer is kept (either works: WeCom hosts both)."""
    conn.execute(sql("""
        INSERT INTO media_upload (content_hash, kind, value, created_at, expires_at)
        VALUES (:h, :k, :v, :c, :e)
        ON CONFLICT (content_hash, kind) DO UPDATE SET value = excluded.value,
            created_at = excluded.created_at, expires_at = excluded.expires_at
    """), {"h": digest, "k": kind, "v": value, "c": now, "e": expires})
