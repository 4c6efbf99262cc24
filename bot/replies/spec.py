"""What operators may write in a 话术 file: the pydantic schema `bot.replies.library` checks
each file against (link and mini-program cards within WeCom's byte limits, https only)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, Field, model_validator

from bot.books.yamlfile import OperatorModel
from bot.wecom.content import (
    MAX_ATTACHMENTS,
    MAX_LINK_DESC_BYTES,
    MAX_LINK_TITLE_BYTES,
    MAX_MINIPROGRAM_TITLE_BYTES,
    https_error,
    size_error,
)


def _https(value: str) -> str:
    if value and (problem := https_error(value)):
        raise ValueError(f"{problem} (WeCom clients refuse plain http)")
    return value


def _max_bytes(limit: int) -> AfterValidator:
    def check(value: str) -> str:
        if problem := size_error(value, limit):
            raise ValueError(problem)
        return value

    return AfterValidator(check)


Url = Annotated[str, Field(min_length=1), AfterValidator(_https)]
NonEmpty = Annotated[str, Field(min_length=1)]


class LinkSpec(OperatorModel):
    """sendChatMessage ``news``: a link card (title ≤128 B, desc ≤512 B as for welcomes)."""

    title: Annotated[str, Field(min_length=1), _max_bytes(MAX_LINK_TITLE_BYTES)]
    url: Url
    desc: Annotated[str, _max_bytes(MAX_LINK_DESC_BYTES)] = ""
    imgUrl: Annotated[str, AfterValidator(_https)] = ""


class MiniProgramSpec(OperatorModel):
    """sendChatMessage ``miniprogram``: a mini-program card (the appid must be the corp's)."""

    appid: NonEmpty
    title: Annotated[str, Field(min_length=1), _max_bytes(MAX_MINIPROGRAM_TITLE_BYTES)]
    page: NonEmpty
    imgUrl: Url


class AttachmentSpec(OperatorModel):
    link: LinkSpec | None = None
    miniprogram: MiniProgramSpec | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> AttachmentSpec:
        if (self.link is None) == (self.miniprogram is None):
            raise ValueError("each attachment is one of link: or miniprogram:")
        return self


class ReplySpec(OperatorModel):
    title: Annotated[str, Field(min_length=1, max_length=40)]
    category: NonEmpty
    tags: list[NonEmpty] = Field(default_factory=list)
    keywords: list[NonEmpty] = Field(default_factory=list)
    text: NonEmpty
    attachments: list[AttachmentSpec] = Field(default_factory=list, max_length=MAX_ATTACHMENTS)
    # a data file under sop/ (data/member_day.yaml), as SOPs use it: the text reads the
    # customer's store's entry (or default) as {{ data.… }}, so offers have one source
    data: NonEmpty | None = None


class RepliesFile(OperatorModel):
    replies: dict[str, Any] = Field(min_length=1)  # each entry validated on its own


class LibraryFile(OperatorModel):
    categories: list[NonEmpty] = Field(min_length=1)
    tags: dict[NonEmpty, list[NonEmpty]] = Field(default_factory=dict)
