"""Message content as WeCom takes it: attachments, their byte limits and one URL rule.

Welcomes (``send_welcome_msg``), group sends (``add_msg_template``) and replies sent from the
chat sidebar (``sendChatMessage``) carry the same kinds of attachment: a link card, an image,
a mini-program card. WeCom limits them the same way in all three (reference §4, doc 92137:
at most 9 attachments, a link title of 128 bytes and a description of 512, a mini-program
title of 64; a Chinese character is 3 bytes), so the rules live here once and every feature
compiles its operators' attachment specs with `compile_attachment` and renders them with
`render_attachment`.

One URL rule for all of them: ``https://`` only. WeCom's clients open plain-http links with
a warning page or not at all, so a welcome's link card must not be held to a laxer rule
than a group send's.

Nothing here knows about channels, SOPs or replies; the specs are plain pydantic models that
refuse unknown keys, so an operator's ``titel:`` is an error, not a silently empty title.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from bot.i18n import t

__all__ = [
    "BYTE_LIMITS",
    "MAX_ATTACHMENTS",
    "MAX_LINK_DESC_BYTES",
    "MAX_LINK_TITLE_BYTES",
    "MAX_MINIPROGRAM_TITLE_BYTES",
    "MAX_TEXT_BYTES",
    "Attachment",
    "AttachmentSpec",
    "ContentError",
    "ImageCheck",
    "ImageSpec",
    "LinkSpec",
    "MiniprogramSpec",
    "compile_attachment",
    "https_error",
    "payload",
    "render_attachment",
    "size_error",
]

MAX_TEXT_BYTES = 4000  # send_welcome_msg and add_msg_template text.content
MAX_ATTACHMENTS = 9
MAX_LINK_TITLE_BYTES = 128
MAX_LINK_DESC_BYTES = 512
MAX_MINIPROGRAM_TITLE_BYTES = 64

BYTE_LIMITS: Mapping[str, tuple[tuple[str, int], ...]] = {
    "link": (("title", MAX_LINK_TITLE_BYTES), ("desc", MAX_LINK_DESC_BYTES)),
    "news": (("title", MAX_LINK_TITLE_BYTES), ("desc", MAX_LINK_DESC_BYTES)),
    "miniprogram": (("title", MAX_MINIPROGRAM_TITLE_BYTES),),
}
URL_KEYS = ("url", "link")
IMAGE_KEYS = ("picurl", "pic_url", "imgUrl")  # a picture: a URL, or a local file to upload

# Why a rendered picture cannot be sent, or None (bot.media.images.ImageRule: local files,
# WeCom-hosted URLs); without one, an https:// URL or a local image name passes.
ImageCheck = Callable[[str], str | None]

NonEmpty = Annotated[str, Field(min_length=1)]


class ContentError(ValueError):
    """An attachment WeCom would refuse; `key` is the field at fault (for file:line)."""

    def __init__(self, kind: str, key: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.key = key
        self.reason = reason


def size_error(value: str, limit: int) -> str | None:
    """Why `value` is too long for WeCom, or None (WeCom counts UTF-8 bytes, not characters)."""
    size = len(value.encode("utf-8"))
    if size <= limit:
        return None
    return f"is {size} bytes, WeCom allows {limit} (a Chinese character takes 3 bytes)"


def https_error(value: str) -> str | None:
    """Why `value` is not an address WeCom's clients open, or None."""
    return None if value.startswith("https://") else t("content.https")


# --------------------------------------------------------------------------- operator specs


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LinkSpec(_Spec):
    title: NonEmpty
    url: NonEmpty
    desc: str = ""
    picurl: str = ""


class ImageSpec(_Spec):
    pic_url: str = ""
    media_id: str = ""

    @model_validator(mode="after")
    def _one_source(self) -> ImageSpec:
        if bool(self.pic_url) == bool(self.media_id):
            raise ValueError("an image needs exactly one of pic_url or media_id")
        return self


class MiniprogramSpec(_Spec):
    title: NonEmpty
    appid: NonEmpty
    page: NonEmpty
    pic_media_id: NonEmpty


class AttachmentSpec(_Spec):
    """One ``attachments:`` entry of channels.yaml or an SOP file: exactly one kind."""

    link: LinkSpec | None = None
    image: ImageSpec | None = None
    miniprogram: MiniprogramSpec | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> AttachmentSpec:
        given = [k for k in ("link", "image", "miniprogram") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "each attachment is exactly one of link:, image: or miniprogram:"
                + (f" (found {', '.join(given)})" if given else "")
            )
        return self


# --------------------------------------------------------------------------- compiled


@dataclass(frozen=True, slots=True)
class Attachment:
    """An attachment ready to render: its WeCom msgtype and (key, template source) pairs."""

    msgtype: str
    fields: tuple[tuple[str, str], ...]
    required: str  # the field whose empty rendering drops the attachment


def compile_attachment(spec: AttachmentSpec) -> Attachment:
    if spec.link is not None:
        link = spec.link
        pairs = (("title", link.title), ("url", link.url), ("desc", link.desc),
                 ("picurl", link.picurl))
        return Attachment("link", pairs, "url")
    if spec.image is not None:
        key = "pic_url" if spec.image.pic_url else "media_id"
        return Attachment("image", ((key, getattr(spec.image, key)),), key)
    assert spec.miniprogram is not None  # the model allows exactly one kind
    mp = spec.miniprogram
    pairs = (("title", mp.title), ("pic_media_id", mp.pic_media_id), ("appid", mp.appid),
             ("page", mp.page))
    return Attachment("miniprogram", pairs, "appid")


def render_attachment(attachment: Attachment, render: Callable[[str, str], str],
                      images: ImageCheck | None = None) -> dict[str, Any] | None:
    """The attachment's JSON for WeCom, or None when its required field renders empty (a
    product without a photo: the image is left out). `render(key, source)` renders one
    field; a field WeCom would refuse raises `ContentError`."""
    kind = attachment.msgtype
    body: dict[str, str] = {}
    for key, source in attachment.fields:
        value = render(key, source).strip()
        if value:
            body[key] = value
    if attachment.required not in body:
        return None
    return payload(kind, body, images)


def image_error(value: str) -> str | None:
    """Without an `ImageCheck`: an https:// URL, or a local image name (uploaded before
    sending, bot.media), else why not."""
    if "://" not in value and value.lower().endswith((".png", ".jpg", ".jpeg")):
        return None
    return https_error(value)


def payload(kind: str, body: Mapping[str, str],
            images: ImageCheck | None = None) -> dict[str, Any]:
    """``{"msgtype": kind, kind: body}`` once `body` is within WeCom's limits; the one
    render-to-payload step of welcomes, group sends and sidebar replies."""
    for key, limit in BYTE_LIMITS.get(kind, ()):
        if problem := size_error(body.get(key, ""), limit):
            raise ContentError(kind, key, f"{kind} {key} {problem}")
    for key in URL_KEYS:
        if key in body and (problem := https_error(body[key])):
            raise ContentError(kind, key, f"{kind} {key} {problem}, got {body[key]!r}")
    for key in IMAGE_KEYS:
        if key not in body:
            continue
        if images is not None and (problem := images(body[key])):
            raise ContentError(kind, key, f"{kind} {key}: {problem}")
        if images is None and (problem := image_error(body[key])):
            raise ContentError(kind, key, f"{kind} {key} {problem}, got {body[key]!r}")
    return {"msgtype": kind, kind: dict(body)}
