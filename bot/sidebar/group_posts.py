"""「今日群SOP」: what a group's owner is to post into the group open beside the sidebar.

The sidebar in a customer-group chat lists the group's owner posts of today (``via:
owner_post`` SOPs, see `bot.outbox.owner_posts`) and records a post once the staff member has
put it into the group with ``sendChatMessage``. Only the group's owner, or a staff member
who is in the group per our ``group_member`` records, sees or posts anything; everybody
else gets `NotYourGroup`, the same whether the group exists or not.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from bot.db.engine import Database
from bot.outbox import owner_posts
from bot.outbox.owner_posts import PostRow
from bot.sop.schedule import DEFAULT_TIMEZONE

MAX_CHAT_ID = 64


class NotYourGroup(Exception):
    """Not the owner of (or a staff member in) this group, or no such group: one answer."""


@dataclass
class GroupView:
    chat_id: str
    name: str
    due: list[dict[str, Any]] = field(default_factory=list)
    posted: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"chat_id": self.chat_id, "name": self.name, "due": self.due,
                "posted": self.posted}


def chat_cards(attachments: list[dict[str, Any]]
               ) -> tuple[list[dict[str, Any]], list[str], list[str]]:
    """Attachments as the sidebar sends them: the cards sendChatMessage can send (a link
    becomes a ``news`` card), the pictures it cannot (an image attachment with only a
    pic_url has no mediaid: added by hand from the link), and the titles of the rest."""
    cards: list[dict[str, Any]] = []
    pictures: list[str] = []
    others: list[str] = []
    for attachment in attachments:
        kind = attachment.get("msgtype")
        body = attachment.get(kind, {}) if isinstance(kind, str) else {}
        if kind == "link":
            cards.append({"msgtype": "news", "news": {
                "link": body.get("url", ""), "title": body.get("title", ""),
                "desc": body.get("desc", ""), "imgUrl": body.get("picurl", "")}})
        elif kind == "image" and body.get("pic_url"):
            pictures.append(str(body["pic_url"]))
        else:
            others.append(str(body.get("title") or kind))
    return cards, pictures, others


def _post_json(row: PostRow) -> dict[str, Any]:
    """A post as the sidebar shows and sends it: the text and its `chat_cards`."""
    cards, pictures, others = chat_cards(row.attachments)
    return {"id": row.id, "sop": row.sop, "title": row.title, "time": row.slot_local[-5:],
            "text": row.text,
            "cards": cards, "pictures": pictures, "others": others, "status": row.status,
            "posted_by": row.posted_by, "posted_at": row.posted_at}


class GroupPosts:
    def __init__(self, db: Database, timezone: ZoneInfo | None = None,
                 clock: Any = time.time) -> None:
        self.db = db
        self.timezone = timezone or ZoneInfo(DEFAULT_TIMEZONE)
        self.clock = clock

    def _today(self) -> tuple[float, float]:
        now = datetime.fromtimestamp(self.clock(), self.timezone)
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        end = (start + timedelta(days=1)).replace(tzinfo=self.timezone)
        return start.timestamp(), end.timestamp()

    async def _check(self, userid: str, chat_id: str) -> None:
        if not chat_id or len(chat_id) > MAX_CHAT_ID:
            raise NotYourGroup(chat_id)
        if not await self.db.read(lambda c: owner_posts.may_post(c, userid, chat_id)):
            raise NotYourGroup(chat_id)

    async def for_chat(self, userid: str, chat_id: str) -> GroupView:
        """Today's owner posts of the group: the due ones first, in slot order."""
        await self._check(userid, chat_id)
        start, end = self._today()

        def read(conn: Any) -> tuple[str, list[PostRow]]:
            return (owner_posts.group_name(conn, chat_id),
                    owner_posts.posts_for_chat(conn, chat_id, start, end))

        name, rows = await self.db.read(read)
        view = GroupView(chat_id, name)
        for row in rows:
            (view.posted if row.status == "posted" else view.due).append(_post_json(row))
        return view

    async def mark_posted(self, userid: str, chat_id: str, post_id: int) -> dict[str, Any] | None:
        """Record the post as posted (idempotent); None if the group has no such post."""
        await self._check(userid, chat_id)
        at = self.clock()
        row = await self.db.write(
            lambda c: owner_posts.mark_posted(c, post_id, chat_id, userid, at))
        return None if row is None else _post_json(row)
