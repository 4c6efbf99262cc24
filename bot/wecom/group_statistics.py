"""WeCom's customer-group statistics (客户群统计, doc 92133): per owner, or per day.

WeCom counts groups, members and messages per group *owner* per day; there is no figure for
one chat_id. Both calls take a day range (00:00 timestamps, China time, inclusive, at most
30 days, from yesterday back to 180 days) and at most 100 owners in ``owner_filter``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bot.wecom.client import WeComClient

MAX_OWNERS = 100  # owner_filter.userid_list
PAGE = 1000  # statistic's largest limit


async def statistic_by_owner(client: WeComClient, owners: Sequence[str], day_begin: int,
                             day_end: int | None = None) -> list[dict[str, Any]]:
    """``groupchat/statistic``: ``[{owner, data{...}}]`` for up to 100 owners, every page."""
    if len(owners) > MAX_OWNERS:
        raise ValueError(f"at most {MAX_OWNERS} owners per call")
    items: list[dict[str, Any]] = []
    offset = 0
    while True:
        body: dict[str, Any] = {"day_begin_time": day_begin,
                                "owner_filter": {"userid_list": list(owners)},
                                "order_by": 2, "offset": offset, "limit": PAGE}
        if day_end is not None:
            body["day_end_time"] = day_end
        answer = await client.call("externalcontact/groupchat/statistic", body)
        items += answer.get("items", [])
        if not answer.get("next_offset"):
            return items
        offset = int(answer["next_offset"])


async def statistic_by_day(client: WeComClient, owners: Sequence[str], day_begin: int,
                           day_end: int) -> list[dict[str, Any]]:
    """``groupchat/statistic_group_by_day``: ``[{stat_time, data{...}}]``, the owners summed."""
    if len(owners) > MAX_OWNERS:
        raise ValueError(f"at most {MAX_OWNERS} owners per call")
    answer = await client.call("externalcontact/groupchat/statistic_group_by_day", {
        "day_begin_time": day_begin, "day_end_time": day_end,
        "owner_filter": {"userid_list": list(owners)}})
    return list(answer.get("items", []))
