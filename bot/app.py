"""Composition: settings + secrets in, a running aiohttp application out.

The path of a callback, file by file: `wecom/callback.py` (verify, decrypt, parse) →
`dispatch.py` (record in `inbox.py` with its dedupe key, durable before the 200; route,
order by lane, retry) → `handlers/*` (act) → `wecom/client.py` (call WeCom).

Replicas (docs/deployment.md): every process accepts callbacks and runs the outbox; the
one `bot/replicas.py` elects does `bot/leader.py`'s work (the SOP scheduler, the group
sync). `bot/health.py` answers `/healthz`, `/readyz` and `/metrics`. The operator books
(channels, 话术, SOPs) reload on edit: `bot/operator_books.py`.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from aiohttp import web

from bot import health, heap
from bot.config import Secrets, Settings
from bot.console.routes import add_console_routes
from bot.db.engine import Database
from bot.dispatch import Dispatcher
from bot.logs import set_context as set_log_context
from bot.media.cache import MediaCache
from bot.members import routes as member_routes
from bot.members.service import Members, build_members
from bot.metrics import BotMetrics
from bot.replicas import Replica
from bot.sidebar.routes import Sidebar
from bot.wecom.callback import CallbackEndpoint
from bot.wecom.crypto import CallbackCrypto
from bot.wecom.events import Event

if TYPE_CHECKING:  # imported by `_start`, after the port is open (see `startup`)
    from bot.books.live import LiveBook
    from bot.books.stores import StoreDirectory
    from bot.channels import ChannelBook
    from bot.leader import Leader
    from bot.outbox.scheduler import SopScheduler
    from bot.outbox.worker import DeliveryWorker
    from bot.replies.library import ReplyLibrary
    from bot.replies.messenger import AppMessenger
    from bot.services import Services
    from bot.wecom.client import WeComClient
    from bot.wecom.ratelimit import Limits

# What only the work after the start needs: imported on a thread once the port is open, so
# that a restart does not wait for it (about half of the bot's import time).
AFTER_LISTENING = ("bot.leader", "bot.operator_books", "bot.outbox.worker", "bot.handlers",
                   "bot.services", "bot.tags", "bot.replies.service", "bot.replies.messenger",
                   "bot.wecom.client", "bot.wecom.shared_limits", "bot.db.repo",
                   "bot.db.api_quota")


def __getattr__(name: str) -> Any:
    """`load_operator_files` and `load_sop_book`, as before, without importing them early."""
    if name in ("load_operator_files", "load_sop_book"):
        from bot import operator_books

        return getattr(operator_books, name)
    raise AttributeError(name)


__all__ = ["RUNTIME", "BotRuntime", "build_app"]  # and, lazily, load_sop_book, load_operator_files
log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True)
class Running:
    """What `startup` builds, whole; `cleanup` releases it in order."""

    services: Services
    dispatcher: Dispatcher
    replica: Replica
    outbox: DeliveryWorker
    leader: Leader
    channels: LiveBook[ChannelBook]
    replies: LiveBook[ReplyLibrary]


@dataclass(frozen=True)
class _Early:
    """What the start runs before the books are read: released by `cleanup` if the start
    stops before `Running` exists."""

    replica: Replica
    outbox: DeliveryWorker
    wecom: WeComClient


class _Part(Generic[T]):
    """One part of `Running` as an attribute of the runtime; None before the start."""

    def __init__(self, part: Callable[[Running], T]) -> None:
        self.part = part

    def __get__(self, runtime: BotRuntime, owner: type | None = None) -> T | None:
        return self.part(runtime.running) if runtime.running is not None else None


class BotRuntime:
    """The running bot: built by `startup`, released by `cleanup`."""

    def __init__(self, settings: Settings, secrets: Secrets) -> None:
        self.settings = settings
        self.secrets = secrets
        self.running: Running | None = None
        self.sidebar: Sidebar | None = None
        self.members: Members | None = None  # bot.members: till purchases, levels, tags
        self.metrics = BotMetrics(lambda: health.metrics_state(self))
        crypto = CallbackCrypto(secrets.token, secrets.aes_key, secrets.corp_id)
        self.endpoint = CallbackEndpoint(
            crypto, secrets.corp_id, self._accept,
            max_body_bytes=settings.server.max_body_bytes,
            timestamp_window_s=settings.server.timestamp_window_s)
        self._take_over: asyncio.Task[None] | None = None
        self._dispatcher: Dispatcher | None = None
        self._early: _Early | None = None
        self._starting: asyncio.Task[None] | None = None
        self.start_error: BaseException | None = None
        self.on_start_failed: Callable[[BaseException], None] | None = None  # bot run: exit

    async def _accept(self, event: Event, received_at: float) -> None:
        """The endpoint serves once `startup` has run (aiohttp's order): from then on every
        event is recorded, and handled once `_start` has finished."""
        assert self._dispatcher is not None
        await self._dispatcher.accept(event, received_at)

    async def startup(self, _app: web.Application | None = None) -> None:
        """Only what recording a callback needs: the database at this code's schema, and
        this replica's id. The rest starts in `_start`, while callbacks are accepted.

        Why: a customer who scans while the bot restarts has a WelcomeCode that dies 20 s
        later, and WeCom counts a refused callback as a failed delivery. Reading the
        operator books, the token and the tag list, the election and the replay took most
        of a second at demo size and seconds at 10,000 stores, all with the port closed.
        Now a callback that comes meanwhile is recorded (durable, deduped, before its 200)
        and welcomed as soon as the channel book is there (docs/capacity.md).
        """
        db = Database(self.settings.database.url,
                      writer_process=self.settings.database.writer_process)
        await asyncio.get_running_loop().run_in_executor(None, db.migrate)
        replica = Replica(db, self.settings.replicas)
        self._dispatcher = Dispatcher(None, None, replica_id=replica.id,
                                      observe=self.metrics.callback, db=db)
        self._starting = asyncio.get_running_loop().create_task(
            self._start(db, replica, self._dispatcher), name="bot-start")

    async def started(self) -> None:
        """Until the whole start is done (raises what stopped it)."""
        if self._starting is not None:
            await asyncio.shield(self._starting)

    async def _start(self, db: Database, replica: Replica, dispatcher: Dispatcher) -> None:
        try:
            await self._start_rest(db, replica, dispatcher)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self.start_error = exc
            log.critical("the bot cannot start: %s", exc)
            if self.on_start_failed is not None:
                self.on_start_failed(exc)
            raise

    async def _start_rest(self, db: Database, replica: Replica, dispatcher: Dispatcher
                          ) -> None:
        settings, secrets = self.settings, self.secrets
        loop = asyncio.get_running_loop()
        # on a thread: the loop keeps recording callbacks while modules and files are read
        for module in AFTER_LISTENING:
            await loop.run_in_executor(None, importlib.import_module, module)
        from bot.db import repo
        from bot.handlers import build_router
        from bot.leader import Leader, RobotKeys, take_over_loop
        from bot.operator_books import live_channels, live_replies
        from bot.outbox.worker import DeliveryWorker

        wecom, messenger = self._wecom(db)
        robots = RobotKeys(settings)
        outbox = DeliveryWorker(
            db, wecom, settings.sop, robots,
            request_timeout_s=settings.wecom.request_timeout_s, replica_id=replica.id,
            agent_id=secrets.agent_id, app_limits=messenger)
        leader = Leader(settings, outbox, robots)
        set_log_context(replica=replica.id)
        self._early = _Early(replica, outbox, wecom)
        # liveness first: what this replica claims is its own
        await replica.start(on_elected=leader.lead, on_deposed=leader.follow)
        # Every replica finishes what was planned. The outbox needs only the database and
        # WeCom, so the sends a restart interrupted go on while the books are read (at
        # 10,000 stores they waited 3 s more: bench_fanout's kill phase).
        outbox.start()
        stores, channels = await loop.run_in_executor(None, live_channels, settings)
        replies = await loop.run_in_executor(None, live_replies, settings, stores)
        await db.write(lambda s: repo.sync_directory(s, stores.store_rows(), stores.staff_rows()))
        services = await self._services(db, stores, channels, replies, wecom, messenger)
        if self.sidebar is not None:
            self.sidebar.attach(services)
        channels.start()
        replies.start()
        self.members = build_members(services, replica.id)
        if self.members is not None:
            self.members.start()
        await dispatcher.replay_pending(replica.id)
        held = await dispatcher.open(services, build_router())
        self.running = Running(services, dispatcher, replica, outbox, leader, channels, replies)
        self._early = None
        if db.is_postgres:
            self._take_over = loop.create_task(take_over_loop(dispatcher, replica.id),
                                               name="inbox-take-over")
        await leader.serve(services, replica.is_leader)
        heap.settle()  # the books are read: freeze them (bot/heap.py)
        log.info("bot ready: %d stores, %d channels, API %s, replica %s (%s); %d callbacks "
                 "taken while starting", len(stores.all()), len(services.channels.names()),
                 settings.wecom.api_base_url, replica.id, replica.role, held)

    def _wecom(self, db: Database) -> tuple[WeComClient, AppMessenger]:
        """WeCom's client and the staff messages' pacer (bot.replies, bot.sidebar, the
        outbox's reminders): no call is made yet."""
        from bot.replies.messenger import AppMessenger
        from bot.wecom.client import WeComClient

        settings, secrets = self.settings, self.secrets
        wecom = WeComClient(
            settings.wecom.api_base_url, secrets.corp_id, secrets.secret,
            limits=self._limits(db), request_timeout_s=settings.wecom.request_timeout_s,
            max_retries=settings.wecom.max_retries)
        wecom.observer = self.metrics.api_call
        return wecom, AppMessenger(wecom, secrets.agent_id,
                                   per_minute=settings.replies.app_msg_per_minute)

    async def _services(self, db: Database, stores: StoreDirectory,
                        channels: LiveBook[ChannelBook], replies: LiveBook[ReplyLibrary],
                        wecom: WeComClient, messenger: AppMessenger) -> Services:
        """The tag book and the 话术 service, and with them `Services`, whole."""
        from bot.replies.service import RepliesService
        from bot.services import Services
        from bot.tags import TagBook
        from bot.wecom.errors import WeComError

        settings, secrets = self.settings, self.secrets
        tags = TagBook(db, wecom)
        try:
            await tags.sync()
        except WeComError as exc:  # not fatal: tags are created on demand and re-read later
            log.error("could not read the corp tag list at start: %s", exc)
        return Services(
            settings=settings, secrets=secrets, db=db, wecom=wecom, tags=tags, stores=stores,
            live_channels=channels,
            replies=RepliesService(db, replies, stores, settings.replies),
            app_messenger=messenger,
            media=MediaCache(db, wecom, settings.paths.sop_dir))

    def _limits(self, db: Database) -> Limits:
        """Per-API quotas: counted for the whole deployment on PostgreSQL (several
        replicas), in this process on SQLite (there is only one)."""
        from bot.db import api_quota
        from bot.wecom.ratelimit import RateLimits
        from bot.wecom.shared_limits import SharedRateLimits

        wecom, replicas = self.settings.wecom, self.settings.replicas
        if not (db.is_postgres and replicas.shared_quota):
            return RateLimits(wecom.per_api_per_minute, wecom.per_api_per_hour)

        async def reserve(api: str, windows: Any, n: int) -> api_quota.Grant:
            now = time.time()
            return await db.write(lambda c: api_quota.reserve(c, api, windows, n, now))

        return SharedRateLimits(reserve, wecom.per_api_per_minute, wecom.per_api_per_hour,
                                replicas.quota_block)

    async def cleanup(self, _app: web.Application | None = None, drain_s: float = 10.0) -> None:
        starting, self._starting = self._starting, None
        if starting is not None and not starting.done():
            starting.cancel()  # what was accepted meanwhile stays pending: replayed at start
        if starting is not None:
            await asyncio.gather(starting, return_exceptions=True)
        running = self.running
        if running is None:
            await self._cleanup_partial()
            return
        await running.channels.stop()
        if self.members is not None:
            await self.members.stop()
        if self._take_over is not None:
            self._take_over.cancel()
            await asyncio.gather(self._take_over, return_exceptions=True)
        await running.leader.follow()  # the scheduler and the group sync, if this replica leads
        await running.replies.stop()
        await running.outbox.stop()
        if not await running.dispatcher.drain(drain_s):
            log.warning("%d events still in progress at stop: they replay at next start",
                        running.dispatcher.busy)
        await running.dispatcher.cancel_all()
        await running.replica.stop()  # last: our claims stay ours until work has stopped
        await running.services.wecom.close()
        await running.services.db.close()
        log.info("bot stopped: replica %s finished its work and left", running.replica.id)

    async def _cleanup_partial(self) -> None:
        """Stopped (or failed) before the start was done: release what `startup` and the
        start's first steps opened."""
        early, self._early = self._early, None
        if early is not None:  # the leader leads only once it serves: nothing to stop
            await early.outbox.stop()
            await early.replica.stop()
            await early.wecom.close()
        dispatcher, self._dispatcher = self._dispatcher, None
        if dispatcher is not None:
            await dispatcher.cancel_all()
            await dispatcher.db.close()

    # -- what tests, the demo and scripts look at -----------------------------------------

    services = _Part(lambda r: r.services)
    dispatcher = _Part(lambda r: r.dispatcher)
    replica = _Part(lambda r: r.replica)
    outbox = _Part(lambda r: r.outbox)
    channel_reload = _Part(lambda r: r.channels)
    replies = _Part(lambda r: r.replies)

    @property
    def sop(self) -> SopScheduler | None:
        return self.running.leader.sop if self.running else None

    @sop.setter
    def sop(self, scheduler: SopScheduler) -> None:
        assert self.running is not None
        self.running.leader.adopt(scheduler)

    @property
    def recorded(self) -> int:
        return self.running.dispatcher.recorded if self.running else 0

    @property
    def duplicates(self) -> int:
        return self.running.dispatcher.duplicates if self.running else 0


RUNTIME = web.AppKey("runtime", BotRuntime)


def exit_if_start_fails(runtime: BotRuntime) -> None:
    """`bot run`: a start that fails after the port opened (a broken channel book, say)
    stops the process, as one that fails before it does (aiohttp's own graceful exit)."""

    def stop(_exc: BaseException) -> None:
        def graceful_exit() -> None:
            raise web.GracefulExit()

        asyncio.get_running_loop().call_soon(graceful_exit)

    runtime.on_start_failed = stop


def build_app(settings: Settings, secrets: Secrets) -> web.Application:
    runtime = BotRuntime(settings, secrets)
    app = web.Application(client_max_size=settings.server.max_body_bytes)
    app[RUNTIME] = runtime
    app.router.add_routes(runtime.endpoint.routes())
    app.router.add_routes(health.routes(runtime))
    app.router.add_routes(member_routes.routes(lambda: runtime.members))
    app.router.add_routes(member_routes.staff_routes(runtime))
    if settings.sidebar.enabled:
        runtime.sidebar = Sidebar(settings, secrets)
        app.router.add_routes(runtime.sidebar.routes())
    app.on_startup.append(runtime.startup)
    app.on_cleanup.append(runtime.cleanup)
    add_console_routes(app, runtime)  # /console; its rollup job runs once the bot has started
    return app
