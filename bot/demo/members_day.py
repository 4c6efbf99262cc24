"""The demo's member scene: the till and the questionnaire turn into tags in WeCom.

王丽 (who scanned the 天钥桥路店 counter code in the morning) pays at the till; the POS
sends the purchase to the signed webhook and she is a 银卡 member. The manager sends her the
questionnaire link; on her phone she picks 长痘 and 祛痘 and types her member code, which
binds her till membership to her WeCom contact: WeCom now carries 问卷/3, 问卷/D and
会员等级/银卡. In the evening she buys again, the bot moves her to 金卡 and changes her tag
in WeCom; the cashier's till asks whether she is in the store's group; and when the manager
opens her chat, the sidebar's first replies are the gold-member and the acne scripts.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import aiohttp

from bot.app import BotRuntime
from bot.members.links import LINK_KEY_ENV, make_link
from bot.members.signing import POS_SECRET_ENV, sign
from bot.simulator import Simulator

__all__ = ["play_members_scene"]
MANAGER = "linxiaoyu"  # 天钥桥路店
CODE = "M00120001"  # 王丽's member code on her card


def _tags(sim: Simulator, ext: str) -> list[str]:
    world = sim.world
    follow = world.follows.get((MANAGER, ext))
    names = [f"{world.tag_groups[world.tags[t].group_id].group_name}/{world.tags[t].name}"
             for t in (follow.tag_ids if follow else [])]
    return [n for n in names if n.split("/")[0] in ("会员等级", "生命周期", "问卷")]


async def _till(http: aiohttp.ClientSession, bot_url: str, method: str, path: str,
                body: dict[str, Any] | None = None) -> Any:
    raw = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
    stamp, rid = int(time.time()), secrets.token_hex(12)
    headers = {"X-Pos-Timestamp": str(stamp), "X-Pos-Request-Id": rid,
               "X-Pos-Signature": sign(os.environ[POS_SECRET_ENV], method, path, stamp, rid,
                                       raw), "Content-Type": "application/json"}
    async with http.request(method, bot_url + path, data=raw or None, headers=headers) as r:
        return await r.json()


async def _synced(runtime: BotRuntime, within_s: float = 10.0) -> None:
    """Until the tag sync has applied every change (it is woken by each purchase)."""
    assert runtime.services is not None
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        left = await runtime.services.db.read(lambda c: c.exec_driver_sql(
            "SELECT count(*) FROM loyalty_member WHERE tag_dirty = 1").scalar())
        if not left:
            return
        await asyncio.sleep(0.1)


async def _purchase(http: aiohttp.ClientSession, bot_url: str, order: str,
                    amount: str) -> None:
    at = time.strftime("%Y-%m-%dT%H:%M:%S+08:00", time.localtime(time.time() - 60))
    await _till(http, bot_url, "POST", "/api/pos/purchases", {"purchases": [
        {"order_id": order, "member_code": CODE, "store_id": "0012", "amount": amount,
         "at": at}]})


async def _answer(http: aiohttp.ClientSession, link: str) -> str:
    parts = urlsplit(link)
    fields = [*parse_qsl(parts.query), ("situation", "3"), ("wish", "D"), ("taste", "甜"),
              ("member_code", CODE)]
    async with http.post(link.split("?", 1)[0], data=fields) as resp:
        page = await resp.text()
    return page.split('id="codes">', 1)[1].split("<", 1)[0] if 'id="codes"' in page else "?"


async def play_members_scene(sim: Simulator, runtime: BotRuntime, bot_url: str,
                             customers: dict[str, str]) -> None:
    os.environ.setdefault(POS_SECRET_ENV, secrets.token_hex(16))  # made up for the run
    os.environ.setdefault(LINK_KEY_ENV, secrets.token_hex(16))
    wang = next(ext for ext, name in customers.items() if name == "王丽")
    assert runtime.services is not None and runtime.members is not None
    print("\n== 会员：收银台和问卷变成企业微信标签")
    async with aiohttp.ClientSession() as http:
        await _purchase(http, bot_url, "T20261201-0012-0088", "350.00")
        print(f"  12:30  王丽在天钥桥路店买了 350 元（会员码 {CODE}）：成长值 3500 → 银卡")
        link = make_link(bot_url, "welcome", wang, MANAGER)
        codes = await _answer(http, link)
        await _synced(runtime)
        print(f"  13:05  王丽打开店长发的问卷链接，选了 {codes}，填了会员码")
        print(f"         企业微信里王丽的标签：{'、'.join(_tags(sim, wang))}")
        follow = sim.world.follows.get((MANAGER, wang))
        print(f"         店长看到的客户描述：{follow.description if follow else ''}")
        await _purchase(http, bot_url, "T20261201-0012-0131", "268.00")
        await _synced(runtime)
        print("  18:40  王丽又买了 268 元：成长值 6180 → 金卡")
        print(f"         企业微信里王丽的标签：{'、'.join(_tags(sim, wang))}")
        asked = await _till(http, bot_url, "GET",
                            f"/api/pos/member?member_code={CODE}&store_id=0012")
        where = (f"已在群「{asked['group_name']}」" if asked["in_store_group"]
                 else "还没进群：收银屏显示门店群二维码")
        print(f"  18:41  收银台问：{asked['level']}会员王丽在门店群里吗？{where}")
    found = await runtime.services.replies.for_customer(MANAGER, wang)
    titles = "、".join(s.title for s in found.replies[:4])
    print(f"  18:45  店长打开和王丽的聊天，侧边栏前四条话术：{titles}")
