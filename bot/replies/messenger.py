"""App messages to staff (``message/send``), kept under WeCom's per-member limit.

WeCom delivers at most 30 app messages a minute (and 1000 an hour) to one member and drops
the rest without an error (reference §5.2): a message sent past the limit is lost and the
bot would never know. So the bot counts per member itself and does not send what WeCom
would drop; the answer is logged instead. It does not wait for a free slot either: the
staff member is flooding the app, the dispatcher's workers are shared, and the answers to
the first 30 questions have already gone out. The windows are shared with the SOP
outbox's owner-post reminders (`wait_for_room`, which does wait), so the two together stay
under the limit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from bot.wecom.client import WeComClient
from bot.wecom.ratelimit import SlidingWindow

log = logging.getLogger(__name__)
_MAX_TRACKED = 10_000  # members with a window in memory; idle ones are dropped past this


PER_HOUR = 1000  # reference §5.2: per member per hour


class AppMessenger:
    def __init__(self, wecom: WeComClient, agent_id: int | None, *, per_minute: int = 30,
                 window_s: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._wecom = wecom
        self._agent_id = agent_id
        self._per_minute = per_minute
        self._window_s = window_s
        self._clock = clock
        self._windows: dict[str, SlidingWindow] = {}
        self._hours: dict[str, SlidingWindow] = {}
        self.held_back = 0

    def _hour(self, userid: str) -> SlidingWindow:
        window = self._hours.get(userid)
        if window is None:
            if len(self._hours) >= _MAX_TRACKED:
                self._hours = {u: w for u, w in self._hours.items() if not w.has_room()}
            window = self._hours[userid] = SlidingWindow(PER_HOUR, 3600.0, self._clock)
        return window

    def _minute(self, userid: str) -> SlidingWindow:
        window = self._windows.get(userid)
        if window is None:
            if len(self._windows) >= _MAX_TRACKED:
                self._windows = {u: w for u, w in self._windows.items() if not w.has_room()}
            window = self._windows[userid] = SlidingWindow(self._per_minute, self._window_s,
                                                           self._clock)
        return window

    async def wait_for_room(self, userid: str) -> None:
        """Wait until one more app message to `userid` is within WeCom's limits, and count
        it: the outbox's reminders wait (they are few and must arrive) where answers to a
        flooding member are dropped."""
        await self._hour(userid).acquire()
        await self._minute(userid).acquire()

    async def send_text(self, userid: str, content: str) -> bool:
        """Send `content` to one member; False when held back (limit) or no agent id."""
        if self._agent_id is None:
            log.error("cannot answer %s: WECOM_AGENT_ID is not set (message/send needs the "
                      "app's agentid)", userid)
            return False
        window, hour = self._minute(userid), self._hour(userid)
        if not (hour.has_room() and window.try_acquire() and hour.try_acquire()):
            self.held_back += 1
            log.warning("not answering %s: %d app messages in %.0fs already, WeCom would drop "
                        "this one", userid, self._per_minute, self._window_s)
            return False
        await self._wecom.send_app_text(self._agent_id, [userid], content)
        return True

    async def send_image(self, userid: str, media_id: str) -> bool:
        """An image (a media_id from media/upload) to one member, within the same limits."""
        if self._agent_id is None:
            log.error("cannot send %s an image: WECOM_AGENT_ID is not set", userid)
            return False
        window, hour = self._minute(userid), self._hour(userid)
        if not (hour.has_room() and window.try_acquire() and hour.try_acquire()):
            self.held_back += 1
            return False
        body = {"touser": userid, "msgtype": "image", "agentid": self._agent_id,
                "image": {"media_id": media_id}}
        await self._wecom.call("message/send", body)
        return True
