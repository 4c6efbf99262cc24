"""Shared steps for the 话术 tests: customers with tags, and a staff member's logged-in browser.

Everything goes through the real paths: customers scan QR codes in the simulator, tags are
added by the admin and edited by staff in the client (callbacks → the bot reads them back),
and a staff member logs in through the simulated WeCom client's OAuth2 redirect.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from tests.conftest import World

MANAGER_0012 = "linxiaoyu"  # 天钥桥路店
MANAGER_0015 = "zhoujianguo"  # 长寿路店


async def customer(world: World, name: str, *, staff: str = MANAGER_0012,
                   state: str = "store-0012-counter",
                   tags: tuple[tuple[str, str], ...] = ()) -> str:
    """A customer who scanned `staff`'s QR code, with extra corp tags marked by `staff`."""
    ext, _ = world.sim.scan_contact_qr(staff, state, name)
    await world.settle()
    if tags:
        ids = [tag_id(world, group, tag) for group, tag in tags]
        world.sim.edit_contact_tags(staff, ext, ids)
        await world.settle()
    return ext


def tag_id(world: World, group: str, name: str) -> str:
    """The corp tag's id, created by the admin (a callback the bot syncs) if missing."""
    for tag in world.sim.world.tags.values():
        if tag.name == name and world.sim.world.tag_groups[tag.group_id].group_name == group:
            return tag.id
    return world.sim.admin_add_tag(group, name)


class Browser:
    """A staff member's WeCom web view: cookies for both hosts, redirects followed."""

    def __init__(self, world: World, userid: str, chat: str = "") -> None:
        self.world = world
        self.userid = userid
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.chat = chat
        self.csrf = ""

    async def __aenter__(self) -> Browser:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.http.close()

    async def login(self) -> str:
        """Sign the simulated client in, open the sidebar: OAuth2 round trip; the page HTML."""
        async with self.http.get(f"{self.world.sim.url}/sim/client/login",
                                 params={"userid": self.userid,
                                         "external_userid": self.chat}) as resp:
            assert resp.status == 200, await resp.text()
        async with self.http.get(f"{self.world.bot_url}/sidebar") as resp:
            html = await resp.text()
            assert resp.status == 200, html
            assert str(resp.url).startswith(f"{self.world.bot_url}/sidebar")
        marker = '"csrf": "'
        self.csrf = html.split(marker, 1)[1].split('"', 1)[0]
        return html

    async def get(self, path: str, **params: str) -> tuple[int, Any]:
        async with self.http.get(self.world.bot_url + path, params=params,
                                 allow_redirects=False) as resp:
            if resp.content_type == "application/json":
                return resp.status, await resp.json()
            return resp.status, await resp.text()

    async def replies(self, ext: str, **params: str) -> tuple[int, Any]:
        return await self.get("/api/replies", customer=ext, **params)

    async def sent(self, ext: str, reply_id: str, *, csrf: str | None = None,
                   via: str = "sidebar") -> tuple[int, Any]:
        headers = {"X-CSRF-Token": self.csrf if csrf is None else csrf}
        async with self.http.post(f"{self.world.bot_url}/api/replies/sent", headers=headers,
                                  json={"reply_id": reply_id, "customer": ext,
                                        "via": via}) as resp:
            return resp.status, await resp.json()
