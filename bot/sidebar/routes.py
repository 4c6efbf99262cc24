"""HTTP routes of the chat sidebar: page, list fragment, JSON API, send record, login.

| route | what | auth |
|---|---|---|
| ``GET /sidebar`` | the page (shell + the list when the customer is known) | session, else OAuth2 |
| ``GET /sidebar/oauth`` | WeCom's redirect back with ``code`` and ``state`` | state cookie |
| ``GET /sidebar/panel?customer=&q=&category=`` | card + ranked list, HTML fragment | session |
| ``GET /api/replies?customer=&q=&category=`` | the same as JSON | session |
| ``GET /api/jssdk-config?url=`` | wx.config / wx.agentConfig signatures | session |
| ``POST /api/replies/sent`` | ``{reply_id, customer, via}``: count a send | session + CSRF |
| ``GET /sidebar/group?chat=`` | 今日群SOP of a customer group, HTML fragment | session |
| ``GET /api/group-posts?chat=`` | the same as JSON | session |
| ``POST /api/group-posts/posted`` | ``{chat, post_id}``: the owner posted it | session + CSRF |
| ``GET /api/journey-tasks?customer=`` | 今日跟进: the customer's journey tasks, JSON | session |
| ``POST /api/journey-tasks/sent`` | ``{customer, task_id}``: sent, recorded once | s. + CSRF |

Refusals come before any work: no session → 401 (the page redirects to WeCom's login
instead), a customer the staff member does not follow → 403 with the same words whether
the customer exists or not (a group they neither own nor are in: the same), a POST without
the session's CSRF token → 403. The handlers
turn requests into calls on `RepliesService` and its answers into HTML or JSON; nothing
else lives here.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from jinja2 import Environment, FileSystemLoader, select_autoescape

from bot.config import Secrets, Settings
from bot.replies.service import VIAS, NotYourCustomer, Suggestions, UnknownReply
from bot.sidebar import wecom_web
from bot.sidebar.group_posts import GroupPosts, GroupView, NotYourGroup
from bot.sidebar.journey_tasks import SidebarTasks
from bot.sidebar.session import COOKIE, STATE_COOKIE, STATE_TTL_S, Session, SessionSigner
from bot.wecom.errors import WeComError

if TYPE_CHECKING:
    from bot.services import Services

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
NOT_YOURS = "这位客户没有添加你，或不存在"  # one answer for both: no existence oracle
NOT_YOUR_GROUP = "你不在这个客户群里，或群不存在"  # the same for groups
MAX_QUERY_CHARS = 64
_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
             "Referrer-Policy": "no-referrer"}


class Sidebar:
    """The routes; `attach` gives them the running bot's services once it has started."""

    def __init__(self, settings: Settings, secrets: Secrets) -> None:
        self.settings = settings
        self.secrets = secrets
        self.simulated = wecom_web.is_simulated(settings.wecom.api_base_url)
        self.signer = SessionSigner(secrets.session_key, settings.sidebar.session_ttl_s)
        self.services: Services | None = None
        self.tickets: wecom_web.Tickets | None = None
        self.group_posts: GroupPosts | None = None
        self.tasks: SidebarTasks | None = None
        self._jinja = Environment(loader=FileSystemLoader(HERE / "templates"),
                                  autoescape=select_autoescape(default=True),
                                  trim_blocks=True, lstrip_blocks=True, auto_reload=False)
        self._page = self._jinja.get_template("sidebar.html")
        self._panel = self._jinja.get_template("panel.html")
        self._group_panel = self._jinja.get_template("group_panel.html")

    def attach(self, services: Services) -> None:
        self.services = services
        self.group_posts = GroupPosts(services.db)
        self.tasks = SidebarTasks(services.db)
        self.tickets = wecom_web.Tickets(services.wecom, self.secrets.corp_id,
                                         self.secrets.agent_id)

    def routes(self) -> list[web.AbstractRouteDef]:
        return [
            web.get("/sidebar", self.page),
            web.get("/sidebar/oauth", self.oauth_callback),
            web.get("/sidebar/panel", self.panel),
            web.get("/api/replies", self.api_replies),
            web.get("/api/jssdk-config", self.api_jssdk_config),
            web.post("/api/replies/sent", self.api_sent),
            web.get("/sidebar/group", self.group_panel),
            web.get("/api/group-posts", self.api_group_posts),
            web.post("/api/group-posts/posted", self.api_group_posted),
            web.get("/api/journey-tasks", self.api_tasks),
            web.post("/api/journey-tasks/sent", self.api_task_sent),
            web.static("/sidebar/static", HERE / "static", name="sidebar_static",
                       append_version=True),  # ?v=<hash>: cached forever, busted on change
        ]

    # -- auth ----------------------------------------------------------------------------

    def _session(self, request: web.Request) -> Session | None:
        return self.signer.verify(request.cookies.get(COOKIE))

    def _require(self, request: web.Request) -> Session:
        session = self._session(request)
        if session is None:
            raise web.HTTPUnauthorized(text=json.dumps({"error": "not logged in"}),
                                       content_type="application/json", headers=_NO_STORE)
        return session

    def _public_base(self, request: web.Request) -> str:
        configured = self.settings.sidebar.public_url.rstrip("/")
        return configured or f"{request.scheme}://{request.host}"

    def _secure(self, request: web.Request) -> bool:
        return self._public_base(request).startswith("https://")

    def _login_redirect(self, request: web.Request) -> web.StreamResponse:
        state, cookie = self.signer.oauth_state(request.path_qs)
        redirect_uri = self._public_base(request) + "/sidebar/oauth"
        url = wecom_web.authorize_url(self.settings.wecom.api_base_url, self.secrets.corp_id,
                                      self.secrets.agent_id, redirect_uri, state)
        response = _redirect(url)
        response.set_cookie(STATE_COOKIE, cookie, max_age=STATE_TTL_S, httponly=True,
                            samesite="Lax", secure=self._secure(request), path="/sidebar")
        return response

    async def oauth_callback(self, request: web.Request) -> web.StreamResponse:
        """WeCom's redirect back: check the state, trade the code for the member."""
        return_to = self.signer.check_oauth_state(request.cookies.get(STATE_COOKIE),
                                                  request.query.get("state"))
        code = request.query.get("code", "")
        if return_to is None or not code:
            return _page_error(400, "登录已失效，请关闭侧边栏重新打开。")
        services = self._services()
        try:
            info = await services.wecom.get_user_info(code)
        except WeComError as exc:
            log.warning("sidebar login refused: %s", exc)
            return _page_error(403, "企业微信没有确认你的身份，请重新打开侧边栏。")
        userid = str(info.get("userid") or "")
        if not userid:  # a non-member (openid only) has no customers to serve
            return _page_error(403, "只有企业成员可以使用话术侧边栏。")
        cookie, _ = self.signer.issue(userid)
        if not return_to.startswith("/sidebar"):  # never an open redirect
            return_to = "/sidebar"
        response = _redirect(return_to)
        response.set_cookie(COOKIE, cookie, max_age=self.settings.sidebar.session_ttl_s,
                            httponly=True, samesite="Lax", secure=self._secure(request),
                            path="/")
        response.del_cookie(STATE_COOKIE, path="/sidebar")
        log.info("sidebar login: %s", userid)
        return response

    # -- pages ---------------------------------------------------------------------------

    async def page(self, request: web.Request) -> web.StreamResponse:
        session = self._session(request)
        if session is None:
            return self._login_redirect(request)
        services = self._services()
        customer = request.query.get("customer", "") if self.simulated else ""
        chat = request.query.get("chat", "") if self.simulated and not customer else ""
        panel_html, status = "", 200
        if customer:
            try:
                panel_html = self._render_panel(await self._suggest(session, request, customer),
                                                await self._tasks(session, customer))
            except NotYourCustomer:
                panel_html, status = f'<p class="empty">{NOT_YOURS}</p>', 403
        elif chat:
            try:
                panel_html = self._render_group(await self._posts().for_chat(session.userid,
                                                                             chat))
            except NotYourGroup:
                panel_html, status = f'<p class="empty">{NOT_YOUR_GROUP}</p>', 403
        library = services.replies.library
        config = {"customer": customer, "chat": chat, "simulated": self.simulated,
                  "csrf": self.signer.csrf_token(session), "corpid": self.secrets.corp_id,
                  "agentid": self.secrets.agent_id}
        html = self._page.render(
            mode="group" if chat else "",
            staff=services.stores.staff_name(session.userid) or session.userid,
            categories=library.categories,
            panel=panel_html, config=json.dumps(config, ensure_ascii=False),
            scripts=wecom_web.jssdk_scripts(self.settings.wecom.api_base_url),
            static=lambda name: str(request.app.router["sidebar_static"].url_for(
                filename=name)))
        return web.Response(text=html, status=status, content_type="text/html",
                            headers={**_NO_STORE, "Content-Security-Policy": self._csp()})

    async def panel(self, request: web.Request) -> web.StreamResponse:
        session = self._require(request)
        customer = request.query.get("customer", "")
        try:
            found = await self._suggest(session, request, customer)
        except NotYourCustomer:
            return web.Response(text=f'<p class="empty">{NOT_YOURS}</p>', status=403,
                                content_type="text/html", headers=_NO_STORE)
        return web.Response(text=self._render_panel(found, await self._tasks(session, customer)),
                            content_type="text/html", headers=_NO_STORE)

    def _render_group(self, view: GroupView) -> str:
        return self._group_panel.render(view=view,
                                        dumps=lambda v: json.dumps(v, ensure_ascii=False))

    async def group_panel(self, request: web.Request) -> web.StreamResponse:
        session = self._require(request)
        try:
            view = await self._posts().for_chat(session.userid, request.query.get("chat", ""))
        except NotYourGroup:
            return web.Response(text=f'<p class="empty">{NOT_YOUR_GROUP}</p>', status=403,
                                content_type="text/html", headers=_NO_STORE)
        return web.Response(text=self._render_group(view), content_type="text/html",
                            headers=_NO_STORE)

    async def api_group_posts(self, request: web.Request) -> web.StreamResponse:
        session = self._require(request)
        try:
            view = await self._posts().for_chat(session.userid, request.query.get("chat", ""))
        except NotYourGroup:
            return _json({"error": NOT_YOUR_GROUP}, 403)
        return _json(view.as_json())

    async def api_group_posted(self, request: web.Request) -> web.StreamResponse:
        """The owner put a post into the group (sendChatMessage said ok): record it."""
        checked = await self._signed_post(request)
        if isinstance(checked, web.StreamResponse):
            return checked
        session, body = checked
        chat, post_id = str(body.get("chat", "")), body.get("post_id")
        if not chat or not isinstance(post_id, int) or isinstance(post_id, bool):
            return _json({"error": "need chat and post_id (a number)"}, 400)
        try:
            post = await self._posts().mark_posted(session.userid, chat, post_id)
        except NotYourGroup:
            return _json({"error": NOT_YOUR_GROUP}, 403)
        if post is None:
            return _json({"error": f"no post {post_id} for this group"}, 404)
        log.info("owner post %d (%s) posted into %s by %s", post_id, post["sop"], chat,
                 session.userid)
        return _json({"ok": True, "post": post})

    async def _signed_post(self, request: web.Request
                           ) -> tuple[Session, dict[str, Any]] | web.StreamResponse:
        """A POST from the page: its session, the session's CSRF token and a JSON object
        body; else the refusal to answer with (401 comes from `_require` itself)."""
        session = self._require(request)
        if not self.signer.check_csrf(session, request.headers.get("X-CSRF-Token")):
            return _json({"error": "missing or wrong CSRF token"}, 403)
        try:
            body = await request.json()
        except ValueError:
            return _json({"error": "body is not JSON"}, 400)
        if not isinstance(body, dict):
            return _json({"error": "body must be a JSON object"}, 400)
        return session, body

    def _posts(self) -> GroupPosts:
        self._services()
        assert self.group_posts is not None
        return self.group_posts

    def _render_panel(self, found: Suggestions, tasks: list[dict[str, Any]]) -> str:
        return self._panel.render(card=found.card, replies=found.replies, tasks=tasks,
                                  dumps=lambda v: json.dumps(v, ensure_ascii=False))

    async def _tasks(self, session: Session, customer: str) -> list[dict[str, Any]]:
        """今日跟进 of this staff member for `customer` (already checked: one they serve)."""
        self._services()
        assert self.tasks is not None
        return await self.tasks.for_customer(session.userid, customer)

    def _csp(self) -> str:
        sources = {_origin(u) for u in wecom_web.jssdk_scripts(self.settings.wecom.api_base_url)}
        scripts = " ".join(sorted(sources))
        connect = " ".join(sorted(sources)) if self.simulated else ""
        return (f"default-src 'self'; script-src 'self' {scripts}; connect-src 'self' {connect}; "
                "img-src 'self' https: data:; style-src 'self'; frame-ancestors 'none'; "
                "base-uri 'none'; form-action 'self'")

    # -- JSON API ------------------------------------------------------------------------

    async def api_replies(self, request: web.Request) -> web.StreamResponse:
        session = self._require(request)
        try:
            found = await self._suggest(session, request, request.query.get("customer", ""))
        except NotYourCustomer:
            return _json({"error": NOT_YOURS}, 403)
        return _json(found.as_json())

    async def api_jssdk_config(self, request: web.Request) -> web.StreamResponse:
        self._require(request)
        url = request.query.get("url", "")
        base = self._public_base(request)
        if not url.startswith(base + "/sidebar"):  # sign our own page only
            return _json({"error": "url must be this sidebar's page"}, 400)
        assert self.tickets is not None
        try:
            config = await self.tickets.config(url)
        except WeComError as exc:
            log.error("JS-SDK tickets unavailable: %s", exc)
            return _json({"error": "JS-SDK tickets unavailable"}, 503)
        return _json(config.as_json())

    async def api_sent(self, request: web.Request) -> web.StreamResponse:
        checked = await self._signed_post(request)
        if isinstance(checked, web.StreamResponse):
            return checked
        session, body = checked
        reply_id, customer = str(body.get("reply_id", "")), str(body.get("customer", ""))
        via = str(body.get("via", "sidebar"))
        if via not in VIAS or not reply_id or not customer:
            return _json({"error": f"need reply_id, customer and via in {VIAS}"}, 400)
        replies = self._services().replies
        try:
            await replies.record_send(session.userid, customer, reply_id, via)
        except NotYourCustomer:
            return _json({"error": NOT_YOURS}, 403)
        except UnknownReply:
            return _json({"error": f"no reply {reply_id!r} in the library"}, 404)
        return _json({"ok": True})

    async def api_tasks(self, request: web.Request) -> web.StreamResponse:
        session = self._require(request)
        customer = request.query.get("customer", "")
        try:
            await self._suggest(session, request, customer)  # one they serve, else 403
        except NotYourCustomer:
            return _json({"error": NOT_YOURS}, 403)
        return _json({"tasks": await self._tasks(session, customer)})

    async def api_task_sent(self, request: web.Request) -> web.StreamResponse:
        """A journey task went into the customer's chat (sendChatMessage said ok): record
        it, once; a repeat answers with the task as recorded, ``recorded: false``."""
        checked = await self._signed_post(request)
        if isinstance(checked, web.StreamResponse):
            return checked
        session, body = checked
        customer, task_id = str(body.get("customer", "")), body.get("task_id")
        if not customer or not isinstance(task_id, int) or isinstance(task_id, bool):
            return _json({"error": "need customer and task_id (a number)"}, 400)
        self._services()
        assert self.tasks is not None
        task, recorded = await self.tasks.mark_sent(session.userid, customer, task_id)
        if task is None:
            return _json({"error": f"no task {task_id} of yours for this customer"}, 404)
        if task["status"] != "sent":
            return _json({"error": f"task {task_id} is {task['status']}", "task": task}, 409)
        if recorded:
            log.info("journey task %d (%s/%s) sent to %s by %s", task_id, task["journey"],
                     task["step"], customer, session.userid)
        return _json({"ok": True, "recorded": recorded, "task": task})

    # -- helpers -------------------------------------------------------------------------

    def _services(self) -> Services:
        if self.services is None:
            raise web.HTTPServiceUnavailable(text="starting")
        return self.services

    async def _suggest(self, session: Session, request: web.Request,
                       customer: str) -> Suggestions:
        replies = self._services().replies
        if not customer or len(customer) > 64:
            raise NotYourCustomer(customer)
        query = request.query.get("q", "")[:MAX_QUERY_CHARS]
        category = request.query.get("category", "") or None
        return await replies.for_customer(session.userid, customer, query=query,
                                          category=category)


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _json(data: Any, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, headers=_NO_STORE,
                             dumps=lambda d: json.dumps(d, ensure_ascii=False))


def _redirect(location: str) -> web.Response:
    return web.Response(status=302, headers={**_NO_STORE, "Location": location})


def _page_error(status: int, message: str) -> web.Response:
    return web.Response(status=status, content_type="text/html", headers=_NO_STORE,
                        text=f'<!doctype html><meta charset="utf-8"><p>{message}</p>')


def sidebar_url(base: str, customer: str = "", chat: str = "") -> str:
    """The page's address, e.g. for the admin console's 聊天工具栏 setting (and tests)."""
    query = {k: v for k, v in (("customer", customer), ("chat", chat)) if v}
    return f"{base}/sidebar" + (f"?{urlencode(query)}" if query else "")
