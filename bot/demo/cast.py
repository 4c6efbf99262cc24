"""Who and what the demo's SOP day shows: its date, the store printed in full, the manager
who forgets a 群发 and the one who posts from the sidebar, and the chats it reaches.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from bot.books.stores import Store

__all__ = ["FORGETFUL", "POSTS_FROM_SIDEBAR", "SHOWN_IN_FULL", "SOP_DAY", "Chat"]

# A Tuesday, so the member day fires, and the first of a month: on a fresh database the
# quota then allows what it allows on any day of a month the bot has been running through,
# one 群发 a group a day. (Mid-month, a fresh database would look as if 23 days had gone
# unused: on 2026-11-24 the spread allows ceil(30 / 7) = 5 a day, and nothing is held.)
SOP_DAY = date(2026, 12, 1)
SHOWN_IN_FULL = "0012"  # the store whose messages are printed in full; others get one line
FORGETFUL = ("0201", "member-day")  # this store's manager forgets this SOP's 群发
POSTS_FROM_SIDEBAR = (SHOWN_IN_FULL, "flash-sale")  # this manager posts this one on screen


@dataclass(frozen=True)
class Chat:
    """A chat the SOP day can reach: a store's customer group, or a robot's staff group."""

    chat_id: str
    label: str  # short, for tables: the WeCom group name without the chain's prefix
    store: Store | None = None
    owner_name: str = ""
