"""客户朋友圈 as WeCom runs it: moment tasks made in the background, each staff member's
post confirmed (or not) in their own client, and the uploads a moment carries.

What the real service does (wecom-more.md §3: the official text of doc 95094 / 93333 as
the Perl mirror copies it, silenceper ``moment.go``, WxJava, go-wecom):

- ``media/upload_attachment?media_type=image|video&attachment_type=1``: a ``media_id`` for
  moments (3 days); an id from ``media/upload`` is not one (the job fails with 40007).
- ``externalcontact/add_moment_task``: ``text.content`` ≤ 2,000 characters (45002,
  "invalid text size"); attachments: ≤ 9 images, or 1 video, or 1 link, never mixed
  (41065 "invalid attachments msgtype"; 41064 past 9 images); a video ≤ 10 MB and ≤ 30 s;
  ``sender_list.user_list`` ≤ 100,000. At most 10 tasks a minute per corp: past that the
  call is refused with 45009 (ASSUMED: the limit is documented, its errcode is not; 45009
  is WeCom's frequency-limit code). Answers a ``jobid``.
- ``get_moment_task_result?jobid=`` (GET): ``status`` 1 started, 2 running, 3 done; the
  first `moment_job_polls` polls answer 2, then 3 with ``result{errcode, moment_id,
  invalid_sender_list, invalid_external_contact_list}``. A jobid lives 24 h (then 40058).
- ``visible_range``: senders only → their customers; tags only → every staff member with a
  customer carrying one of the tags posts, to those customers; both → the senders, to
  their customers with the tags; neither → every staff member, to all their customers.
- ``get_moment_task``: ``task_list[]{userid, publish_status}``; 0 until the staff member
  confirms in the client (`staff_posts`). ``get_moment_list`` lists corp moments created in
  a window of ≤ 30 days (20 a page) from their creation, posted or not (ASSUMED: the docs
  do not say whether an unposted corp moment is listed; the bot's look-up depends on it).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from bot.wecom.moments import mp4_duration_s

from . import codes
from .api import ApiRequest, Handler
from .codes import ApiError
from .faults import RateLimiter
from .media import MEDIA_TTL_S, StoredMedia, parse_upload
from .options import SimOptions
from .state import World

MAX_TEXT_CHARS = 2000
MAX_IMAGES = 9
MAX_MEDIA_BYTES = 10 * 1024 * 1024
MAX_VIDEO_S = 30.0
MAX_SENDERS = 100_000
JOB_TTL_S = 86_400
LIST_WINDOW_S = 30 * 86_400
LIST_LIMIT = 20
PAGE_LIMIT = 1000
KINDS = ("image", "video", "link")


@dataclass
class SimMoment:
    moment_id: str
    body: dict[str, Any]
    create_time: int
    senders: list[str]  # who must post it
    tags: list[str]  # visible only to customers with one of these ("" = all customers)
    published: dict[str, int] = field(default_factory=dict)  # userid -> when posted


@dataclass
class _Job:
    jobid: str
    created: int
    result: dict[str, Any]
    polls: int = 0


class Moments:
    """The corp's moment tasks, their jobs and the uploads for them."""

    def __init__(self, world: World, options: SimOptions) -> None:
        self.world = world
        self.options = options
        self.moments: dict[str, SimMoment] = {}
        self.jobs: dict[str, _Job] = {}
        self.attachments: dict[str, StoredMedia] = {}
        # the corp's tasks a minute: fixed windows, like the per-API limit
        self._limiter = RateLimiter(lambda: options.moment_tasks_per_minute,
                                    lambda: options.rate_window_s)
        self.refused_for_rate = 0

    def routes(self) -> dict[str, tuple[str, Handler]]:
        return {
            "media/upload_attachment": ("POST", self.upload_attachment),
            "externalcontact/add_moment_task": ("POST", self.add_moment_task),
            "externalcontact/get_moment_task_result": ("GET", self.get_moment_task_result),
            "externalcontact/get_moment_task": ("POST", self.get_moment_task),
            "externalcontact/get_moment_list": ("POST", self.get_moment_list),
            "externalcontact/get_moment_customer_list": ("POST", self.get_moment_customer_list),
        }

    # -- what staff do in their clients --------------------------------------------------

    def staff_posts(self, moment_id: str, userid: str) -> None:
        """The staff member confirms the post in their client: publish_status becomes 1."""
        moment = self.moments[moment_id]
        if userid not in moment.senders:
            raise ValueError(f"{userid!r} has no task in moment {moment_id!r}")
        moment.published.setdefault(userid, self.world.now())

    def unposted(self) -> list[tuple[str, str]]:
        """(moment_id, userid) of every task a staff member has not posted yet."""
        return [(m.moment_id, u) for m in self.moments.values() for u in m.senders
                if u not in m.published]

    # -- the API ---------------------------------------------------------------------------

    def upload_attachment(self, req: ApiRequest) -> dict[str, Any]:
        media_type = req.query.get("media_type", "")
        if req.query.get("attachment_type") != "1" or media_type not in ("image", "video"):
            raise ApiError(codes.INVALID_UPLOAD_TYPE,
                           "media_type image|video with attachment_type=1 (朋友圈)")
        upload = parse_upload(req.content_type, req.raw)
        data = upload.data
        if media_type == "image" and not data.startswith((b"\x89PNG", b"\xff\xd8\xff")):
            raise ApiError(codes.INVALID_MEDIA_TYPE, "only JPG and PNG images")
        if media_type == "video" and data[4:8] != b"ftyp":
            raise ApiError(codes.INVALID_MEDIA_TYPE, "only MP4 videos")
        if len(data) > MAX_MEDIA_BYTES:
            raise ApiError(codes.MEDIA_TOO_LARGE, f"over {MAX_MEDIA_BYTES} B")
        if media_type == "video" and (mp4_duration_s(data) or 0.0) > MAX_VIDEO_S:
            raise ApiError(codes.MEDIA_TOO_LARGE, f"video over {MAX_VIDEO_S:.0f} s")
        media_id = "3" + self.world.new_id("", 63, "abcdefghijklmnopqrstuvwxyz0123456789_-")
        created = self.world.now()
        self.attachments[media_id] = StoredMedia(media_id, data, media_type, upload.filename,
                                                 created)
        return {"type": media_type, "media_id": media_id, "created_at": str(created)}

    def add_moment_task(self, req: ApiRequest) -> dict[str, Any]:
        body = req.body
        _check_content(body)
        visible = body.get("visible_range") or {}
        senders = list((visible.get("sender_list") or {}).get("user_list") or [])
        tags = list((visible.get("external_contact_list") or {}).get("tag_list") or [])
        if len(senders) > MAX_SENDERS:
            raise ApiError(codes.INVALID_PARAM, f"sender_list over {MAX_SENDERS}")
        self._take_rate()
        jobid = self.world.new_id("job", 40)
        self.jobs[jobid] = _Job(jobid, self.world.now(), self._make(body, senders, tags))
        return {"jobid": jobid}

    def _take_rate(self) -> None:
        if not self._limiter.allow("add_moment_task"):
            self.refused_for_rate += 1
            raise ApiError(codes.FREQUENCY_LIMITED,
                           f"at most {self.options.moment_tasks_per_minute} moment tasks a "
                           "minute per corp")

    def _make(self, body: dict[str, Any], senders: list[str],
              tags: list[str]) -> dict[str, Any]:
        """The job's result: the moment, or the error the background job ends with."""
        try:
            for attachment in body.get("attachments") or []:
                self._live(attachment)
        except ApiError as exc:
            return {"errcode": exc.errcode, "errmsg": codes.errmsg(exc.errcode, exc.detail)}
        bad_senders = [u for u in senders if u not in self.world.staff]
        bad_tags = [t for t in tags if t not in self.world.tags]
        good_tags = [t for t in tags if t in self.world.tags]
        posting = [u for u in senders if u in self.world.staff]
        if not senders:
            posting = sorted(self.world.staff) if not tags else sorted(
                {f.userid for f in self.world.follows.values()
                 if set(f.tag_ids) & set(good_tags)})
        if not posting:
            return {"errcode": codes.ALL_RECIPIENTS_INVALID,
                    "errmsg": codes.errmsg(codes.ALL_RECIPIENTS_INVALID, "no sender")}
        moment_id = self.world.new_id("mom", 32)
        self.moments[moment_id] = SimMoment(moment_id, body, self.world.now(), posting,
                                            good_tags)
        return {"errcode": 0, "errmsg": "ok", "moment_id": moment_id,
                "invalid_sender_list": {"user_list": bad_senders},
                "invalid_external_contact_list": {"tag_list": bad_tags}}

    def _live(self, attachment: dict[str, Any]) -> None:
        kind = attachment.get("msgtype")
        media_id = (attachment.get(str(kind)) or {}).get("media_id")
        if kind == "link" and not media_id:
            return
        stored = self.attachments.get(media_id) if isinstance(media_id, str) else None
        if stored is None or self.world.now() - stored.created_at >= MEDIA_TTL_S:
            raise ApiError(codes.INVALID_MEDIA_ID,
                           f"{media_id!r} is not a live media/upload_attachment id")

    def get_moment_task_result(self, req: ApiRequest) -> dict[str, Any]:
        job = self.jobs.get(req.query.get("jobid", ""))
        if job is None or self.world.now() - job.created >= JOB_TTL_S:
            raise ApiError(codes.INVALID_PARAM, "invalid jobid")
        job.polls += 1
        if job.polls <= self.options.moment_job_polls:
            return {"status": 2, "type": "add_moment_task"}
        return {"status": 3, "type": "add_moment_task", "result": job.result}

    def _moment(self, body: dict[str, Any]) -> SimMoment:
        moment_id = body.get("moment_id")
        if not moment_id:
            raise ApiError(codes.MISSING_MOMENT_ID)
        moment = self.moments.get(moment_id) if isinstance(moment_id, str) else None
        if moment is None:
            raise ApiError(codes.INVALID_MOMENT_ID)
        return moment

    def get_moment_task(self, req: ApiRequest) -> dict[str, Any]:
        moment = self._moment(req.body)
        rows = [{"userid": u, "publish_status": int(u in moment.published)}
                for u in moment.senders]
        page, cursor = _page(rows, req.body.get("cursor"), req.body.get("limit"), 500)
        return {"task_list": page, "next_cursor": cursor}

    def get_moment_customer_list(self, req: ApiRequest) -> dict[str, Any]:
        moment = self._moment(req.body)
        userid = req.body.get("userid")
        if userid not in moment.senders:
            raise ApiError(codes.MOMENT_NOT_PUBLISHED_BY_USER)
        rows = [{"userid": userid, "external_userid": f.external_userid}
                for f in self.world.follows.of_staff(str(userid))
                if not moment.tags or set(f.tag_ids) & set(moment.tags)]
        page, cursor = _page(rows, req.body.get("cursor"), req.body.get("limit"), 500)
        return {"customer_list": page, "next_cursor": cursor}

    def get_moment_list(self, req: ApiRequest) -> dict[str, Any]:
        body = req.body
        start, end = int(body.get("start_time") or 0), int(body.get("end_time") or 0)
        if end < start or end - start > LIST_WINDOW_S:
            raise ApiError(codes.INVALID_PARAM, "the window is at most 30 days")
        if int(body.get("filter_type", 2)) == 1:  # personal moments: the simulator has none
            return {"moment_list": [], "next_cursor": ""}
        rows = [_listed(m) for m in self.moments.values() if start <= m.create_time <= end]
        limit = min(int(body.get("limit") or LIST_LIMIT), LIST_LIMIT)
        page, cursor = _page(rows, body.get("cursor"), limit, LIST_LIMIT)
        return {"moment_list": page, "next_cursor": cursor}


def _check_content(body: dict[str, Any]) -> None:
    text = str((body.get("text") or {}).get("content") or "")
    if len(text) > MAX_TEXT_CHARS:
        raise ApiError(codes.CONTENT_TOO_LONG, "invalid text size")
    attachments = body.get("attachments") or []
    if not text and not attachments:
        raise ApiError(codes.EMPTY_CONTENT, "text or attachments required")
    kinds = [a.get("msgtype") if isinstance(a, dict) else None for a in attachments]
    if any(k not in KINDS for k in kinds) or len(set(kinds)) > 1:
        raise ApiError(codes.INVALID_ATTACHMENT, "invalid attachments msgtype")
    if kinds and kinds[0] == "image" and len(kinds) > MAX_IMAGES:
        raise ApiError(codes.TOO_MANY_ATTACHMENTS, f"at most {MAX_IMAGES} images")
    if kinds and kinds[0] in ("video", "link") and len(kinds) > 1:
        raise ApiError(codes.TOO_MANY_ATTACHMENTS, f"at most one {kinds[0]}")
    for attachment in attachments:
        inner = attachment.get(attachment["msgtype"])
        if not isinstance(inner, dict):
            raise ApiError(codes.INVALID_ATTACHMENT, "invalid attachments")
        if attachment["msgtype"] == "link" and (
                not inner.get("url") or len(str(inner.get("title", "")).encode()) > 64):
            raise ApiError(codes.INVALID_ATTACHMENT, "link needs url, title ≤ 64 bytes")


def _listed(moment: SimMoment) -> dict[str, Any]:
    body = moment.body
    attachments = body.get("attachments") or []
    out: dict[str, Any] = {
        "moment_id": moment.moment_id, "creator": "", "create_time": moment.create_time,
        "create_type": 0, "visible_type": 0 if moment.tags else 1,
        "text": {"content": str((body.get("text") or {}).get("content") or "")}}
    images = [a["image"] for a in attachments if a.get("msgtype") == "image"]
    if images:
        out["image"] = [{"media_id": i.get("media_id", "")} for i in images]
    for kind in ("video", "link"):
        found = [a[kind] for a in attachments if a.get("msgtype") == kind]
        if found:
            out[kind] = dict(found[0])
    return out


def _page(rows: Iterable[dict[str, Any]], cursor: Any, limit: Any,
          default: int) -> tuple[list[dict[str, Any]], str]:
    items = list(rows)
    try:
        start = int(cursor) if cursor else 0
        size = min(int(limit), PAGE_LIMIT) if limit else default
    except (TypeError, ValueError):
        raise ApiError(codes.INVALID_CURSOR) from None
    end = start + max(size, 1)
    return items[start:end], (str(end) if end < len(items) else "")
