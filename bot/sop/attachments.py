"""An SOP's attachments: compiled from its spec, rendered per store, cut at WeCom's 9.

What is particular to SOPs is ``each:``: an attachment repeated over a list of the store's
data (one photo per product of the morning's new arrivals). The attachment kinds, their
limits and the URL rule are WeCom's and live in `bot.wecom.content`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import TemplateSyntaxError

from bot.books.templating import TemplateError, TemplateLibrary
from bot.i18n import t
from bot.sop.model import Loc, Sop, SopAttachment, SopError
from bot.sop.spec import SopSpec
from bot.wecom.content import (
    MAX_ATTACHMENTS,
    Attachment,
    ContentError,
    compile_attachment,
    render_attachment,
)

Fail = Callable[..., None]


def compile_attachments(templates: TemplateLibrary, spec: SopSpec,
                        fail: Fail) -> tuple[SopAttachment, ...]:
    """The SOP's attachments; an ``each:`` that is not a Jinja expression is reported."""
    out: list[SopAttachment] = []
    for index, item in enumerate(spec.attachments):
        compiled = (Attachment("video", (("media_id", item.video.media_id),), "media_id")
                    if item.video is not None else compile_attachment(item))
        if item.each is None:
            out.append(SopAttachment(compiled))
            continue
        try:
            expr = templates.env.compile_expression(item.each, undefined_to_none=False)
        except TemplateSyntaxError as exc:
            fail(("attachments", index, "each"),
                 f"attachments[{index}].each: '{item.each}' is not a valid expression "
                 f"({exc.message})")
            continue
        out.append(SopAttachment(compiled, item.each, expr))
    return tuple(out)


def render_attachments(templates: TemplateLibrary, sop: Sop, store_id: str | None,
                       context: Mapping[str, Any]) -> tuple[list[dict[str, Any]], int]:
    """The attachments' JSON in file order, and how many were dropped past WeCom's 9."""
    out: list[dict[str, Any]] = []
    dropped = 0
    for index, attachment in enumerate(sop.attachments):
        if attachment.each is None:
            scopes: list[Mapping[str, Any]] = [context]
        else:
            items = each_items(sop, attachment, context, index)
            scopes = [{**context, "item": item} for item in items]
        for scope in scopes:
            body = _render_one(templates, sop, store_id, attachment, scope, index)
            if body is None:
                continue
            if len(out) >= MAX_ATTACHMENTS:
                dropped += 1
                continue
            out.append(body)
    return out, dropped


def each_items(sop: Sop, attachment: SopAttachment, context: Mapping[str, Any],
          index: int) -> list[Any]:
    assert attachment.each_expr is not None
    loc: Loc = ("attachments", index, "each")
    label = f"attachments[{index}].each"
    try:
        value = attachment.each_expr(**context)
    except Exception as exc:  # the sandbox or an undefined name: say which expression
        raise SopError(sop.name, None, f"{label}: {exc}", loc) from exc
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, list | tuple):
        raise SopError(sop.name, None,
                       f"{label}: " + t("sop.each_not_a_list", each=attachment.each,
                                        found=type(value).__name__), loc)
    return list(value)


def _render_one(templates: TemplateLibrary, sop: Sop, store_id: str | None,
                attachment: SopAttachment, context: Mapping[str, Any],
                index: int) -> dict[str, Any] | None:
    kind = attachment.spec.msgtype

    def render(key: str, source: str) -> str:
        try:
            return templates.render_string(source, context)
        except TemplateError as exc:
            raise SopError(sop.name, store_id, f"attachments[{index}].{kind}.{key}: {exc.reason}",
                           ("attachments", index, kind, key)) from exc

    try:
        return render_attachment(attachment.spec, render, templates.images)
    except ContentError as exc:
        raise SopError(sop.name, store_id, f"attachments[{index}]: {exc.reason}",
                       ("attachments", index, kind, exc.key)) from exc
