"""Signed till requests, as a POS would send them (bot.members.signing)."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from bot.members.signing import sign
from tests.conftest import World

POS_SECRET = "test-pos-secret-不要用在生产"
MANAGER = "linxiaoyu"  # manager of store 0012


def headers(method: str, path_qs: str, body: bytes, *, secret: str = POS_SECRET,
            timestamp: int | None = None, request_id: str | None = None) -> dict[str, str]:
    stamp = int(time.time()) if timestamp is None else timestamp
    rid = request_id or uuid.uuid4().hex
    return {"X-Pos-Timestamp": str(stamp), "X-Pos-Request-Id": rid,
            "X-Pos-Signature": sign(secret, method, path_qs, stamp, rid, body),
            "Content-Type": "application/json"}


async def post_purchases(world: World, purchases: list[dict[str, Any]],
                         **kw: Any) -> tuple[int, dict[str, Any]]:
    body = json.dumps({"purchases": purchases}, ensure_ascii=False).encode()
    hdrs = kw.pop("hdrs", None) or headers("POST", "/api/pos/purchases", body, **kw)
    async with world.http.post(f"{world.bot_url}/api/pos/purchases", data=body,
                               headers=hdrs) as resp:
        return resp.status, await resp.json()


async def till_lookup(world: World, member_code: str, store_id: str,
                      **kw: Any) -> tuple[int, dict[str, Any]]:
    path = f"/api/pos/member?member_code={member_code}&store_id={store_id}"
    async with world.http.get(world.bot_url + path,
                              headers=headers("GET", path, b"", **kw)) as resp:
        return resp.status, await resp.json()


def purchase(order_id: str, member_code: str, amount: str, at: str = "",
             **extra: Any) -> dict[str, Any]:
    when = at or time.strftime("%Y-%m-%dT%H:%M:%S+08:00",
                               time.localtime(time.time() - 3600))
    return {"order_id": order_id, "member_code": member_code, "store_id": "0012",
            "amount": amount, "at": when, **extra}


def customer_tags(world: World, external_userid: str) -> set[str]:
    """The tags WeCom shows on the customer (every staff relation), as 组/名."""
    sim = world.sim.world
    names = set()
    for follow in sim.follows.of_customer(external_userid):
        for tag_id in follow.tag_ids:
            tag = sim.tags[tag_id]
            names.add(f"{sim.tag_groups[tag.group_id].group_name}/{tag.name}")
    return names
