"""One walk of get_groupmsg_list_v2 shared by the 群发 checks that run together.

After a crash in the middle of a chain-wide slot, every call that was in flight is checked
(`GroupSends.reconcile`). Each check used to walk the whole list of the slot's 群发 by itself:
19 checks after a kill -9 at 10,000 stores were 19 walks of 100 pages, about 7 s in which the
slot's last sends waited. A walk answers every check that
- became due before the walk began (its call had ended by then: whatever it created is
  listed), and
- looks for a 群发 created inside the walk's window, of the same chat type.
Anything else walks again. The walk is kept only while a check is using it, so a day of
single checks holds no list in memory.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.wecom.client import WeComClient

LOOK_BACK_S = 600  # a walk starts this long before the asking send was planned, so the
# sends planned with it (a slot takes seconds to plan) find their calls in the same walk


@dataclass(frozen=True, slots=True)
class _Walk:
    chat_type: str
    start: int
    asked_at: float
    messages: list[dict[str, Any]]


class GroupMsgListing:
    """The latest walk, shared by the checks waiting for it or reading it (`covering`)."""

    def __init__(self, wecom: WeComClient, clock: Callable[[], float]) -> None:
        self._wecom = wecom
        self._clock = clock
        self._lock = asyncio.Lock()
        self._walk: _Walk | None = None
        self._users = 0

    async def covering(self, chat_type: str, since: int, due_at: float) -> list[dict[str, Any]]:
        """The 群发 created from `since` to now, listed after `due_at`."""
        self._users += 1
        try:
            async with self._lock:
                walk = self._walk
                if (walk is None or walk.chat_type != chat_type or walk.start > since
                        or walk.asked_at < due_at):
                    asked_at = self._clock()
                    start = since - LOOK_BACK_S
                    messages = await self._wecom.get_groupmsg_list_v2(
                        start, int(asked_at) + 60, chat_type=chat_type)
                    walk = self._walk = _Walk(chat_type, start, asked_at, messages)
                return walk.messages
        finally:
            self._users -= 1
            if not self._users:
                self._walk = None
