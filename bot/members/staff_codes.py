"""The questionnaire codes in the chat sidebar: staff see them and correct them.

| route | what | auth |
|---|---|---|
| ``GET /api/questionnaire?customer=`` | per form: questions, codes, customer's link | session |
| ``POST /api/questionnaire`` | ``{customer, form, codes: {question: [codes]}}`` | session + CSRF |
| ``GET|POST /sidebar/questionnaire?customer=&form=`` | the same as a page | session + CSRF |

The sidebar's own session (bot.sidebar.session: the OAuth2 login, its CSRF token) says who
asks; a customer the staff member does not follow gets 403 with the sidebar's words, the
same whether the customer exists or not. A correction is applied exactly as an answer is
(tags, description) and recorded as corrected by that staff member. The page also takes
the customer's member code, binding their till membership from the sidebar.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from bot.members.forms import Form
from bot.members.linking import bind_member_code
from bot.members.links import LinkRefused, QuestionnaireLink, make_link
from bot.members.q_routes import page
from bot.members.questionnaire import BadAnswer, Questionnaires, codes_text
from bot.replies.queries import follows
from bot.sidebar.routes import NOT_YOURS
from bot.sidebar.session import COOKIE, Session, SessionSigner
from bot.wecom.errors import WeComError

__all__ = ["routes"]
_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, headers=_NO_STORE,
                             dumps=lambda v: json.dumps(v, ensure_ascii=False))


def _link(base: str, form: str, customer: str, userid: str) -> str | None:
    """The customer's own link, for staff to send in the chat (None: links are off)."""
    try:
        return make_link(base, form, customer, userid)
    except LinkRefused:
        return None


def routes(service: Callable[[], Questionnaires | None],
           signer: Callable[[], SessionSigner | None]) -> list[web.AbstractRouteDef]:
    staff = StaffCodes(service, signer)
    return [web.get("/api/questionnaire", staff.show),
            web.post("/api/questionnaire", staff.correct),
            web.get("/sidebar/questionnaire", staff.edit_page),
            web.post("/sidebar/questionnaire", staff.edit_page)]


class StaffCodes:
    """The handlers; `service` and `signer` give the running bot's (None before start)."""

    def __init__(self, service: Callable[[], Questionnaires | None],
                 signer: Callable[[], SessionSigner | None]) -> None:
        self.service, self.signer = service, signer

    async def who(self, request: web.Request, customer: str
                  ) -> tuple[Questionnaires, Session, SessionSigner]:
        found, sign = self.service(), self.signer()
        if found is None or sign is None:
            raise web.HTTPServiceUnavailable(text="questionnaires are off")
        session = sign.verify(request.cookies.get(COOKIE))
        if session is None:
            raise web.HTTPUnauthorized(text="not logged in")
        if not customer or not await found.db.read(
                lambda c: follows(c, session.userid, customer)):
            raise web.HTTPForbidden(text=NOT_YOURS)
        return found, session, sign

    async def show(self, request: web.Request) -> web.Response:
        customer = request.query.get("customer", "")
        found, session, _ = await self.who(request, customer)
        base = f"{request.scheme}://{request.host}"
        forms = []
        for form in found.forms.value.values():
            codes = await found.current(form.name, customer) or {}
            forms.append({"form": form.name, "title": form.title, "codes": codes,
                          "text": codes_text(form, codes),
                          "link": _link(base, form.name, customer, session.userid),
                          "questions": [{"id": q.id, "text": q.text, "many": q.many,
                                         "answers": [{"code": a.code, "text": a.text}
                                                     for a in q.answers]}
                                        for q in form.questions]})
        return _json({"customer": customer, "forms": forms})

    async def correct(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return _json({"error": "the body is not JSON"}, 400)
        if not isinstance(body, dict) or not isinstance(body.get("codes"), dict):
            return _json({"error": "need customer, form and codes"}, 400)
        customer = str(body.get("customer", ""))
        found, session, sign = await self.who(request, customer)
        if not sign.check_csrf(session, request.headers.get("X-CSRF-Token")):
            return _json({"error": "missing or stale CSRF token; reload the sidebar"}, 403)
        form = found.form(str(body.get("form", "")))
        if form is None:
            return _json({"error": "no such form"}, 404)
        chosen = {str(k): [str(c) for c in v] if isinstance(v, list) else [str(v)]
                  for k, v in body["codes"].items()}
        try:
            codes = found.check(form, chosen)
        except BadAnswer as exc:
            return _json({"error": str(exc)}, 400)
        link = QuestionnaireLink(form.name, customer, session.userid, 0)
        try:
            await found.answer(link, form, codes, corrected_by=session.userid)
        except WeComError as exc:
            return _json({"error": f"saved; WeCom did not take it yet: {exc}"}, 502)
        return _json({"ok": True, "text": codes_text(form, codes)})

    async def edit_page(self, request: web.Request) -> web.Response:
        customer = request.query.get("customer", "")
        found, session, sign = await self.who(request, customer)
        form = found.form(request.query.get("form", "")) or next(
            iter(found.forms.value.values()))
        if request.method == "POST":
            return await self.edit_post(request, found, session, sign, form, customer)
        chosen = await found.current(form.name, customer) or {}
        return page(form=form, chosen=chosen, action=request.path_qs,
                    link={"csrf": sign.csrf_token(session)})

    async def edit_post(self, request: web.Request, found: Questionnaires, session: Session,
                        sign: SessionSigner, form: Form, customer: str) -> web.Response:
        posted = await request.post()
        if not sign.check_csrf(session, str(posted.get("csrf", ""))):
            return web.Response(status=403, text="页面已过期，请重新打开")
        chosen = {q.id: [str(v) for v in posted.getall(q.id, [])] for q in form.questions}
        try:
            codes = found.check(form, chosen)
        except BadAnswer as exc:
            return page(400, form=form, chosen=chosen, error=str(exc), action=request.path_qs,
                        link={"csrf": sign.csrf_token(session)})
        code = str(posted.get("member_code", "")).strip()
        if code and not await found.db.write(lambda c: bind_member_code(c, code, customer)):
            return page(400, form=form, chosen=chosen, error="没有找到这个会员码",
                        action=request.path_qs, link={"csrf": sign.csrf_token(session)})
        link = QuestionnaireLink(form.name, customer, session.userid, 0)
        with contextlib.suppress(WeComError):  # kept; applied later (apply_pending)
            await found.answer(link, form, codes, corrected_by=session.userid)
        return page(form=form, done=codes_text(form, codes))
