"""The welcome carries the customer's own questionnaire link (人设号小鲜's welcome): it opens
the form for that customer; changed by a character, it is refused."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.conftest import World

MANAGER_0012 = "linxiaoyu"
PUBLIC = "https://bot.guotian.example"  # the bot's address as customers reach it (a proxy)
LINK = re.compile(re.escape(PUBLIC) + r"/q/welcome\?\S+")


@pytest.fixture(autouse=True)
def link_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_LINK_KEY", "test-link-key")


@pytest.fixture
def bot_overrides() -> dict[str, dict[str, Any]]:
    return {"sidebar": {"public_url": PUBLIC}}


async def status_of(world: World, link: str) -> int:
    async with world.http.get(link.replace(PUBLIC, world.bot_url)) as resp:
        return resp.status


async def test_a_scanned_customer_gets_a_working_link_of_their_own(world: World):
    ext, _ = world.sim.scan_contact_qr(MANAGER_0012, "persona-xiaoxian", "王丽")
    other, _ = world.sim.scan_contact_qr(MANAGER_0012, "persona-xiaoxian", "李娜")
    await world.settle()
    [welcome] = world.sim.welcomes_for(ext)
    assert "填个小问卷，帮你挑适合的" in welcome.text
    [link] = LINK.findall(welcome.text)
    assert f"c={ext}" in link and f"u={MANAGER_0012}" in link
    assert await status_of(world, link) == 200
    [others] = LINK.findall(world.sim.welcomes_for(other)[0].text)
    assert others != link
    assert await status_of(world, link.replace(f"c={ext}", f"c={other}")) == 403
    signature = link.rsplit("s=", 1)[1]
    forged = link[:-1] + ("0" if signature[-1] != "0" else "1")
    assert await status_of(world, forged) == 403


async def test_with_links_off_the_welcome_goes_out_without_one(
        world: World, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("BOT_LINK_KEY")
    ext, _ = world.sim.scan_contact_qr(MANAGER_0012, "persona-xiaoxian", "王丽")
    await world.settle()
    [welcome] = world.sim.welcomes_for(ext)
    assert "XIAN3" in welcome.text and "/q/" not in welcome.text
    assert "问卷" not in welcome.text
