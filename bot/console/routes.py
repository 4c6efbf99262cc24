"""HTTP routes of the operations console: sign-in, the pages, CSV exports, send actions.

| route | what |
|---|---|
| ``GET /console/today[?store=]`` | today's SOP slots and each store's sends; a store's groups |
| ``GET /console/group?chat=`` | a group: today's sends (retry, cancel), days, WeCom's |
| ``GET /console/channels?store=&start=&end=`` | each channel's funnel over a period |
| ``GET /console/groups?store=&health=&start=&end=`` | group classes, the list to act on |
| ``GET /console/members?store=&start=&end=`` | members per level and stage, moves, answers |
| ``GET /console/journeys?store=&journey=&step=&start=&end=`` | journey cohorts, each step |
| ``POST /console/sends/{id}/{retry,cancel}`` | operators only, with the form's CSRF token |
| ``GET /console/oauth`` | WeCom's redirect back (OAuth2 in the client, web login on desktop) |

Every page takes ``?format=csv&table=<key>`` and answers that table as CSV. Checks come
before any work, on every request: a page without a valid session goes to WeCom's login
(CSV and POST get 401), a member who is neither an operator nor a store manager gets 403, a
store or group outside the viewer's stores 403 with the same words whether it exists or
not, a POST without the session's CSRF token 403, a bad parameter 400.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.config import Secrets, Settings
from bot.console import actions, days, login
from bot.console.access import NOT_YOURS, NoAccess, Viewer, viewer_for
from bot.console.catalog import Catalog
from bot.console.health import HealthBook
from bot.console.render import Renderer, csv_response, page_error
from bot.console.rollup import RollupJob
from bot.console.views import Views
from bot.console.weekly import weekly_digest
from bot.sidebar.session import SessionSigner
from bot.wecom.errors import WeComError

if TYPE_CHECKING:
    from bot.app import BotRuntime

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
COOKIE = "ws_console"
STATE_COOKIE = "ws_console_oauth"
_STORE = re.compile(r"\d{4}")
_CHAT = re.compile(r"[A-Za-z0-9_\-]{1,64}")
_NAME = re.compile(r"[A-Za-z0-9_\-]{1,64}")  # a journey or a step id
CSRF = web.RequestKey("console_csrf", str)
Handler = Callable[[web.Request, Viewer], Awaitable[web.StreamResponse]]


class BadRequest(ValueError):
    """A parameter no page takes: answered 400 with the reason."""


class Console:
    def __init__(self, settings: Settings, secrets: Secrets, runtime: BotRuntime) -> None:
        self.settings = settings
        self.secrets = secrets
        self.runtime = runtime
        self.tz = days.zone(settings.console.timezone)
        self.signer = SessionSigner(secrets.session_key, settings.sidebar.session_ttl_s)
        self.health = HealthBook(settings.paths.sop_dir / "group_health.yaml")
        self.render = Renderer(HERE)
        self.catalog = Catalog(settings)
        self.job: RollupJob | None = None

    # -- auth ----------------------------------------------------------------------------

    def _public_base(self, request: web.Request) -> str:
        return self.settings.sidebar.public_url.rstrip("/") or f"{request.scheme}://{request.host}"

    def _login(self, request: web.Request) -> web.StreamResponse:
        state, cookie = self.signer.oauth_state(request.path_qs)
        url = login.login_url(request.headers.get("User-Agent", ""),
                              self.settings.wecom.api_base_url, self.secrets.corp_id,
                              self.secrets.agent_id, self._public_base(request) + "/console/oauth",
                              state)
        response = _redirect(url)
        response.set_cookie(STATE_COOKIE, cookie, max_age=600, httponly=True, samesite="Lax",
                            secure=self._public_base(request).startswith("https://"),
                            path="/console")
        return response

    async def oauth(self, request: web.Request) -> web.StreamResponse:
        back = self.signer.check_oauth_state(request.cookies.get(STATE_COOKIE),
                                             request.query.get("state"))
        code = request.query.get("code", "")
        if back is None or not code:
            return page_error(400, "登录已失效，请重新打开控制台。")
        try:
            info = await self._services().wecom.get_user_info(code)
        except WeComError as exc:
            log.warning("console login refused: %s", exc)
            return page_error(403, "企业微信没有确认你的身份，请重新登录。")
        userid = str(info.get("userid") or "")
        if not userid:
            return page_error(403, "只有企业成员可以使用控制台。")
        cookie, _ = self.signer.issue(userid)
        response = _redirect(back if back.startswith("/console/") else "/console/today")
        response.set_cookie(COOKIE, cookie, max_age=self.settings.sidebar.session_ttl_s,
                            httponly=True, samesite="Lax", path="/console",
                            secure=self._public_base(request).startswith("https://"))
        response.del_cookie(STATE_COOKIE, path="/console")
        log.info("console login: %s", userid)
        return response

    def guarded(self, handler: Handler, *, page: bool = True) -> Callable[
            [web.Request], Awaitable[web.StreamResponse]]:
        """Session, role and parameters checked before `handler` runs, on every request."""

        async def run(request: web.Request) -> web.StreamResponse:
            session = self.signer.verify(request.cookies.get(COOKIE))
            csv = request.query.get("format") == "csv"
            if session is None:
                if page and not csv and request.method == "GET":
                    return self._login(request)
                return page_error(401, "没有登录，或登录已过期。")
            try:
                viewer = viewer_for(session.userid, self.settings.console.operators,
                                    self._services().stores)
                if request.method == "POST":
                    form = await request.post()
                    if not self.signer.check_csrf(session, str(form.get("csrf", ""))):
                        return page_error(403, "缺少或错误的 CSRF 令牌，什么也没有改。")
                request[CSRF] = self.signer.csrf_token(session)
                return await handler(request, viewer)
            except NoAccess as exc:
                return page_error(403, str(exc))
            except (BadRequest, days.BadPeriod) as exc:
                return page_error(400, str(exc))

        return run

    def _services(self) -> Any:
        services = self.runtime.services
        if services is None:
            raise web.HTTPServiceUnavailable(text="starting")
        return services

    def views(self) -> Views:
        return Views(self._services().db, self.tz, self._services().stores, self.health)

    # -- pages -----------------------------------------------------------------------------

    async def today(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        store = _store_param(request)
        day = days.one_day(request.query.get("day"), self.tz)
        found = await self.views().today(viewer, store or None, day)
        return self._answer(request, viewer, "today", found)

    async def group(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        chat = request.query.get("chat", "")
        if not _CHAT.fullmatch(chat):
            raise BadRequest("chat 必须是企业微信的群 ID")
        first, last = days.period(request.query.get("start"), request.query.get("end"), self.tz)
        day = days.one_day(request.query.get("day"), self.tz)
        found = await self.views().group(viewer, chat, first, last, day)
        return self._answer(request, viewer, "group", found)

    async def channels(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        store = _store_param(request)
        first, last = days.period(request.query.get("start"), request.query.get("end"), self.tz,
                                  default_days=30)
        found = await self.views().channels(viewer, store or None, first, last)
        return self._answer(request, viewer, "channels", found)

    async def groups(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        store = _store_param(request)
        health = request.query.get("health", "")
        rules = self.health.current()
        if health and (rules is None or health not in rules.labels()):
            raise BadRequest("health 不是规则里的分类")
        first, last = days.period(request.query.get("start"), request.query.get("end"), self.tz)
        found = await self.views().groups(viewer, store or None, health or None, first, last)
        return self._answer(request, viewer, "groups", found)

    async def members(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        store = _store_param(request)
        first, last = days.period(request.query.get("start"), request.query.get("end"), self.tz,
                                  default_days=30)
        names = await asyncio.to_thread(self.catalog.current)  # reads files when changed
        found = await self.views().members(viewer, store or None, first, last, names)
        return self._answer(request, viewer, "members", found)

    async def journeys(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        store = _store_param(request)
        journey, step = request.query.get("journey", ""), request.query.get("step", "")
        for name, value in (("journey", journey), ("step", step)):
            if value and not _NAME.fullmatch(value):
                raise BadRequest(f"{name} 只能是字母、数字、- 和 _")
        if step and not journey:
            raise BadRequest("看某一步要同时给出 journey")
        first, last = days.period(request.query.get("start"), request.query.get("end"), self.tz,
                                  default_days=30)
        names = await asyncio.to_thread(self.catalog.current)
        found = await self.views().journeys(viewer, store or None, journey or None,
                                            step or None, first, last, names)
        return self._answer(request, viewer, "journeys", found)

    async def act(self, request: web.Request, viewer: Viewer) -> web.StreamResponse:
        """Retry or cancel one send (operators); back to the page it was asked from."""
        if not viewer.is_operator:
            raise NoAccess("只有运营可以重试或取消发送")
        action = request.match_info["action"]
        try:
            send_id = int(request.match_info["send_id"])
        except ValueError:
            raise BadRequest("send id 必须是数字") from None
        if action not in actions.ACTIONS:
            raise BadRequest("action 只能是 retry 或 cancel")
        db = self._services().db
        try:
            status = await db.write(lambda c: actions.apply(c, send_id, action, time.time(),
                                                            viewer.userid))
        except actions.ActionRefused as exc:
            return page_error(409, str(exc))
        log.info("console: %s %s send %d → %s", viewer.userid, action, send_id, status)
        if self.runtime.outbox is not None and action == "retry":
            self.runtime.outbox.wake()
        back = str((await request.post()).get("back", ""))
        return _redirect(back if back.startswith("/console/") else "/console/today", 303)

    def _answer(self, request: web.Request, viewer: Viewer, page: str,
                found: dict[str, Any]) -> web.StreamResponse:
        if request.query.get("format") == "csv":
            key = request.query.get("table", "")
            table = next((t for t in found["tables"] if t.key == key), None)
            if table is None:
                raise BadRequest("table 不是本页的表格")
            return csv_response(table, f"{page}-{key}.csv")
        return self.render.page(request, viewer, page, found, request.get(CSRF, ""))

    async def home(self, _request: web.Request) -> web.StreamResponse:
        return _redirect("/console/today")

    # -- wiring ----------------------------------------------------------------------------

    def routes(self) -> list[web.AbstractRouteDef]:
        return [
            web.get("/console", self.home),
            web.get("/console/oauth", self.oauth),
            web.get("/console/today", self.guarded(self.today)),
            web.get("/console/group", self.guarded(self.group)),
            web.get("/console/channels", self.guarded(self.channels)),
            web.get("/console/groups", self.guarded(self.groups)),
            web.get("/console/members", self.guarded(self.members)),
            web.get("/console/journeys", self.guarded(self.journeys)),
            web.post(r"/console/sends/{send_id}/{action}", self.guarded(self.act, page=False)),
            web.static("/console/static", HERE / "static", name="console_static",
                       append_version=True),
        ]


_NO_STORE = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff",
             "Referrer-Policy": "no-referrer"}


def _redirect(location: str, status: int = 302) -> web.Response:
    return web.Response(status=status, headers={**_NO_STORE, "Location": location})


def _store_param(request: web.Request) -> str:
    store = request.query.get("store", "")
    if store and not _STORE.fullmatch(store):
        raise BadRequest("store 是4位门店号，例如 0012")
    return store


def add_console_routes(app: web.Application, runtime: BotRuntime) -> Console | None:
    """Serve /console from this app, and keep its rollups current while the bot runs."""
    settings = runtime.settings
    if not settings.console.enabled:
        return None
    console = Console(settings, runtime.secrets, runtime)
    app.router.add_routes(console.routes())

    tasks: list[asyncio.Task[None]] = []

    async def run_job() -> None:
        """After the bot's own start (it finishes after the port opens): its services
        exist then."""
        try:
            await runtime.started()
        except Exception:
            return
        services = runtime.services
        if services is None:
            return
        replica = runtime.replica
        console.job = RollupJob(services.db, console.tz, settings.console.rollup_every_s,
                                console.health, wecom=services.wecom,
                                leading=lambda: replica is None or replica.is_leader,
                                digest=weekly_digest(runtime, console.tz, console.health))
        await console.job.run()

    async def start(_app: web.Application) -> None:
        tasks.append(asyncio.get_running_loop().create_task(run_job(), name="console-rollups"))

    async def stop(_app: web.Application) -> None:
        """On shutdown, before the bot's cleanup closes the database."""
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    app.on_startup.append(start)
    app.on_shutdown.append(stop)
    return console


__all__ = ["NOT_YOURS", "Console", "add_console_routes"]
