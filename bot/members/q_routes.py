"""The questionnaire page: ``GET /q/<form>`` shows it, ``POST /q/<form>`` answers it.

Reached only through a signed per-customer link (bot.members.links): a forged, expired or
incomplete link gets 403 and writes nothing; an unknown form 404; an answer the form does
not offer 400 with the form shown again. A member code typed in binds the customer's till
membership (bot.members.linking). The page is small, server-rendered HTML (Jinja2 with
autoescape), usable on the phone's WeChat browser with no script at all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.members.forms import Form
from bot.members.linking import bind_member_code
from bot.members.links import LinkRefused, verify_link
from bot.members.questionnaire import BadAnswer, Questionnaires, codes_text
from bot.wecom.errors import WeComError

__all__ = ["page", "routes"]
log = logging.getLogger(__name__)
MAX_FORM_BYTES = 16 * 1024
_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY"}
_jinja = Environment(loader=FileSystemLoader(Path(__file__).resolve().parent / "templates"),
                     autoescape=select_autoescape(default=True), trim_blocks=True,
                     lstrip_blocks=True)


def page(status: int = 200, **context: Any) -> web.Response:
    """The questionnaire template (also the sidebar's correction page, bot.members.staff_codes)."""
    values: dict[str, Any] = {"chosen": {}, "error": "", "done": "", "link": {}, "action": ""}
    text = _jinja.get_template("questionnaire.html").render({**values, **context})
    return web.Response(text=text, status=status, content_type="text/html", headers=_HEADERS)


def _plain(status: int, text: str) -> web.Response:
    return web.Response(text=text, status=status, headers=_HEADERS)


def routes(service: Callable[[], Questionnaires | None]) -> list[web.AbstractRouteDef]:
    def found(request: web.Request) -> tuple[Questionnaires, Form]:
        questionnaires = service()
        if questionnaires is None:
            raise web.HTTPServiceUnavailable(text="问卷暂不可用")
        form = questionnaires.form(request.match_info["form"])
        if form is None:
            raise web.HTTPNotFound(text="没有这个问卷")
        return questionnaires, form

    async def show(request: web.Request) -> web.Response:
        questionnaires, form = found(request)
        try:
            link = verify_link(form.name, dict(request.query))
        except LinkRefused:
            return _plain(403, "链接无效或已过期，请向店长重新索取")
        chosen = await questionnaires.current(form.name, link.external_userid) or {}
        return page(form=form, chosen=chosen, link=_hidden(request.query),
                     action=request.path)

    async def answer(request: web.Request) -> web.Response:
        if (request.content_length or 0) > MAX_FORM_BYTES:
            return _plain(413, "提交的内容太大")
        questionnaires, form = found(request)
        posted = await request.post()
        fields = {k: str(v) for k, v in posted.items() if isinstance(v, str)}
        try:
            link = verify_link(form.name, fields)
        except LinkRefused:
            return _plain(403, "链接无效或已过期，请向店长重新索取")
        chosen = {q.id: [str(v) for v in posted.getall(q.id, [])] for q in form.questions}
        try:
            codes = questionnaires.check(form, chosen)
        except BadAnswer as exc:
            return page(400, form=form, chosen=chosen, error=str(exc),
                         link=_hidden(fields), action=request.path)
        code = fields.get("member_code", "").strip()
        if code and not await questionnaires.db.write(
                lambda c: bind_member_code(c, code, link.external_userid)):
            return page(400, form=form, chosen=chosen, link=_hidden(fields),
                         action=request.path, error="没有找到这个会员码，请核对后再填，或先空着")
        try:
            await questionnaires.answer(link, form, codes)
        except WeComError as exc:  # stored: applied later (Questionnaires.apply_pending)
            log.warning("questionnaire %s of %s stored, not yet applied: %s", form.name,
                        link.external_userid, exc)
        return page(form=form, done=codes_text(form, codes))

    return [web.get("/q/{form}", show), web.post("/q/{form}", answer)]


def _hidden(params: Any) -> dict[str, str]:
    return {k: str(params.get(k, "")) for k in ("c", "u", "e", "s")}
