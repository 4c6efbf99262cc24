"""The corp tag list, kept in memory and in the `tag` table, and tags created on demand.

Channels name tags as (group, tag) pairs in words; WeCom's mark_tag wants tag ids. The book
maps one to the other from `get_corp_tag_list` (read at start and on every
change_external_tag callback) and creates what is missing with `add_corp_tag`, one
creation per group at a time so that a burst of welcomes does not create a tag twice.

A name that already exists in WeCom (made in the admin console, or by another replica a
moment ago) is answered either with 40071 or with the existing tag in the returned group:
the docs do not settle which, so both work. After 40071 the list is read back and only what
is still missing is asked for again. Names over 30 characters are never sent (WeCom
refuses them, 40072); the channel check reports them with their file position.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from typing import Any

from sqlalchemy import delete, text
from sqlalchemy.engine import Connection

from bot.channels.model import MAX_TAG_NAME
from bot.db.engine import Database
from bot.db.tables import MemberTag, Tag
from bot.wecom.client import WeComClient
from bot.wecom.errors import WeComError

log = logging.getLogger(__name__)
TagName = tuple[str, str]  # (group name, tag name)
TAG_NAME_EXISTS = 40071


class TagBook:
    def __init__(self, db: Database, wecom: WeComClient) -> None:
        self._db = db
        self._wecom = wecom
        self._ids: dict[TagName, str] = {}
        self._names: dict[str, TagName] = {}
        self._group_locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._sync_lock = asyncio.Lock()

    def name_of(self, tag_id: str) -> TagName | None:
        return self._names.get(tag_id)

    def id_of(self, name: TagName) -> str | None:
        return self._ids.get(name)

    async def sync(self) -> None:
        """Re-read the whole corp tag list and store it (deleted tags are dropped)."""
        async with self._sync_lock:
            groups = await self._wecom.get_corp_tag_list()
            self._load(groups)
            rows = [
                {"id": tag["id"], "name": tag["name"], "group_id": group["group_id"],
                 "group_name": group["group_name"], "deleted": False}
                for group in groups if not group.get("deleted")
                for tag in group.get("tag", []) if not tag.get("deleted")
            ]
            await self._db.write(lambda s: _replace_tags(s, rows))
            log.info("corp tags synced: %d tags in %d groups", len(rows), len(groups))

    def _load(self, groups: list[dict[str, Any]]) -> None:
        ids: dict[TagName, str] = {}
        for group in groups:
            if group.get("deleted"):
                continue
            for tag in group.get("tag", []):
                if not tag.get("deleted"):
                    ids[(group["group_name"], tag["name"])] = tag["id"]
        self._ids = ids
        self._names = {tag_id: name for name, tag_id in ids.items()}

    async def ensure(self, names: list[TagName]) -> list[str]:
        """Tag ids for `names`, creating the missing tags (grouped by tag group)."""
        missing: defaultdict[str, list[str]] = defaultdict(list)
        for group, tag in names:
            if (group, tag) in self._ids or tag in missing[group]:
                continue
            if len(group) > MAX_TAG_NAME or len(tag) > MAX_TAG_NAME:
                log.error("not creating tag %s/%s: WeCom allows at most %d characters",
                          group, tag, MAX_TAG_NAME)
                continue
            missing[group].append(tag)
        for group, tags in missing.items():
            await self._create(group, tags)
        return [self._ids[name] for name in names if name in self._ids]

    async def _create(self, group: str, tags: list[str]) -> None:
        async with self._group_locks[group]:
            for attempt in (1, 2):
                todo = [tag for tag in tags if (group, tag) not in self._ids]  # another task
                if not todo:  # may have created them, or the re-read below found them
                    return
                try:
                    created = await self._wecom.add_corp_tag(group, todo)
                except WeComError as exc:
                    if exc.errcode != TAG_NAME_EXISTS:
                        raise
                    if attempt == 2:
                        log.error("tags %s in group %s: WeCom says they exist (40071) but "
                                  "the tag list does not show them", todo, group)
                        return
                    await self.sync()  # created meanwhile elsewhere: read it back
                    continue
                await self._remember(created)
                return

    async def _remember(self, created: dict[str, Any]) -> None:
        """The group add_corp_tag answered with: new tags, and existing ones if WeCom
        answers a name that exists with its tag rather than 40071."""
        rows = []
        for tag in created.get("tag", []):
            name = (created["group_name"], tag["name"])
            self._ids[name] = tag["id"]
            self._names[tag["id"]] = name
            rows.append({"id": tag["id"], "name": tag["name"], "group_id": created["group_id"],
                         "group_name": created["group_name"], "deleted": False})
        await self._db.write(lambda s: _upsert_tags(s, rows))
        log.info("tags %s in group %s: ids known", [r["name"] for r in rows],
                 created.get("group_name"))


_TAG_UPSERT = text(
    "INSERT INTO tag (id, name, group_id, group_name, deleted) "
    "VALUES (:id, :name, :group_id, :group_name, :deleted) ON CONFLICT (id) DO UPDATE SET "
    "name = excluded.name, group_id = excluded.group_id, group_name = excluded.group_name, "
    "deleted = excluded.deleted")


def _upsert_tags(conn: Connection, rows: list[dict[str, Any]]) -> None:
    if rows:
        conn.execute(_TAG_UPSERT, rows)


def _replace_tags(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """The whole list as WeCom has it; a tag deleted there is gone from every customer too."""
    keep = [row["id"] for row in rows]
    table, member_tag = Tag.__table__, MemberTag.__table__  # type: ignore[attr-defined]
    conn.execute(delete(member_tag).where(member_tag.c.tag_id.not_in(keep)))
    conn.execute(delete(table).where(table.c.id.not_in(keep)))
    _upsert_tags(conn, rows)
