"""Customer service as the two front ends need it: the chat sidebar and the app commands.

One place turns "staff member X looks at customer Y" into a card and a ranked, rendered
list, so the sidebar (`bot.sidebar.routes`) and the bot-app commands (`commands.py`) cannot
drift apart. Nothing here knows about HTTP: callers pass a userid they have authenticated
(a signed session, or the FromUserName of a verified callback).

Tag frequencies and send counts are aggregates over whole tables; they change slowly and
are read for every request, so they are cached for `[replies] counts_cache_s`, and the send
counts are refreshed at once after a send of this process.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from bot.books.stores import Store, StoreDirectory
from bot.codes.invite import store_with_join_code
from bot.config import RepliesSettings
from bot.db.engine import Database
from bot.replies import queries as store
from bot.replies.library import CustomerView, ReplyLibrary, StaffView, reply_context
from bot.replies.ranking import Ranked, TagStats, rank

if TYPE_CHECKING:
    from bot.books.live import LiveBook

CHINA_UTC_OFFSET_S = 8 * 3600
JOIN_HOW_CN = {"invite": "成员邀请", "link": "邀请链接", "qr": "扫群二维码"}
VIAS = ("sidebar", "clipboard")


class NotYourCustomer(LookupError):
    """The staff member does not follow this customer (or there is no such customer)."""


class UnknownReply(LookupError):
    """No reply with this id in the library in use."""


def cn_time(at: float) -> str:
    """Epoch seconds -> ``2026-11-24 08:31`` in China time, as staff read it."""
    return (datetime.fromtimestamp(at, UTC) + timedelta(seconds=CHINA_UTC_OFFSET_S)).strftime(
        "%Y-%m-%d %H:%M")


@dataclass(frozen=True, slots=True)
class CustomerCard:
    external_userid: str
    name: str
    store_id: str | None
    store_name: str
    channel: str
    tags: tuple[tuple[str, str], ...]
    groups: tuple[tuple[str, str, str], ...]  # (group name, joined at, how)
    first_seen: str
    followed_since: str

    def as_json(self) -> dict[str, Any]:
        return {
            "external_userid": self.external_userid, "name": self.name,
            "store": {"id": self.store_id, "name": self.store_name} if self.store_id else None,
            "channel": self.channel,
            "tags": [{"group": g, "name": n} for g, n in self.tags],
            "groups": [{"name": n, "joined_at": j, "how": h} for n, j, h in self.groups],
            "first_seen": self.first_seen, "followed_since": self.followed_since,
        }


@dataclass(frozen=True, slots=True)
class Suggestion:
    id: str
    title: str
    category: str
    text: str
    attachments: tuple[dict[str, Any], ...]
    matched: tuple[str, ...]
    score: float
    sends: int

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "title": self.title, "category": self.category,
                "text": self.text, "attachments": list(self.attachments),
                "matched_tags": list(self.matched), "score": round(self.score, 3),
                "sends": self.sends}


@dataclass(frozen=True, slots=True)
class Suggestions:
    card: CustomerCard
    categories: tuple[str, ...]
    replies: tuple[Suggestion, ...]

    def as_json(self) -> dict[str, Any]:
        return {"customer": self.card.as_json(), "categories": list(self.categories),
                "replies": [r.as_json() for r in self.replies]}


class RepliesService:
    def __init__(self, db: Database, live: LiveBook[ReplyLibrary], stores: StoreDirectory,
                 settings: RepliesSettings, *, clock: Callable[[], float] = time.time) -> None:
        self.db = db
        self.live = live
        self.stores = stores
        self.settings = settings
        self._clock = clock
        self._stats: tuple[ReplyLibrary, float, TagStats] | None = None
        self._sends: tuple[float, dict[str, int]] | None = None

    @property
    def library(self) -> ReplyLibrary:
        return self.live.value  # read once per request: a reload swaps it whole

    # -- queries -----------------------------------------------------------------------

    async def for_customer(self, userid: str, external_userid: str, *, query: str = "",
                           category: str | None = None,
                           today: date | None = None) -> Suggestions:
        """The card and the ranked replies rendered for this customer; `NotYourCustomer`
        unless `userid` follows them."""
        library = self.library
        record = await self.db.read(lambda c: store.customer(c, userid, external_userid))
        if record is None:
            raise NotYourCustomer(external_userid)
        words = library.customer_tag_words(record.tags)
        ranked = rank(library, set(words), await self._send_counts(),
                      await self._tag_stats(library), query=query, category=category or None)
        store_ = self._store_for(record.store_id, userid)
        if store_ is not None:  # invitations into the group use its permanent join code
            store_ = await store_with_join_code(self.db, store_)
        context = reply_context(CustomerView(record.name or "您", tuple(n for _, n in record.tags),
                                             record.channel),
                                StaffView(self.stores.staff_name(userid)), store_,
                                today or date.today())
        return Suggestions(self._card(record), library.categories,
                           tuple(self._render(library, r, context) for r in ranked))

    async def for_word(self, userid: str, query: str, *, today: date | None = None,
                       placeholder: str = "【称呼】") -> list[Suggestion]:
        """Replies for a word (a tag or a search word) with no customer in view: for the
        app command, rendered with a placeholder where the customer's name goes."""
        library = self.library
        ranked = rank(library, set(), await self._send_counts(), await self._tag_stats(library),
                      query=query)
        staff = StaffView(self.stores.staff_name(userid))
        context = reply_context(CustomerView(placeholder), staff, self._store_for(None, userid),
                                today or date.today())
        return [self._render(library, r, context) for r in ranked]

    async def find_customers(self, userid: str, name: str) -> list[CustomerCard]:
        """Cards of this staff member's customers whose name contains `name`."""

        def read(conn: Any) -> list[store.CustomerRecord]:
            found = store.find_customers(conn, userid, name)
            records = (store.customer(conn, userid, ext) for ext in found)
            return [r for r in records if r is not None]

        return [self._card(r) for r in await self.db.read(read)]

    async def top_for_customer(self, userid: str, external_userid: str,
                               limit: int) -> list[Suggestion]:
        found = await self.for_customer(userid, external_userid)
        return list(found.replies[:limit])

    # -- writes ------------------------------------------------------------------------

    async def record_send(self, userid: str, external_userid: str, reply_id: str,
                          via: str) -> None:
        """Count a send; refuses replies not in the library and customers not followed."""
        if via not in VIAS:
            raise ValueError(f"via must be one of {VIAS}")
        if self.library.get(reply_id) is None:
            raise UnknownReply(reply_id)
        at = self._clock()

        def write(conn: Any) -> bool:
            if not store.follows(conn, userid, external_userid):
                return False
            store.record_send(conn, reply_id=reply_id, userid=userid,
                              external_userid=external_userid, via=via, at=at)
            return True

        if not await self.db.write(write):
            raise NotYourCustomer(external_userid)
        self._sends = None  # the next ranking sees this send

    # -- helpers -----------------------------------------------------------------------

    def _store_for(self, store_id: str | None, userid: str) -> Store | None:
        """The customer's store, else the staff member's own (a manager's customers are
        mostly their store's), else None."""
        if store_id:
            found = self.stores.get(store_id)
            if found is not None:
                return found
        member = self.stores.staff(userid)
        return self.stores.get(member.store_id) if member and member.store_id else None

    def _card(self, record: store.CustomerRecord) -> CustomerCard:
        shop = self.stores.get(record.store_id) if record.store_id else None
        return CustomerCard(
            record.external_userid, record.name, record.store_id,
            shop.name if shop is not None else "", record.channel, record.tags,
            tuple((g.name, cn_time(g.joined_at), JOIN_HOW_CN.get(g.how, g.how))
                  for g in record.groups),
            cn_time(record.first_seen), cn_time(record.followed_since))

    @staticmethod
    def _render(library: ReplyLibrary, ranked: Ranked, context: dict[str, Any]) -> Suggestion:
        reply = ranked.reply
        rendered = library.render(reply, context)
        return Suggestion(reply.id, reply.title, reply.category, rendered.text,
                          rendered.attachments, ranked.matched, ranked.score, ranked.sends)

    async def _send_counts(self) -> dict[str, int]:
        now = self._clock()
        if self._sends is None or now - self._sends[0] > self.settings.counts_cache_s:
            self._sends = (now, await self.db.read(store.send_counts))
        return self._sends[1]

    async def _tag_stats(self, library: ReplyLibrary) -> TagStats:
        now = self._clock()
        cached = self._stats
        if (cached is not None and cached[0] is library
                and now - cached[1] <= self.settings.counts_cache_s):
            return cached[2]
        total, rows = await self.db.read(store.tag_counts)
        carrying: dict[str, int] = {}
        sources: dict[str, list[tuple[str, str]]] = {}
        for group, name, count in rows:
            for word in library.customer_tag_words([(group, name)]):
                carrying[word] = count
                sources.setdefault(word, []).append((group, name))
        for word, tags in sources.items():  # a customer with 问卷/3 and 问卷/D counts once
            if len(tags) > 1:
                carrying[word] = await self.db.read(
                    partial(store.customers_carrying_any, tags=tags))
        stats = TagStats(total, carrying)
        self._stats = (library, now, stats)
        return stats
