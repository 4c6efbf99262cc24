"""客户朋友圈 (customer Moments): tasks for staff to post, and the uploads they carry
(doc 95094, 93333, 97612; /work/shared/wecom-more.md §3).

One function per API, taking the `WeComClient`, like `contact_ways` and `media`. What WeCom
does, and what callers must plan around:

- ``add_moment_task`` is asynchronous: it answers a ``jobid`` (valid 24 h) and the task is
  made in the background; ``get_moment_task_result`` answers ``status`` 1 started,
  2 running, 3 done, and when done a ``result`` with its own ``errcode``, the
  ``moment_id`` and the senders / tags WeCom could not use (``invalid_sender_list``,
  ``invalid_external_contact_list``).
- The post is not public until each staff member confirms it in their client:
  ``get_moment_task`` lists ``publish_status`` (0 not yet, 1 posted) per ``userid``. There
  is no WeCom reminder for moments (unlike 群发): the caller reminds staff itself.
- At most 10 moment tasks a minute per corp; text at most 2,000 characters; attachments are
  9 images, or 1 video, or 1 link, never mixed; a video at most 30 s and 10 MB. Images and
  videos must be uploaded with ``media/upload_attachment?attachment_type=1`` (a media_id of
  ``media/upload`` is refused).
- ``add_moment_task`` is never repeated on a lost answer: a second call makes a second
  post. The caller looks for the first one (``get_moment_list``) before calling again.
"""

from __future__ import annotations

from typing import Any

from bot.wecom.client import WeComClient
from bot.wecom.media import UploadedMedia, image_format, multipart_file

__all__ = [
    "ATTACHMENT_MOMENT",
    "JOB_DONE",
    "MAX_IMAGES",
    "MAX_IMAGE_BYTES",
    "MAX_LINK_TITLE_BYTES",
    "MAX_TEXT_CHARS",
    "MAX_VIDEO_BYTES",
    "MAX_VIDEO_SECONDS",
    "MOMENT_TASKS_PER_MINUTE",
    "TOO_MANY_MOMENT_JOBS",
    "add_moment_task",
    "get_moment_list",
    "get_moment_task",
    "get_moment_task_result",
    "mp4_duration_s",
    "upload_attachment",
]

MAX_TEXT_CHARS = 2000  # text.content, characters ("invalid text size" past it)
MAX_IMAGES = 9  # or one video, or one link: never mixed ("invalid attachments msgtype")
MAX_IMAGE_BYTES = 10 * 1024 * 1024
MAX_VIDEO_BYTES = 10 * 1024 * 1024
MAX_VIDEO_SECONDS = 30
MAX_LINK_TITLE_BYTES = 64
MOMENT_TASKS_PER_MINUTE = 10  # per corp
ATTACHMENT_MOMENT = 1  # media/upload_attachment attachment_type: 1 = 朋友圈
JOB_STARTED, JOB_RUNNING, JOB_DONE = 1, 2, 3  # get_moment_task_result status
LIST_LIMIT = 20  # get_moment_list: the official text and go-wecom say at most 20
TASK_LIMIT = 1000  # get_moment_task: at most 1000 a page
LIST_WINDOW_S = 30 * 86_400  # get_moment_list: a window of at most 30 days

MISSING_MOMENT_ID = 41059
INVALID_MOMENT_ID = 41060
TOO_MANY_MOMENT_JOBS = 41078  # too many moment jobs running at once: try again later
MOMENT_DISPATCHING = 41079  # the moment is still being dispatched

_VIDEO_TYPES = {b"ftyp": "video/mp4"}


async def add_moment_task(client: WeComClient, body: dict[str, Any]) -> str:
    """externalcontact/add_moment_task: the ``jobid`` of the background job (24 h).

    ``body``: ``text{content}``, ``attachments[]`` (``{msgtype: image, image: {media_id}}``,
    ``video{media_id}`` or ``link{title, url, media_id}``) and ``visible_range``
    (``sender_list{user_list, department_list}``, ``external_contact_list{tag_list}``)."""
    data = await client.call("externalcontact/add_moment_task", body, retry_unanswered=False)
    return str(data["jobid"])


async def get_moment_task_result(client: WeComClient, jobid: str) -> dict[str, Any]:
    """externalcontact/get_moment_task_result (GET): ``status`` 1/2/3 and, once 3, the
    ``result`` (``errcode``, ``moment_id``, ``invalid_sender_list``,
    ``invalid_external_contact_list``)."""
    data = await client.call("externalcontact/get_moment_task_result", None, method="GET",
                             params={"jobid": jobid})
    return {"status": int(data.get("status", 0)), "type": str(data.get("type", "")),
            "result": dict(data.get("result") or {})}


async def get_moment_task(client: WeComClient, moment_id: str) -> list[dict[str, Any]]:
    """externalcontact/get_moment_task: every ``{userid, publish_status}`` (all pages)."""
    found: list[dict[str, Any]] = []
    cursor = ""
    while True:
        data = await client.call("externalcontact/get_moment_task",
                                 {"moment_id": moment_id, "cursor": cursor,
                                  "limit": TASK_LIMIT})
        found.extend(dict(t) for t in data.get("task_list", []))
        cursor = str(data.get("next_cursor") or "")
        if not cursor:
            return found


async def get_moment_list(client: WeComClient, start_time: int, end_time: int, *,
                          filter_type: int = 0) -> list[dict[str, Any]]:
    """externalcontact/get_moment_list: the corp's moments (``filter_type`` 0: made by the
    corp) created in a window of at most 30 days, all pages of 20."""
    start_time = max(start_time, end_time - LIST_WINDOW_S)
    found: list[dict[str, Any]] = []
    cursor = ""
    while True:
        data = await client.call("externalcontact/get_moment_list", {
            "start_time": start_time, "end_time": end_time, "filter_type": filter_type,
            "cursor": cursor, "limit": LIST_LIMIT})
        found.extend(dict(m) for m in data.get("moment_list", []))
        cursor = str(data.get("next_cursor") or "")
        if not cursor:
            return found


async def get_moment_customer_list(client: WeComClient, moment_id: str,
                                   userid: str) -> list[str]:
    """externalcontact/get_moment_customer_list: the customers a staff member's post is
    visible to (as chosen at creation), all pages."""
    found: list[str] = []
    cursor = ""
    while True:
        data = await client.call("externalcontact/get_moment_customer_list",
                                 {"moment_id": moment_id, "userid": userid, "cursor": cursor,
                                  "limit": TASK_LIMIT})
        found.extend(str(c["external_userid"]) for c in data.get("customer_list", []))
        cursor = str(data.get("next_cursor") or "")
        if not cursor:
            return found


def mp4_duration_s(data: bytes) -> float | None:
    """An MP4's length in seconds from its ``moov/mvhd`` box, or None when it has none (not
    an MP4, or the box past what was read). WeCom refuses a moment video over 30 s."""
    box = _find_box(data, 0, len(data), b"moov")
    if box is None:
        return None
    mvhd = _find_box(data, box[0], box[1], b"mvhd")
    if mvhd is None or mvhd[1] - mvhd[0] < 20:
        return None
    start = mvhd[0]
    version = data[start]
    if version == 1 and mvhd[1] - start >= 32:
        timescale = int.from_bytes(data[start + 20:start + 24], "big")
        duration = int.from_bytes(data[start + 24:start + 32], "big")
    else:
        timescale = int.from_bytes(data[start + 12:start + 16], "big")
        duration = int.from_bytes(data[start + 16:start + 20], "big")
    return duration / timescale if timescale else None


def _find_box(data: bytes, start: int, end: int, kind: bytes) -> tuple[int, int] | None:
    """(payload start, payload end) of the first ``kind`` box in data[start:end]."""
    at = start
    while at + 8 <= end:
        size = int.from_bytes(data[at:at + 4], "big")
        header = 8
        if size == 1 and at + 16 <= end:
            size, header = int.from_bytes(data[at + 8:at + 16], "big"), 16
        elif size == 0:
            size = end - at
        if size < header:
            return None
        if data[at + 4:at + 8] == kind:
            return at + header, min(at + size, end)
        at += size
    return None


def attachment_content_type(data: bytes) -> tuple[str, str] | None:
    """(media_type, content type) by the file's first bytes: an image (JPG/PNG) or an MP4
    video; None for anything else."""
    kind = image_format(data)
    if kind is not None:
        return "image", "image/png" if kind == "png" else "image/jpeg"
    if data[4:8] in _VIDEO_TYPES:
        return "video", _VIDEO_TYPES[data[4:8]]
    return None


async def upload_attachment(client: WeComClient, data: bytes, filename: str, *,
                            deadline: float | None = None) -> UploadedMedia:
    """media/upload_attachment?media_type=image|video&attachment_type=1: a media_id a
    moment may carry (valid 3 days). The limits are checked here, before any call."""
    kind = attachment_content_type(data)
    if kind is None:
        raise ValueError(f"{filename} is neither a JPG/PNG image nor an MP4 video")
    media_type, content_type = kind
    limit = MAX_IMAGE_BYTES if media_type == "image" else MAX_VIDEO_BYTES
    if len(data) > limit:
        raise ValueError(f"{filename} is {len(data):,} bytes, WeCom takes at most {limit:,}")
    answer = await client.call(
        "media/upload_attachment", multipart_file(data, filename, content_type),
        params={"media_type": media_type, "attachment_type": str(ATTACHMENT_MOMENT)},
        deadline=deadline)
    return UploadedMedia(str(answer["media_id"]), int(answer.get("created_at", 0)))
