"""The sidebar's questionnaire API: staff see a customer's codes and correct them."""

from __future__ import annotations

import pytest

from bot.members.links import make_link
from tests.conftest import World
from tests.members.support import MANAGER, customer_tags
from tests.members.test_questionnaire import submit
from tests.replies_support import Browser


@pytest.fixture(autouse=True)
def link_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_LINK_KEY", "staff-codes-key")


async def test_staff_see_and_correct_the_codes(world: World):
    ext, _ = world.sim.scan_contact_qr(MANAGER, "store-0012-counter", "王丽")
    await world.settle()
    url = make_link(world.bot_url, "welcome", ext, MANAGER)
    assert (await submit(world, url, [("wish", "C"), ("taste", "甜")]))[0] == 200

    async with Browser(world, MANAGER, chat=ext) as staff:
        await staff.login()
        status, data = await staff.get("/api/questionnaire", customer=ext)
        assert status == 200
        [form] = data["forms"]
        assert form["form"] == "welcome" and form["text"] == "C 甜"
        async with world.http.get(form["link"]) as resp:  # the link staff send works
            assert resp.status == 200 and "最想让水果帮您什么" in await resp.text()

        # 王丽 said in the chat she wants to clear acne, not a gift: the manager corrects it
        body = {"customer": ext, "form": "welcome",
                "codes": {"situation": ["3"], "wish": ["D"], "taste": ["甜"]}}
        async with staff.http.post(f"{world.bot_url}/api/questionnaire", json=body) as resp:
            assert resp.status == 403  # no CSRF token
        async with staff.http.post(f"{world.bot_url}/api/questionnaire", json=body,
                                   headers={"X-CSRF-Token": staff.csrf}) as resp:
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["text"] == "3 D 甜"
    tags = customer_tags(world, ext)
    assert {"问卷/3", "问卷/D"} <= tags and "问卷/C" not in tags
    assert world.rows("SELECT corrected_by FROM questionnaire_answer") == [(MANAGER,)]


async def test_another_staff_members_customer_is_refused(world: World):
    ext, _ = world.sim.scan_contact_qr(MANAGER, "store-0012-counter", "王丽")
    await world.settle()
    other = "zhanghua"
    world.sim.add_staff(other, "张华")
    async with Browser(world, other) as staff:
        await staff.login()
        status, _ = await staff.get("/api/questionnaire", customer=ext)
        assert status == 403
        status, _ = await staff.get("/api/questionnaire", customer="wmNoSuchCustomer")
        assert status == 403
    async with world.http.get(f"{world.bot_url}/api/questionnaire",
                              params={"customer": ext}) as resp:
        assert resp.status == 401


async def test_correction_page_needs_the_sessions_csrf_token(world: World):
    ext, _ = world.sim.scan_contact_qr(MANAGER, "store-0012-counter", "王丽")
    await world.settle()
    async with Browser(world, MANAGER, chat=ext) as staff:
        await staff.login()
        status, page = await staff.get("/sidebar/questionnaire", customer=ext)
        assert status == 200 and "最想让水果帮您什么" in page
        data = {"wish": "D", "taste": "甜", "csrf": "forged"}
        async with staff.http.post(f"{world.bot_url}/sidebar/questionnaire?customer={ext}",
                                   data=data) as resp:
            assert resp.status == 403
    assert world.count("questionnaire_answer") == 0
