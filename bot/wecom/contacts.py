"""externalcontact/get read whole: every page of a customer's `follow_user`.

WeCom returns at most 500 followers per answer and pages the rest with `cursor` /
`next_cursor`. A customer followed by more staff than that is rare (a chain's whole
headquarters, a popular member-day host), but reading only the first page silently drops
the tags set by everyone past it, so the handlers that reconcile tags read every page.
The welcome only needs the customer's name and keeps the single call in client.py.
"""

from __future__ import annotations

from typing import Any

from bot.wecom.client import WeComClient

MAX_PAGES = 200  # 100 000 followers: far beyond a corp's staff; stops a cursor that loops


async def get_external_contact_all(client: WeComClient, external_userid: str) -> dict[str, Any]:
    """The customer and all staff who follow them, every follow_user page joined."""
    params = {"external_userid": external_userid}
    data = await client.call("externalcontact/get", None, method="GET", params=params)
    follows: list[dict[str, Any]] = list(data.get("follow_user") or [])
    cursor = str(data.get("next_cursor") or "")
    seen: set[str] = set()
    while cursor and cursor not in seen and len(seen) < MAX_PAGES:
        seen.add(cursor)
        page = await client.call("externalcontact/get", None, method="GET",
                                 params={**params, "cursor": cursor})
        follows.extend(page.get("follow_user") or [])
        cursor = str(page.get("next_cursor") or "")
    return {**data, "follow_user": follows, "next_cursor": ""}
