"""Each page's content for one viewer: the tables of `pages`, read in one database round trip,
within the viewer's stores (checked here too, for what a page names: a group's store)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import date, tzinfo
from typing import Any

from sqlalchemy.engine import Connection

from bot.books.stores import StoreDirectory
from bot.console import member_pages, pages
from bot.console.access import NOT_YOURS, NoAccess, Viewer
from bot.console.catalog import Names
from bot.console.days import bounds, today
from bot.console.health import HealthBook
from bot.db.engine import Database, sql

KEEP = ("value",)  # classes that need nothing done: left out of the list to act on


class _StoreNames(Mapping[str, str]):
    """Every store's name, looked up in the store directory when asked."""

    def __init__(self, stores: StoreDirectory) -> None:
        self._stores = stores

    def __getitem__(self, store_id: str) -> str:
        store = self._stores.get(store_id)
        if store is None:
            raise KeyError(store_id)
        return store.name

    def __iter__(self) -> Iterator[str]:
        return (s.id for s in self._stores.all())

    def __len__(self) -> int:
        return len(self._stores.all())


class Views:
    def __init__(self, db: Database, tz: tzinfo, stores: StoreDirectory,
                 health: HealthBook) -> None:
        self.db = db
        self.tz = tz
        self.stores = stores
        self.health = health

    def _names(self, viewer: Viewer) -> Mapping[str, str]:
        """Store id → name for the viewer's stores: an operator's every store read from the
        directory as a page asks (no per-request copy of 10,000 names)."""
        if viewer.stores is None:
            return _StoreNames(self.stores)
        return {sid: s.name for sid in viewer.stores if (s := self.stores.get(sid))}

    def store_name(self, store_id: str | None) -> str:
        store = self.stores.get(store_id or "")
        return store.name if store is not None else (store_id or "")

    async def today(self, viewer: Viewer, store: str | None, day: date) -> dict[str, Any]:
        t0, t1 = bounds(day, self.tz)
        names = self._names(viewer)

        def read(conn: Connection) -> list[pages.Table]:
            tables = [pages.today_slots(conn, t0, t1)]
            if store:
                tables.append(pages.today_groups(conn, t0, t1, store))
            scope = viewer.scope(store)
            tables.insert(1, pages.today_by_store_rolled_up(conn, day, names) if scope is None
                          else pages.today_by_store(conn, t0, t1, scope, names))
            return tables

        return {"tables": await self.db.read(read), "day": day, "store": store,
                "is_today": day == today(self.tz),
                "store_name": self.store_name(store)}

    async def group(self, viewer: Viewer, chat: str, first: date, last: date,
                    day: date) -> dict[str, Any]:
        t0, t1 = bounds(day, self.tz)

        def read(conn: Connection) -> dict[str, Any]:
            row = conn.execute(sql("""SELECT chat_id, name, owner, coalesce(store_id, '')
                FROM customer_group WHERE chat_id = :chat"""), {"chat": chat}).first()
            if row is None or not viewer.may_see(row[3]):
                raise NoAccess(NOT_YOURS)
            health = conn.execute(sql("""SELECT health, reason FROM console_group_health
                WHERE chat_id = :chat"""), {"chat": chat}).first()
            tables = [pages.group_sends(conn, chat, t0, t1),
                      pages.group_days(conn, chat, first, last, "群每日变化"),
                      pages.owner_figures(conn, row[2], first, last)]
            return {"tables": tables, "chat": chat, "name": row[1], "owner": row[2],
                    "store": row[3], "store_name": self.store_name(row[3]),
                    "health": tuple(health) if health else None}

        found = await self.db.read(read)
        rules = self.health.current()
        found["labels"] = rules.labels() if rules else {}
        return {**found, "first": first, "last": last, "day": day}

    async def channels(self, viewer: Viewer, store: str | None, first: date,
                       last: date) -> dict[str, Any]:
        store = self._key(viewer, store)
        key = store or "*"
        tables = await self.db.read(lambda c: [pages.channel_funnel(c, key, first, last)])
        return {"tables": tables, "store": store, "store_name": self.store_name(store),
                "first": first, "last": last, "stores": self._names(viewer)}

    async def groups(self, viewer: Viewer, store: str | None, health: str | None,
                     first: date, last: date) -> dict[str, Any]:
        scope = viewer.scope(store)
        rules = self.health.current()
        labels = rules.labels() if rules else {}
        key = f"*{store}" if store else ("*" if viewer.stores is None else
                                        f"*{sorted(viewer.stores)[0]}")
        title = "全部门店的群" if key == "*" else f"{self.store_name(key[1:])}的群"

        def read(conn: Connection) -> list[pages.Table]:
            return [pages.health_counts(conn, scope, labels),
                    pages.health_list(conn, scope, health, labels, KEEP),
                    pages.group_days(conn, key, first, last, title + "：每日合计")]

        return {"tables": await self.db.read(read), "store": store, "health": health,
                "labels": labels, "problems": list(self.health.problems), "first": first,
                "last": last, "stores": self._names(viewer),
                "actions": {c.name: c.action for c in (rules.classes if rules else ())}}

    def _key(self, viewer: Viewer, store: str | None) -> str | None:
        """The store a page is about: one asked for (checked), a manager's first, or None
        (an operator's chain: the rollups' ``*`` rows)."""
        viewer.scope(store)
        if store is None and viewer.stores is not None:
            return sorted(viewer.stores)[0]
        return store

    async def members(self, viewer: Viewer, store: str | None, first: date, last: date,
                      names: Names) -> dict[str, Any]:
        store = self._key(viewer, store)
        key = store or "*"

        def read(conn: Connection) -> list[pages.Table]:
            return [member_pages.member_days(conn, "level", key, first, last, names.levels),
                    member_pages.member_days(conn, "stage", key, first, last, names.stages),
                    member_pages.member_moves(conn, key, first, last, names),
                    member_pages.answer_codes(conn, key, first, last, names)]

        return {"tables": await self.db.read(read), "store": store,
                "store_name": self.store_name(store), "first": first, "last": last,
                "stores": self._names(viewer)}

    async def journeys(self, viewer: Viewer, store: str | None, journey: str | None,
                       step: str | None, first: date, last: date,
                       names: Names) -> dict[str, Any]:
        store = self._key(viewer, store)
        key = store or "*"

        def read(conn: Connection) -> list[pages.Table]:
            if step:  # the drill-down: one step, day by day
                return [member_pages.journey_days(conn, key, journey, step, first, last, names)]
            return [member_pages.journey_totals(conn, key, first, last, names),
                    member_pages.journey_steps(conn, key, journey, first, last, names),
                    member_pages.journey_days(conn, key, journey, None, first, last, names)]

        return {"tables": await self.db.read(read), "store": store,
                "store_name": self.store_name(store), "first": first, "last": last,
                "stores": self._names(viewer), "journey": journey, "step": step,
                "titles": {j: t for j, (t, _) in names.journeys.items()}}
