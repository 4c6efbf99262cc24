"""What a ``via: moment`` SOP must respect, checked when the file loads (file:line) and when
each store's message renders: WeCom's limits for 客户朋友圈 (bot.wecom.moments).

- text at most 2,000 characters (characters, not bytes: unlike a 群发);
- attachments: up to 9 images, or one video, or one link, never mixed; no mini program;
- a video is a local MP4 of at most 30 s and 10 MB; an image or a link cover a local
  picture (WeCom takes only media ids from ``media/upload_attachment``);
- who sees it is chosen by customer tags (``to: {members: {tags: [...]}}``), any of them:
  WeCom's ``visible_range`` has no "all of these tags".
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from bot.books.stores import StoreDirectory
from bot.sop.model import GroupSelect, MemberSelect
from bot.sop.spec import SopAttachmentSpec, SopSpec
from bot.wecom.moments import (
    MAX_IMAGES,
    MAX_LINK_TITLE_BYTES,
    MAX_TEXT_CHARS,
    MAX_VIDEO_BYTES,
    MAX_VIDEO_SECONDS,
    mp4_duration_s,
)

Fail = Callable[..., None]
KINDS = ("image", "video", "link", "miniprogram")


def moment_text_problem(text: str) -> str | None:
    """Why WeCom would refuse this moment text, or None."""
    if len(text) > MAX_TEXT_CHARS:
        return (f"the moment text is {len(text)} characters, WeCom allows {MAX_TEXT_CHARS} "
                "(客户朋友圈 counts characters)")
    return None


def check_moment(sop_dir: Path, spec: SopSpec, target: GroupSelect | MemberSelect | None,
                 stores: StoreDirectory, fail: Fail) -> MemberSelect | None:
    """The SOP's audience as a `MemberSelect` (no tags: all customers of its stores), after
    reporting every way it breaks WeCom's moment rules."""
    if spec.to is not None and spec.to.groups is not None:
        fail(("to", "groups"), "via: moment is posted by each store's staff to their 客户朋友圈, "
             "not into groups: choose who sees it with to: {members: {tags: [...]}}, or "
             "leave out 'to' for all customers", at_key=True)
        return None
    if isinstance(target, MemberSelect) and target.match == "all" and len(target.tags) > 1:
        fail(("to", "members", "match"), "a moment is shown to customers with ANY of its "
             "tags (WeCom's visible_range has no 'all'): use match: any")
    _check_attachments(sop_dir, spec.attachments, fail)
    if isinstance(target, MemberSelect):
        return target
    return MemberSelect(tags=(), match="any", stores=frozenset(s.id for s in stores.all()))


def _kind(item: SopAttachmentSpec) -> str:
    return next(k for k in KINDS if getattr(item, k) is not None)


def _check_attachments(sop_dir: Path, items: list[SopAttachmentSpec], fail: Fail) -> None:
    kinds = [_kind(item) for item in items]
    for index, kind in enumerate(kinds):
        if kind == "miniprogram":
            fail(("attachments", index, "miniprogram"), "a moment carries images, one video "
                 "or one link: not a mini program")
        elif kind != kinds[0]:
            fail(("attachments", index, kind), f"a moment cannot mix {kinds[0]} and {kind} "
                 "(WeCom: 'invalid attachments msgtype'): up to 9 images, or one video, or "
                 "one link")
            return
    if not kinds:
        return
    if kinds[0] == "image" and len(kinds) > MAX_IMAGES:
        fail(("attachments", MAX_IMAGES), f"a moment carries at most {MAX_IMAGES} images, "
             f"found {len(kinds)}")
    if kinds[0] in ("video", "link") and (len(kinds) > 1 or items[0].each is not None):
        fail(("attachments", 1 if len(kinds) > 1 else 0), f"a moment carries one {kinds[0]}"
             f" (found {len(kinds)}{', repeated with each:' if items[0].each else ''})")
    for index, item in enumerate(items):
        _check_item(sop_dir, index, item, fail)


def _check_item(sop_dir: Path, index: int, item: SopAttachmentSpec, fail: Fail) -> None:
    if item.video is not None:
        problem = _video_problem(sop_dir, item.video.media_id)
        if problem:
            fail(("attachments", index, "video", "media_id"), problem)
    if item.image is not None:
        key = "pic_url" if item.image.pic_url else "media_id"
        value = getattr(item.image, key)
        if "://" in value:
            fail(("attachments", index, "image", key), "a moment's image is a local picture "
                 "under sop/ (the bot uploads it with media/upload_attachment), not a URL")
    if item.link is not None:
        size = len(item.link.title.encode())
        if "{" not in item.link.title and size > MAX_LINK_TITLE_BYTES:
            fail(("attachments", index, "link", "title"), f"a moment's link title is {size} "
                 f"bytes, WeCom allows {MAX_LINK_TITLE_BYTES} (a Chinese character takes 3)")


def _video_problem(sop_dir: Path, name: str) -> str | None:
    """Why this local video cannot be a moment's, or None (a templated name: at send)."""
    if "{" in name:
        return None
    path = (sop_dir / name).resolve()
    if "://" in name or not path.is_relative_to(sop_dir.resolve()):
        return f"video {name}: a moment's video is a local MP4 under {sop_dir}"
    try:
        size = path.stat().st_size
        if size > MAX_VIDEO_BYTES:
            return f"video {name} is {size:,} bytes, WeCom allows {MAX_VIDEO_BYTES:,} (10 MB)"
        data = path.read_bytes()
    except OSError as exc:
        return f"video {name}: {exc.strerror or exc}"
    if data[4:8] != b"ftyp":
        return f"video {name} is not an MP4 file"
    seconds = mp4_duration_s(data)
    if seconds is None:
        return f"video {name}: its length cannot be read (no moov/mvhd box: a broken MP4?)"
    if seconds > MAX_VIDEO_SECONDS:
        return f"video {name} is {seconds:.1f} s long, WeCom allows {MAX_VIDEO_SECONDS} s"
    return None

