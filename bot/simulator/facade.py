"""`Simulator`: one object that is the simulated WeCom for tests, the demo and benchmarks.

It wires the pieces together — `World` (state), `CgiBin` (the API), `GroupSends` and
`Robots` (群发 and group robots, both writing to one `Inbox` of what groups saw),
`CallbackPusher`, rate limits and faults, the /sim/ control routes — and re-exposes the
world actions as methods, so a test reads like a story: a customer scans, the bot gets a
callback, the bot calls the API, the test checks what the customer received.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from aiohttp import web

from bot.loop import app_runner
from bot.wecom.crypto import CallbackCrypto

from .api import CallRecord, CgiBin
from .auth import TokenStore
from .callbacks import CallbackPusher, DeliveryRecord
from .client import ChatMessage, ClientSim
from .contact_ways import Codes, register_code_routes
from .control import register_control
from .faults import FaultInjector, FaultPlan, RateLimiter, normalise_path
from .groupsend import GroupSend, GroupSends
from .groupsend_api import GroupSendApi
from .media import MAX_UPLOAD_BYTES, SimMedia
from .moments import Moments
from .options import SimOptions
from .records import GroupMessage, Inbox
from .remarks import Remarks
from .robots import Robots
from .state import AppMessage, Scene, WelcomeRecord, World
from .statistics import GroupStatistics
from .web_login import register_web_login


class Simulator:
    """The simulated WeCom: serves /cgi-bin/ and /sim/, pushes callbacks to `callback_url`."""

    def __init__(self, corp_id: str, secret: str, token: str, aes_key: str,
                 agent_id: int = 1000002, callback_url: str | None = None,
                 options: SimOptions | None = None) -> None:
        self.options = options or SimOptions()
        self.corp_id = corp_id
        self.agent_id = agent_id
        # Internal-app callbacks carry the CorpID as receive id (reference §1.5).
        self.crypto = CallbackCrypto(token, aes_key, corp_id)
        self._pusher = CallbackPusher(self.crypto, corp_id, self.options, callback_url)
        self.world = World(corp_id, agent_id, self.options, self._pusher.push)
        self.tokens = TokenStore(corp_id, secret, self.options, self.world.new_token)
        self._injector = FaultInjector(self.options.faults, self.options.seed)
        self._limiter = RateLimiter(lambda: self.options.per_api_per_minute,
                                    lambda: self.options.rate_window_s)
        self._api = CgiBin(self.world, self.tokens, self.options, self._injector,
                           self._limiter)
        self.inbox = Inbox()  # what every group (and customer) received from 群发 and robots
        self._groupsends = GroupSends(self.world, self.inbox, self.options)
        self._robots = Robots(self.world, self.inbox, self.options, self._groupsends.advance)
        self.media = SimMedia(self.world, lambda: self.url)  # uploads and hosted pictures
        self._api.add_routes(self.media.routes())
        self._api.media = self.media
        self._api.add_routes(GroupSendApi(self.world, self._groupsends, self.media).routes())
        self._api.add_routes(self._robots.routes(), tokenless=True)
        self._api.add_routes(Remarks(self.world).routes())  # externalcontact/remark
        # the staff member's client: OAuth2 login, JS-SDK tickets, the sidebar's JS bridge
        self.client = ClientSim(self.world, corp_id, agent_id, inbox=self.inbox)
        self._api.add_routes(self.client.api_routes())
        self.codes = Codes(self.world, self.options)  # 「联系我」, 「加入群聊」, 入群欢迎语
        self._api.add_routes(self.codes.routes())
        self.statistics = GroupStatistics(self.world, self.inbox)  # groupchat/statistic*
        self._api.add_routes(self.statistics.routes())
        self.moments = Moments(self.world, self.options)  # 客户朋友圈 and upload_attachment
        self._api.add_routes(self.moments.routes())
        self.app = web.Application(client_max_size=MAX_UPLOAD_BYTES)  # media/upload: files
        self._api.register(self.app)
        self.client.register(self.app)
        self.media.register(self.app)
        register_code_routes(self.app, self.codes)
        register_web_login(self.app, self.client)
        register_control(self.app, self)
        self.app.on_startup.append(self._on_startup)
        self.app.on_cleanup.append(self._on_cleanup)
        self._runner: web.AppRunner | None = None
        self.url: str | None = None  # "http://127.0.0.1:PORT", known after start()

    # -- lifecycle -----------------------------------------------------------------------

    async def _on_startup(self, app: web.Application) -> None:
        await self._pusher.start()

    async def _on_cleanup(self, app: web.Application) -> None:
        await self._pusher.stop()

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve on host:port (0 = a free port); `url` and `base_url` tell where."""
        runner = app_runner(self.app)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        self.url = f"http://{bound_host}:{bound_port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def base_url(self) -> str:
        """The api_base_url to give the bot: ".../cgi-bin/"."""
        if self.url is None:
            raise RuntimeError("simulator not started")
        return f"{self.url}/cgi-bin/"

    # -- callbacks -----------------------------------------------------------------------

    @property
    def callback_url(self) -> str | None:
        return self._pusher.url

    @callback_url.setter
    def callback_url(self, url: str | None) -> None:
        self._pusher.url = url  # queued callbacks start flowing once a URL is set

    @property
    def deliveries(self) -> list[DeliveryRecord]:
        return self._pusher.deliveries

    @property
    def pending_callbacks(self) -> int:
        return self._pusher.pending

    async def wait_callbacks_delivered(self, timeout: float | None = 10.0) -> None:  # noqa: ASYNC109
        """Until every queued callback was delivered or given up; TimeoutError otherwise."""
        await self._pusher.wait_idle(timeout)

    # -- world actions (each queues the callback WeCom would send) --------------------------

    def add_staff(self, userid: str, name: str) -> None:
        self.world.add_staff(userid, name)

    def scan_contact_qr(self, userid: str, state: str, name: str,
                        external_userid: str | None = None, half: bool = False,
                        with_welcome_code: bool = True) -> tuple[str, str | None]:
        return self.world.scan_contact_qr(userid, state, name, external_userid, half=half,
                                          with_welcome_code=with_welcome_code)

    def scan_code(self, code: str, name: str, external_userid: str | None = None
                  ) -> dict[str, Any]:
        """A customer scans a code the API made (its QR content, qr_code URL or config_id):
        a contact way adds its staff member (add_external_contact with State and
        WelcomeCode), a join way puts them in a group (add_member callback; the state shows
        in groupchat/get `join_state_delay_s` later). ValueError for a deleted code."""
        return self.codes.scan(code, name, external_userid)

    def staff_confirms_contact(self, userid: str, external_userid: str) -> None:
        self.world.staff_confirms_contact(userid, external_userid)

    def prepare_contacts(self, userid: str, count: int, state: str,
                         scan_in_s: Sequence[float] = ()) -> list[dict[str, str]]:
        return self.world.prepare_contacts(userid, count, state, scan_in_s)

    def customer_agrees_to_archiving(self, userid: str, external_userid: str,
                                     with_welcome_code: bool = True) -> str | None:
        return self.world.customer_agrees_to_archiving(userid, external_userid,
                                                       with_welcome_code=with_welcome_code)

    def customer_deletes_staff(self, userid: str, external_userid: str) -> None:
        self.world.customer_deletes_staff(userid, external_userid)

    def bulk_follow(self, external_userid: str, name: str, userids: Sequence[str]) -> None:
        self.world.bulk_follow(external_userid, name, userids)

    def staff_deletes_customer(self, userid: str, external_userid: str, source: str = "") -> None:
        self.world.staff_deletes_customer(userid, external_userid, source)

    def edit_contact_tags(self, userid: str, external_userid: str,
                          add_tag_ids: Iterable[str] = (),
                          remove_tag_ids: Iterable[str] = ()) -> None:
        self.world.edit_contact_tags(userid, external_userid, add_tag_ids, remove_tag_ids)

    def admin_add_tag(self, group_name: str, tag_name: str) -> str:
        return self.world.admin_add_tag(group_name, tag_name)

    def admin_edit_tag(self, tag_id: str, name: str) -> None:
        self.world.admin_edit_tag(tag_id, name)

    def admin_delete_tag(self, tag_id: str) -> None:
        self.world.admin_delete_tag(tag_id)

    def admin_shuffle_tags(self, group_id: str = "") -> None:
        self.world.admin_shuffle_tags(group_id)

    def create_group(self, owner: str, name: str, chat_id: str | None = None) -> str:
        return self.world.create_group(owner, name, chat_id)

    def join_group(self, chat_id: str, member_id: str, scene: Scene,
                   invitor: str | None = None, name: str | None = None) -> str:
        """One member joins; returns the new member_version (the callback's CurMemVer)."""
        return self.world.join_group_many(chat_id, [member_id], scene, invitor, [name])

    def join_group_many(self, chat_id: str, member_ids: Sequence[str], scene: Scene,
                        invitor: str | None = None) -> str:
        return self.world.join_group_many(chat_id, member_ids, scene, invitor)

    def leave_group(self, chat_id: str, member_id: str, removed: bool = False) -> str:
        return self.world.leave_group(chat_id, member_id, removed)

    def rename_group(self, chat_id: str, name: str) -> None:
        self.world.rename_group(chat_id, name)

    def dismiss_group(self, chat_id: str) -> None:
        self.world.dismiss_group(chat_id)

    def staff_sends_app_text(self, userid: str, content: str) -> str:
        return self.world.staff_sends_app_text(userid, content)

    def staff_enters_app(self, userid: str) -> None:
        self.world.staff_enters_app(userid)

    def bulk_create_groups(self, rows: Iterable[tuple[str, str, str]]) -> int:
        """(chat_id, owner, name) rows, no callbacks: benchmark set-up. Owners must exist."""
        return self.world.bulk_create_groups(rows)

    # -- 群发: what the members do in the client ---------------------------------------------

    def confirm_groupsend(self, msgid: str, userid: str) -> int:
        """`userid` sends their part of `msgid` now; returns how many recipients got it
        (0 when cancelled or already sent). ValueError for an unknown msgid or member."""
        return self._groupsends.confirm(msgid, userid)

    def refuse_groupsend(self, msgid: str, userid: str) -> None:
        """`userid` will not send `msgid`: not by themselves and not when reminded."""
        self._groupsends.refuse(msgid, userid)

    def confirm_pending_groupsends(self, everyone: bool = False) -> int:
        """Clock-free: every owner due to confirm does so now; `everyone` adds the owners
        outside `groupsend_confirm_share` (not those who refused). Returns tasks sent."""
        return self._groupsends.confirm_pending(everyone)

    def staff_sends_personal_groupsend(self, userid: str, text: str,
                                       chat_ids: Sequence[str] = (),
                                       external_userids: Sequence[str] = (),
                                       attachments: Sequence[dict[str, Any]] = ()) -> str:
        """A member's own 群发 (个人发表, create_type 1), sent at once; uses the quota."""
        return self._groupsends.personal(userid, text, attachments, chat_ids,
                                         external_userids).msgid

    # -- 客户朋友圈: what staff do in the client ----------------------------------------------

    def staff_posts_moment(self, moment_id: str, userid: str) -> None:
        """`userid` confirms their moment task: get_moment_task shows publish_status 1."""
        self.moments.staff_posts(moment_id, userid)

    def unposted_moments(self) -> list[tuple[str, str]]:
        """(moment_id, userid) of every moment task not yet posted by its staff member."""
        return self.moments.unposted()

    # -- group robots ---------------------------------------------------------------------

    def add_robot(self, chat_id: str, key: str | None = None, name: str = "") -> str:
        """A robot joins `chat_id`; returns its webhook key (see `robot_webhook_url`)."""
        return self._robots.add(chat_id, key, name)

    def remove_robot(self, key: str) -> None:
        """The robot leaves its group: webhook/send with its key answers 93000."""
        self._robots.remove(key)

    def robot_webhook_url(self, key: str) -> str:
        return f"{self.base_url}webhook/send?key={key}"

    # -- what the customers and staff received -------------------------------------------

    @property
    def welcomes(self) -> list[WelcomeRecord]:
        return self.world.welcomes

    def welcomes_for(self, external_userid: str) -> list[WelcomeRecord]:
        return [w for w in self.world.welcomes if w.external_userid == external_userid]

    def app_messages_for(self, userid: str, include_dropped: bool = False) -> list[AppMessage]:
        return [m for m in self.world.app_messages
                if m.userid == userid and (include_dropped or not m.dropped)]

    def chat_messages_for(self, external_userid: str) -> list[ChatMessage]:
        """What staff sent into the customer's chat from a sidebar (sendChatMessage)."""
        return [m for m in self.client.chat_messages if m.external_userid == external_userid]

    def oauth_code(self, userid: str, scope: str = "snsapi_base") -> str:
        """An OAuth2 code for `userid`, as the client hands one to a redirect_uri."""
        return self.client.issue_code(userid, scope)

    def client_login_url(self, userid: str, external_userid: str = "", next_url: str = "",
                         chat_id: str = "") -> str:
        """Open in a browser: the simulated client logs in as `userid` with the customer's
        chat (or the customer group `chat_id`) open, then goes to `next_url` (e.g. the
        bot's sidebar)."""
        from urllib.parse import urlencode

        query = {"userid": userid, "external_userid": external_userid, "next": next_url}
        if chat_id:
            query["chat_id"] = chat_id
        return f"{self.url}/sim/client/login?{urlencode(query)}"

    def group_messages(self, chat_id: str) -> list[GroupMessage]:
        """What the customer group saw, in order: confirmed group sends and robot messages."""
        self._groupsends.advance()
        return self.inbox.for_chat(chat_id)

    def customer_messages(self, external_userid: str) -> list[GroupMessage]:
        """Group sends (chat_type single) the customer received, in order."""
        self._groupsends.advance()
        return self.inbox.for_customer(external_userid)

    def groupsend_tasks(self) -> list[GroupSend]:
        """Every group send (corp and personal) with its member tasks and send results."""
        self._groupsends.advance()
        return self._groupsends.all()

    def groupsend(self, msgid: str) -> GroupSend:
        self._groupsends.advance()
        return self._groupsends.find(msgid)

    def groupsend_counts(self) -> dict[str, dict[str, int]]:
        """recipient (chat_id or external_userid) -> {msgid: messages received from it}."""
        self._groupsends.advance()
        return self.inbox.counts()

    def groupsend_doubles(self) -> dict[str, list[list[str]]]:
        """recipient -> groups of msgids that each delivered the same text and attachments
        there. Empty for a bot that never sends one message twice."""
        self._groupsends.advance()
        return self.inbox.doubled()

    # -- API call log ----------------------------------------------------------------------

    @property
    def calls(self) -> list[CallRecord]:
        """(path, errcode, time) per API call, in arrival order; errcode None = reset."""
        return self._api.calls

    def call_count(self, path: str) -> int:
        path = normalise_path(path)
        return sum(1 for c in self._api.calls if c.path == path)

    @property
    def gettoken_count(self) -> int:
        return self.call_count("gettoken")

    def mark(self) -> int:
        """A position in the call log, for `api_calls_since`."""
        return len(self._api.calls)

    def api_calls_since(self, mark: int) -> list[CallRecord]:
        return self._api.calls[mark:]

    # -- tokens, limits and faults -----------------------------------------------------------

    def expire_tokens(self) -> None:
        """Every issued access_token expires now: the next call with one gets 42001."""
        self.tokens.expire_all()

    @property
    def faults(self) -> FaultPlan:
        """The random fault plan in force; mutate it or assign a new FaultPlan."""
        return self._injector.plan

    @faults.setter
    def faults(self, plan: FaultPlan) -> None:
        self._injector.plan = plan
        self.options.faults = plan

    def fail_next(self, path: str, errcode: int, times: int = 1) -> None:
        """The next `times` calls of `path` ("*" = any) answer `errcode`, changing nothing."""
        self._injector.fail_next(path, errcode, times)

    def delay_next(self, path: str, seconds: float, times: int = 1) -> None:
        """The next `times` calls of `path` are answered `seconds` late (and still run)."""
        self._injector.delay_next(path, seconds, times)

    def faults_pending(self, path: str) -> int:
        """How many of the one-shot faults queued for `path` no call has met yet."""
        return self._injector.pending(path)

    def reset_next(self, path: str, times: int = 1) -> None:
        """The next `times` calls of `path` get their connection aborted, changing nothing."""
        self._injector.reset_next(path, times)

    def transport_next(self, path: str, kind: str, times: int = 1) -> None:
        """`kind` "timeout", "lost_answer" or "gateway_error" for the next `times` calls."""
        self._injector.transport_next(path, kind, times)

    def hang_next(self, path: str, times: int = 1) -> None:
        """The next `times` calls of `path` get no answer for `hang_ms` and never run."""
        self._injector.transport_next(path, "timeout", times)

    def lose_next_answer(self, path: str, times: int = 1) -> None:
        """The next `times` calls of `path` run, then their connection is aborted."""
        self._injector.transport_next(path, "lost_answer", times)

    def gateway_error_next(self, path: str, times: int = 1) -> None:
        """The next `times` calls of `path` run, then are answered HTTP 502."""
        self._injector.transport_next(path, "gateway_error", times)

    def clear_faults(self) -> None:
        """No random faults, no pending one-shots."""
        self.faults = FaultPlan()
        self._injector.clear()

    def reset_rate_limits(self) -> None:
        self._limiter.reset()

    def stats(self) -> dict[str, Any]:
        by_status = Counter(d.status for d in self.deliveries)
        errors: dict[str, dict[str, int]] = {}
        for call in self._api.calls:
            if call.errcode != 0:
                per_path = errors.setdefault(call.path, {})
                key = "reset" if call.errcode is None else str(call.errcode)
                per_path[key] = per_path.get(key, 0) + 1
        return {
            "calls": dict(Counter(c.path for c in self._api.calls)),
            "errors": errors,
            "gettoken": self.gettoken_count,
            "welcomes": len(self.world.welcomes),
            "app_messages": sum(1 for m in self.world.app_messages if not m.dropped),
            "app_messages_dropped": sum(1 for m in self.world.app_messages if m.dropped),
            "app_duplicates_dropped": self.world.app_duplicates,
            "groupsend": self._groupsends.stats(),
            "robots": self._robots.stats(),
            "deliveries": {
                "total": len(self.deliveries),
                "queued": by_status["queued"],
                "delivered": by_status["delivered"],
                "failed": by_status["failed"],
                "attempts": sum(len(d.attempts) for d in self.deliveries),
            },
        }
