"""WeCom's customer-group statistics: ``externalcontact/groupchat/statistic`` (per owner) and
``externalcontact/groupchat/statistic_group_by_day`` (per day), as the reference describes
them (wecom-more §4; official doc 92133; WxJava, silenceper and wechatpy agree on fields).

Both take ``day_begin_time`` (required; a timestamp inside a day counts as that day's 00:00,
China time), ``day_end_time`` (optional, defaults to the begin day; inclusive; the span is at
most 30 days) and ``owner_filter.userid_list`` (at most 100 owners; without it every member
of the app's visible range, and 81017 when that is over 1000 people). Data covers yesterday
back to 180 days: today and the future are not counted yet. ``statistic`` also takes
``order_by`` (1 new groups, 2 total groups, 3 new members, 4 total members), ``order_asc``,
``offset`` and ``limit`` (1-1000, default 500) and answers ``total``, ``next_offset`` and
``items[]{owner, data}``; ``statistic_group_by_day`` answers ``items[]{stat_time, data}``,
the owners in the filter summed per day.

There is no per-group figure: the finest grain is one owner per day. The message counts come
from what the simulated groups received (`Inbox`: group sends, robots, staff posts) plus what
customers said (`say`), since a real group's chatter reaches WeCom's figures but no API.
Members who have left are no longer counted in new_member_cnt (the simulator keeps no member
history); the reference leaves open whether *_has_msg are daily or cumulative: here daily.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from . import codes
from .api import ApiRequest, Handler
from .codes import ApiError
from .records import Inbox
from .state import World

CHINA = ZoneInfo("Asia/Shanghai")
DAY_S = 86400
MAX_SPAN_DAYS = 30
KEPT_DAYS = 180
MAX_OWNERS = 100
MAX_VISIBLE_WITHOUT_FILTER = 1000
FIELDS = ("new_chat_cnt", "chat_total", "chat_has_msg", "new_member_cnt", "member_total",
          "member_has_msg", "msg_total", "migrate_trainee_chat_cnt")
ORDER_FIELD = {1: "new_chat_cnt", 2: "chat_total", 3: "new_member_cnt", 4: "member_total"}


@dataclass(frozen=True, slots=True)
class Said:
    chat_id: str
    member_id: str
    at: float


def midnight(ts: int) -> int:
    """The 00:00 (China time) of the day `ts` falls in: WeCom floors non-midnight stamps."""
    moment = datetime.fromtimestamp(ts, CHINA)
    return int(moment.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())


class GroupStatistics:
    def __init__(self, world: World, inbox: Inbox,
                 wall: Callable[[], float] = time.time) -> None:
        self.world = world
        self.inbox = inbox
        self._wall = wall
        self.said: list[Said] = []

    def say(self, chat_id: str, member_id: str, at: float | None = None) -> None:
        """A member says something in a group (counted by WeCom's figures, never seen by
        any API: the bot cannot read group chat without 会话存档)."""
        self.said.append(Said(chat_id, member_id, self._wall() if at is None else at))

    # -- figures ---------------------------------------------------------------------------

    def _messages(self, chat_ids: set[str], start: int, end: int) -> list[tuple[str, str]]:
        found = [(s.chat_id, s.member_id) for s in self.said
                 if s.chat_id in chat_ids and start <= s.at < end]
        for chat in chat_ids:
            found += [(chat, m.sender) for m in self.inbox.for_chat(chat) if start <= m.at < end]
        return found

    def day_figures(self, owners: Iterable[str], day: int) -> dict[str, int]:
        """One day's figures over the groups of `owners` (one owner for ``statistic``)."""
        end = day + DAY_S
        owned = set(owners)
        chats = [c for c in self.world.chats.values()
                 if c.owner in owned and c.create_time < end]
        messages = self._messages({c.chat_id for c in chats}, day, end)
        members = [m for c in chats for m in c.members.values() if m.join_time < end]
        return {"new_chat_cnt": sum(1 for c in chats if c.create_time >= day),
                "chat_total": len(chats),
                "chat_has_msg": len({chat for chat, _ in messages}),
                "new_member_cnt": sum(1 for m in members if m.join_time >= day),
                "member_total": len(members),
                "member_has_msg": len({(chat, who) for chat, who in messages}),
                "msg_total": len(messages), "migrate_trainee_chat_cnt": 0}

    # -- requests --------------------------------------------------------------------------

    def _days(self, body: dict[str, Any]) -> list[int]:
        begin = body.get("day_begin_time")
        if not isinstance(begin, int) or isinstance(begin, bool):
            raise ApiError(codes.INVALID_PARAM, "day_begin_time is required")
        end = body.get("day_end_time", begin)
        if not isinstance(end, int) or isinstance(end, bool):
            raise ApiError(codes.INVALID_PARAM, "day_end_time must be a timestamp")
        first, last = midnight(begin), midnight(end)
        today = midnight(int(self._wall()))
        if last < first:
            raise ApiError(codes.INVALID_PARAM, "day_end_time is before day_begin_time")
        if (last - first) // DAY_S + 1 > MAX_SPAN_DAYS:
            raise ApiError(codes.INVALID_PARAM, f"at most {MAX_SPAN_DAYS} days at once")
        if last >= today or first < today - KEPT_DAYS * DAY_S:
            raise ApiError(codes.INVALID_PARAM,
                           f"days from yesterday back to {KEPT_DAYS} days ago only")
        days, day = [], first
        while day <= last:
            days.append(day)
            day = midnight(int((datetime.fromtimestamp(day, CHINA) + timedelta(days=1, hours=2)
                                ).timestamp()))
        return days

    def _owners(self, body: dict[str, Any]) -> list[str]:
        owner_filter = body.get("owner_filter")
        if owner_filter is None:
            if len(self.world.staff) > MAX_VISIBLE_WITHOUT_FILTER:
                raise ApiError(codes.TOO_MANY_USERS_WITHOUT_FILTER,
                               "more than 1000 members in range: give owner_filter")
            return sorted(self.world.staff)
        userids = owner_filter.get("userid_list") if isinstance(owner_filter, dict) else None
        if not isinstance(userids, list) or not all(isinstance(u, str) for u in userids):
            raise ApiError(codes.INVALID_PARAM, "owner_filter.userid_list must be a list")
        if len(userids) > MAX_OWNERS:
            raise ApiError(codes.INVALID_PARAM, f"at most {MAX_OWNERS} owners in userid_list")
        return [u for u in dict.fromkeys(userids) if u in self.world.staff]

    def statistic(self, req: ApiRequest) -> dict[str, Any]:
        body = req.body
        days, owners = self._days(body), self._owners(body)
        order_by = body.get("order_by", 1)
        limit, offset = body.get("limit", 500), body.get("offset", 0)
        if order_by not in ORDER_FIELD:
            raise ApiError(codes.INVALID_PARAM, "order_by must be 1, 2, 3 or 4")
        if not isinstance(limit, int) or not 1 <= limit <= 1000:
            raise ApiError(codes.INVALID_PARAM, "limit must be 1..1000")
        if not isinstance(offset, int) or offset < 0:
            raise ApiError(codes.INVALID_PARAM, "offset must be 0 or more")
        items: list[dict[str, Any]] = [{"owner": owner, "data": self._span(owner, days)}
                                       for owner in owners]
        items.sort(key=lambda i: (i["data"][ORDER_FIELD[order_by]], i["owner"]),
                   reverse=not body.get("order_asc", 0))
        page = items[offset:offset + limit]
        result: dict[str, Any] = {"total": len(items), "items": page}
        if offset + limit < len(items):
            result["next_offset"] = offset + limit
        return result

    def _span(self, owner: str, days: list[int]) -> dict[str, int]:
        """An owner's figures over the days: new_* and counts summed, totals as of the last."""
        per_day = [self.day_figures([owner], day) for day in days]
        summed = {f: sum(d[f] for d in per_day) for f in FIELDS}
        summed["chat_total"] = per_day[-1]["chat_total"]
        summed["member_total"] = per_day[-1]["member_total"]
        return summed

    def statistic_group_by_day(self, req: ApiRequest) -> dict[str, Any]:
        days, owners = self._days(req.body), self._owners(req.body)
        return {"items": [{"stat_time": day, "data": self.day_figures(owners, day)}
                          for day in days]}

    def routes(self) -> dict[str, tuple[str, Handler]]:
        return {"externalcontact/groupchat/statistic": ("POST", self.statistic),
                "externalcontact/groupchat/statistic_group_by_day":
                    ("POST", self.statistic_group_by_day)}
