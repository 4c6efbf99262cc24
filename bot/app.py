"""Composition: settings + secrets in, a running aiohttp application out.

The path of a callback, file by file: `web.py` (verify, decrypt, parse) → `inbox.py`
(record with its dedupe key, durable before the 200) → `dispatch.py` (route, order by lane,
retry) → `handlers/*` (act) → `wecom/client.py` (call WeCom).

Replicas (docs/deployment.md): every process accepts callbacks and runs the outbox; the
one `bot/replicas.py` elects runs the SOP scheduler. `/healthz` says the process is up,
`/readyz` that it can do its work (database, schema, role), `/metrics` how it goes
(`bot/metrics.py`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from bot import group_sync, inbox
from bot.books.stores import StoreDirectory
from bot.books.templating import TemplateLibrary
from bot.books.watch import stamp_of
from bot.books.yamlfile import OperatorFileError, OperatorFileErrors
from bot.channel_reload import ChannelReloader
from bot.channels import ChannelBook
from bot.config import Secrets, Settings
from bot.db import api_quota, repo
from bot.db.engine import Database, current_revision, head_revision
from bot.dispatch import Dispatcher
from bot.handlers import build_router
from bot.logs import set_context as set_log_context
from bot.metrics import CONTENT_TYPE, BotMetrics, read_snapshot
from bot.outbox.scheduler import SopScheduler, sop_operator_files
from bot.outbox.worker import DeliveryWorker
from bot.replicas import Replica
from bot.replies.library import LiveLibrary
from bot.replies.messenger import AppMessenger
from bot.replies.service import RepliesService
from bot.services import Services
from bot.sidebar.routes import Sidebar
from bot.sop.book import SopBook
from bot.sop.robots import RobotKeyMissing
from bot.tags import TagBook
from bot.wecom.callback import CallbackEndpoint
from bot.wecom.client import WeComClient
from bot.wecom.crypto import CallbackCrypto
from bot.wecom.errors import WeComError
from bot.wecom.events import Event
from bot.wecom.ratelimit import Limits, RateLimits
from bot.wecom.shared_limits import SharedRateLimits

log = logging.getLogger("bot.app")
TAKE_OVER_EVERY_S = 2.0  # PostgreSQL: how often events of a dead replica are looked for


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
    replica: Replica | None = None
    group_sync: asyncio.Task[None] | None = None
    channel_reload: ChannelReloader | None = None
    sidebar: Sidebar | None = None
    replies: LiveLibrary | None = None
    endpoint: CallbackEndpoint = field(init=False)
    metrics: BotMetrics = field(init=False)
    recorded: int = 0
    duplicates: int = 0
    _book: SopBook | None = None  # for robot keys on a replica that does not schedule
    _take_over: asyncio.Task[None] | None = None
    _sop_start: asyncio.Task[None] | None = None
    sop_error: str | None = None  # why the SOP book could not be loaded at start

    def __post_init__(self) -> None:
        self.metrics = BotMetrics(self._metrics_state)
        crypto = CallbackCrypto(self.secrets.token, self.secrets.aes_key, self.secrets.corp_id)
        self.endpoint = CallbackEndpoint(
            crypto, self.secrets.corp_id, self.accept,
            max_body_bytes=self.settings.server.max_body_bytes,
            timestamp_window_s=self.settings.server.timestamp_window_s)

    async def accept(self, event: Event, received_at: float) -> None:
        """Record (durably, once), then hand to the dispatcher without waiting for it."""
        assert self.services is not None and self.dispatcher is not None
        assert self.replica is not None
        recorded = await inbox.record(self.services.db, event, received_at, self.replica.id)
        if recorded is None:
            self.duplicates += 1
            self.metrics.callback(event.kind, "duplicate", received_at)
            log.info("redelivery of %s ignored (already recorded)", event.dedupe_key,
                     extra={"dedupe_key": event.dedupe_key})
            return
        self.recorded += 1
        self.metrics.callback(event.kind, "recorded", received_at)
        log.debug("recorded %s as event %d", event.kind, recorded.event_id,
                  extra={"dedupe_key": event.dedupe_key})
        self.dispatcher.submit(recorded)

    async def startup(self, _app: web.Application | None = None) -> None:
        settings, secrets = self.settings, self.secrets
        stores, channels = load_operator_files(settings)
        db = Database(settings.database.url)
        await asyncio.get_running_loop().run_in_executor(None, db.migrate)
        await db.write(lambda s: repo.sync_directory(s, stores.store_rows(), stores.staff_rows()))
        self.replica = Replica(db, settings.replicas, on_elected=self._lead,
                               on_deposed=self._follow)
        wecom = WeComClient(
            settings.wecom.api_base_url, secrets.corp_id, secrets.secret,
            limits=self._limits(db), request_timeout_s=settings.wecom.request_timeout_s,
            max_retries=settings.wecom.max_retries)
        wecom.observer = self.metrics.api_call
        tags = TagBook(db, wecom)
        self.services = Services(settings=settings, secrets=secrets, db=db, wecom=wecom,
                                 tags=tags, stores=stores, channels=channels)
        self.dispatcher = Dispatcher(self.services, build_router())
        try:
            await tags.sync()
        except WeComError as exc:  # not fatal: tags are created on demand and re-read later
            log.error("could not read the corp tag list at start: %s", exc)
        self._start_replies()
        self.channel_reload = ChannelReloader(
            self.services, settings.paths.sop_dir, settings.paths.templates_dir,
            lambda: load_operator_files(settings), settings.sop.reload_poll_s)
        self.channel_reload.start()
        set_log_context(replica=self.replica.id)
        await self.replica.start()  # liveness first: what this replica claims is its own
        await self.dispatcher.replay_pending(self.replica.id)
        if db.is_postgres:
            self._take_over = asyncio.get_running_loop().create_task(
                self._take_over_loop(), name="inbox-take-over")
        self.outbox = DeliveryWorker(
            db, wecom, settings.sop, self._robot_key,
            request_timeout_s=settings.wecom.request_timeout_s, replica_id=self.replica.id,
            agent_id=self.secrets.agent_id, app_limits=self.services.app_messenger)
        self.outbox.start()  # every replica: it finishes what was planned
        if self.replica.is_leader:
            await self._lead()
        log.info("bot ready: %d stores, %d channels, API %s, replica %s (%s)",
                 len(stores.all()), len(channels.names()), settings.wecom.api_base_url,
                 self.replica.id, self.replica.role)

    def _limits(self, db: Database) -> Limits:
        """Per-API quotas: counted for the whole deployment on PostgreSQL (several
        replicas), in this process on SQLite (there is only one)."""
        wecom, replicas = self.settings.wecom, self.settings.replicas
        if not (db.is_postgres and replicas.shared_quota):
            return RateLimits(wecom.per_api_per_minute, wecom.per_api_per_hour)

        async def reserve(api: str, windows: Any, n: int) -> api_quota.Grant:
            now = time.time()
            return await db.write(lambda c: api_quota.reserve(c, api, windows, n, now))

        return SharedRateLimits(reserve, wecom.per_api_per_minute, wecom.per_api_per_hour,
                                replicas.quota_block)

    async def _take_over_loop(self) -> None:
        """Events recorded by a replica that died before handling them: taken over here."""
        assert self.dispatcher is not None and self.replica is not None
        while True:
            await asyncio.sleep(TAKE_OVER_EVERY_S)
            try:
                await self.dispatcher.replay_pending(self.replica.id)
            except Exception:
                log.exception("looking for events left by a stopped replica failed")

    async def _lead(self) -> None:
        """This replica was elected (or is alone): run the SOP scheduler, if enabled, and
        the periodic group sync (one replica reading every group back is enough)."""
        if self.outbox is None or self.services is None:
            return  # still starting: startup calls this again once the outbox runs
        settings = self.settings
        if settings.wecom.group_sync_hours > 0 and self.group_sync is None:
            self.group_sync = asyncio.get_running_loop().create_task(
                self._sync_groups_when_due(settings.wecom.group_sync_hours * 3600),
                name="group-sync")
        if settings.sop.scheduler and self.sop is None and self._sop_start is None:
            self._sop_start = asyncio.get_running_loop().create_task(
                self._start_scheduler(), name="sop-start")

    async def _start_scheduler(self) -> None:
        """Load the SOP book and start the scheduler, off the start's critical path.

        Checking the book test-renders every store (8 s for 10,000 stores, measured by
        scripts/bench_sop_book.py), and WeCom's callbacks must not wait for it: a customer
        who scans while the bot starts has a WelcomeCode that dies in 20 s. So the bot
        serves callbacks first and loads the book on a thread meanwhile. A book with
        errors is logged with file:line and tried again whenever the files change; welcomes
        and the outbox keep going, and /readyz says `sop: failed`.
        """
        assert self.services is not None and self.outbox is not None
        settings, services, outbox = self.settings, self.services, self.outbox
        loop = asyncio.get_running_loop()
        stores: StoreDirectory | None = services.stores  # a retry reads stores.yaml anew
        try:
            while True:
                stamp = stamp_of(sop_operator_files(settings))  # before: edits during count
                try:
                    book = await loop.run_in_executor(None, load_sop_book, settings, stores)
                    break
                except (OperatorFileError, OperatorFileErrors) as exc:
                    stores = None
                    self.sop_error = str(exc).splitlines()[-1].strip()
                    log.error("SOP files have errors: no SOP is scheduled until they are "
                              "fixed (the bot keeps welcoming):\n%s", exc)
                while True:  # try again once an operator has changed something
                    await asyncio.sleep(settings.sop.reload_poll_s)
                    if stamp_of(sop_operator_files(settings)) != stamp:
                        break
            sop = SopScheduler(services.db, settings, lambda: load_sop_book(settings), outbox,
                               book=book)
            try:
                await sop.start()  # its first sweep done: then it counts as running
            except BaseException:  # cancelled (stopping, or leadership lost) or failed
                await sop.stop()
                raise
            self.sop, self.sop_error = sop, None
        finally:
            self._sop_start = None

    async def _follow(self) -> None:
        """Leadership lost (or stopping): stop firing slots and syncing groups; sends and
        callbacks keep going."""
        sync, self.group_sync = self.group_sync, None
        if sync is not None:
            sync.cancel()
            await asyncio.gather(sync, return_exceptions=True)
        starting, self._sop_start = self._sop_start, None
        if starting is not None:
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
        sop, self.sop = self.sop, None
        if sop is not None:
            self._book = sop.book
            await sop.stop()

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
        book = self.sop.book if self.sop is not None else self._book
        if book is None or name not in book.robots:
            try:  # a replica that does not schedule still posts what the leader planned
                book = self._book = load_sop_book(self.settings)
            except Exception:
                log.exception("cannot read the robots of the SOP files")
                return None
        robot = book.robots.get(name)
        if robot is None:
            return None
        try:
            return robot.key()
        except RobotKeyMissing as exc:
            log.error("%s", exc)
            return None

    async def cleanup(self, _app: web.Application | None = None, drain_s: float = 10.0) -> None:
        if self.channel_reload is not None:
            await self.channel_reload.stop()
        if self._take_over is not None:
            self._take_over.cancel()
            await asyncio.gather(self._take_over, return_exceptions=True)
        await self._follow()  # the scheduler and the group sync, if this replica leads
        if self.replies is not None:
            await self.replies.stop()
        if self.outbox is not None:
            await self.outbox.stop()
        if self.dispatcher is not None:
            if not await self.dispatcher.drain(drain_s):
                log.warning("%d events still in progress at stop: they replay at next start",
                            self.dispatcher.busy)
            await self.dispatcher.cancel_all()
        if self.replica is not None:  # last: our claims stay ours until work has stopped
            await self.replica.stop()
        if self.services is not None:
            await self.services.wecom.close()
            await self.services.db.close()


    # -- readiness and metrics (transport-free: plain values; the handlers below wrap them) --

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        """Database reachable, schema at this code's newest migration, scheduler role."""
        report: dict[str, Any] = {
            "replica": self.replica.id if self.replica else None,
            "scheduler": self.replica.role if self.replica else "starting",
            "sop": self._sop_state()}
        if self.services is None:
            return False, {**report, "database": "starting"}
        try:
            current = await asyncio.wait_for(self.services.db.read(current_revision), 3.0)
        except Exception as exc:
            return False, {**report, "database": f"unreachable: {type(exc).__name__}"}
        head = head_revision()
        report.update(database="ok", migration=current, expected_migration=head)
        return current == head, report

    def _sop_state(self) -> str:
        """running | loading (the book is being checked) | failed: <first problem> | off."""
        if self.sop is not None:
            return "running"
        if self._sop_start is not None:
            return f"failed: {self.sop_error}" if self.sop_error else "loading"
        return "off"  # a follower, or [sop] scheduler = false

    def _metrics_state(self) -> dict[str, Any]:
        return {"leader": bool(self.replica and self.replica.is_leader),
                "refused": self.endpoint.refused,
                "busy": self.dispatcher.busy if self.dispatcher else 0}

    async def readyz(self, _request: web.Request) -> web.Response:
        ready, report = await self.readiness()
        return web.json_response({"status": "ready" if ready else "not ready", **report},
                                 status=200 if ready else 503)

    async def metrics_page(self, _request: web.Request) -> web.Response:
        if self.services is not None:
            with contextlib.suppress(Exception):  # a scrape during a database outage
                self.metrics.snapshot = await asyncio.wait_for(
                    self.services.db.read(read_snapshot), 5.0)
        return web.Response(body=self.metrics.render(),
                            headers={"Content-Type": CONTENT_TYPE})


RUNTIME = web.AppKey("runtime", BotRuntime)


def build_app(settings: Settings, secrets: Secrets) -> web.Application:
    runtime = BotRuntime(settings, secrets)
    app = web.Application(client_max_size=settings.server.max_body_bytes)
    app[RUNTIME] = runtime
    app.router.add_routes(runtime.endpoint.routes())
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", runtime.readyz)
    app.router.add_get("/metrics", runtime.metrics_page)
    if settings.sidebar.enabled:
        runtime.sidebar = Sidebar(settings, secrets)
        app.router.add_routes(runtime.sidebar.routes())
    app.on_startup.append(runtime.startup)
    app.on_cleanup.append(runtime.cleanup)
    return app


async def _healthz(_request: web.Request) -> web.Response:
    """Liveness: the process answers. Restart it if this fails; nothing else is checked."""
    return web.json_response({"status": "ok"})
