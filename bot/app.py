"""Composition: settings + secrets in, a running aiohttp application out.

The path of a callback, file by file: `web.py` (verify, decrypt, parse) → `inbox.py`
(record with its dedupe key, durable before the 200) → `dispatch.py` (route, order by lane,
retry) → `handlers/*` (act) → `wecom/client.py` (call WeCom).
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

from aiohttp import web

from bot import group_sync, inbox
from bot.channels import ChannelBook
from bot.config import Secrets, Settings
from bot.dispatch import Dispatcher
from bot.events import Event
from bot.handlers import build_router
from bot.replies.library import LiveLibrary
from bot.replies.messenger import AppMessenger
from bot.replies.service import RepliesService
from bot.services import Services
from bot.sidebar.routes import Sidebar
from bot.sop.book import SopBook
from bot.sop.delivery import DeliveryWorker
from bot.sop.robots import RobotKeyMissing
from bot.sop.scheduler import SopScheduler
from bot.store import repo
from bot.store.db import Database
from bot.stores import StoreDirectory
from bot.tags import TagBook
from bot.templating import TemplateLibrary
from bot.web import CallbackEndpoint
from bot.wecom.client import WeComClient
from bot.wecom.crypto import CallbackCrypto
from bot.wecom.errors import WeComError
from bot.wecom.ratelimit import RateLimits

log = logging.getLogger("bot.app")


def load_operator_files(settings: Settings) -> tuple[StoreDirectory, ChannelBook]:
    """Stores and channels from `sop/`, templates from `templates/`; raises with file:line."""
    paths = settings.paths
    stores = StoreDirectory.load(paths.sop_dir / "stores.yaml")
    templates = TemplateLibrary(paths.templates_dir)
    channels = ChannelBook.load(paths.sop_dir / "channels.yaml", templates, stores)
    return stores, channels


def load_sop_book(settings: Settings, stores: StoreDirectory | None = None) -> SopBook:
    """The SOP schedules of `sop/` with their templates; stores.yaml is read again unless
    given (a reload must see an edited store list; the start already has it)."""
    paths = settings.paths
    if stores is None:
        stores = StoreDirectory.load(paths.sop_dir / "stores.yaml")
    return SopBook.load(paths.sop_dir, TemplateLibrary(paths.templates_dir), stores)


@dataclass
class BotRuntime:
    """Everything the running bot holds; built by `startup`, released by `cleanup`."""

    settings: Settings
    secrets: Secrets
    services: Services | None = None
    dispatcher: Dispatcher | None = None
    outbox: DeliveryWorker | None = None
    sop: SopScheduler | None = None
    group_sync: asyncio.Task[None] | None = None
    sidebar: Sidebar | None = None
    replies: LiveLibrary | None = None
    endpoint: CallbackEndpoint = field(init=False)
    recorded: int = 0
    duplicates: int = 0

    def __post_init__(self) -> None:
        crypto = CallbackCrypto(self.secrets.token, self.secrets.aes_key, self.secrets.corp_id)
        self.endpoint = CallbackEndpoint(
            crypto, self.secrets.corp_id, self.accept,
            max_body_bytes=self.settings.server.max_body_bytes,
            timestamp_window_s=self.settings.server.timestamp_window_s)

    async def accept(self, event: Event, received_at: float) -> None:
        """Record (durably, once), then hand to the dispatcher without waiting for it."""
        assert self.services is not None and self.dispatcher is not None
        recorded = await inbox.record(self.services.db, event, received_at)
        if recorded is None:
            self.duplicates += 1
            log.info("redelivery of %s ignored (already recorded)", event.dedupe_key)
            return
        self.recorded += 1
        self.dispatcher.submit(recorded)

    async def startup(self, _app: web.Application | None = None) -> None:
        settings, secrets = self.settings, self.secrets
        stores, channels = load_operator_files(settings)
        db = Database(settings.database.url)
        await asyncio.get_running_loop().run_in_executor(None, db.migrate)
        await db.write(lambda s: repo.sync_directory(s, stores.store_rows(), stores.staff_rows()))
        wecom = WeComClient(
            settings.wecom.api_base_url, secrets.corp_id, secrets.secret,
            limits=RateLimits(settings.wecom.per_api_per_minute, settings.wecom.per_api_per_hour),
            request_timeout_s=settings.wecom.request_timeout_s,
            max_retries=settings.wecom.max_retries)
        tags = TagBook(db, wecom)
        self.services = Services(settings=settings, secrets=secrets, db=db, wecom=wecom,
                                 tags=tags, stores=stores, channels=channels)
        self.dispatcher = Dispatcher(self.services, build_router())
        try:
            await tags.sync()
        except WeComError as exc:  # not fatal: tags are created on demand and re-read later
            log.error("could not read the corp tag list at start: %s", exc)
        self._start_replies()
        await self.dispatcher.replay_pending()
        await self._start_sops()
        if settings.wecom.group_sync_hours > 0:
            self.group_sync = asyncio.get_running_loop().create_task(
                self._sync_groups_when_due(settings.wecom.group_sync_hours * 3600),
                name="group-sync")
        log.info("bot ready: %d stores, %d channels, API %s", len(stores.all()),
                 len(channels.names()), settings.wecom.api_base_url)

    async def _start_sops(self) -> None:
        """The outbox always runs (it finishes what was planned); the scheduler if enabled."""
        assert self.services is not None
        settings = self.settings
        self.outbox = DeliveryWorker(
            self.services.db, self.services.wecom, settings.sop, self._robot_key,
            request_timeout_s=settings.wecom.request_timeout_s)
        self.outbox.start()
        if settings.sop.scheduler:
            self.sop = SopScheduler(self.services.db, settings, lambda: load_sop_book(settings),
                                    self.outbox,
                                    book=load_sop_book(settings, self.services.stores))
            await self.sop.start()

    async def _sync_groups_when_due(self, every_s: float) -> None:
        """Read every customer group back from WeCom at start (unless a sync is recent),
        then every `every_s`: what callbacks missed while the bot was away."""
        assert self.services is not None
        services = self.services
        owners = [str(row["userid"]) for row in services.stores.staff_rows()]
        while True:
            last = await group_sync.last_sync(services.db)
            wait = 0.0 if last is None else last + every_s - time.time()
            if wait > 0:
                await asyncio.sleep(min(wait, 3600.0))
                continue
            try:
                await group_sync.sync_groups(services.db, services.wecom, owners)
            except Exception:  # never let the sync take the bot down; try again later
                log.exception("group sync failed")
                await asyncio.sleep(min(every_s, 600.0))

    def _start_replies(self) -> None:
        """The 话术 library (a broken one stops the start, like channels.yaml), the staff
        commands' messenger, and the sidebar's access to both (bot.replies, bot.sidebar)."""
        assert self.services is not None
        services, settings = self.services, self.settings
        self.replies = LiveLibrary(settings.paths.templates_dir / "replies", services.stores,
                                   settings.replies.reload_poll_s)
        services.replies = RepliesService(services.db, self.replies, services.stores,
                                          settings.replies)
        services.app_messenger = AppMessenger(services.wecom, self.secrets.agent_id,
                                              per_minute=settings.replies.app_msg_per_minute)
        self.replies.start()
        if self.sidebar is not None:
            self.sidebar.attach(services)

    def _robot_key(self, name: str) -> str | None:
        """A robot's webhook key, from the environment variable robots.yaml names."""
        robot = self.sop.book.robots.get(name) if self.sop is not None else None
        if robot is None:
            return None
        try:
            return robot.key()
        except RobotKeyMissing as exc:
            log.error("%s", exc)
            return None

    async def cleanup(self, _app: web.Application | None = None, drain_s: float = 10.0) -> None:
        if self.group_sync is not None:
            self.group_sync.cancel()
            await asyncio.gather(self.group_sync, return_exceptions=True)
        if self.sop is not None:
            await self.sop.stop()
        if self.replies is not None:
            await self.replies.stop()
        if self.outbox is not None:
            await self.outbox.stop()
        if self.dispatcher is not None:
            if not await self.dispatcher.drain(drain_s):
                log.warning("%d events still in progress at stop: they replay at next start",
                            self.dispatcher.busy)
            await self.dispatcher.cancel_all()
        if self.services is not None:
            await self.services.wecom.close()
            await self.services.db.close()


RUNTIME = web.AppKey("runtime", BotRuntime)


def build_app(settings: Settings, secrets: Secrets) -> web.Application:
    runtime = BotRuntime(settings, secrets)
    app = web.Application(client_max_size=settings.server.max_body_bytes)
    app[RUNTIME] = runtime
    app.router.add_routes(runtime.endpoint.routes())
    app.router.add_get("/healthz", _healthz)
    if settings.sidebar.enabled:
        runtime.sidebar = Sidebar(settings, secrets)
        app.router.add_routes(runtime.sidebar.routes())
    app.on_startup.append(runtime.startup)
    app.on_cleanup.append(runtime.cleanup)
    return app


async def _healthz(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})
