"""The sidebar in a real browser (headless Chromium), against the simulated WeCom client.

The whole path a store's staff member takes: the client is logged in with a customer's
chat open → the sidebar page → WeCom OAuth2 (authorize → code → auth/getuserinfo) → signed
session → wx.config / wx.agentConfig signed with the simulator's tickets →
getCurExternalContact → the ranked list → search → one click: sendChatMessage, recorded by
the simulator as the customer's chat received it, and the send counted by the bot.

Chromium is Debian's (`apt-get install -y chromium`; `.ci/run` installs it); Playwright only
drives it and never downloads a browser. Without /usr/bin/chromium the test is skipped
locally and fails under CI (env CI set).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, World
from tests.replies_support import MANAGER_0012, customer

pytestmark = pytest.mark.slow  # a real Chromium: left out of the quick loop (-m "not slow")

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "tests" / "artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _require_browser() -> None:
    missing = None
    if not CHROMIUM.exists():
        missing = f"{CHROMIUM} is missing (apt-get install -y chromium)"
    else:
        try:
            import playwright.async_api  # noqa: F401
        except ImportError:
            missing = "playwright is not installed (pip install -e '.[test]')"
    if missing is None:
        return
    if os.environ.get("CI"):
        pytest.fail(f"the browser test must run under CI: {missing}")
    pytest.skip(missing)


async def _launch(pw: Any, tmp_path: Path) -> Any:
    """Debian's Chromium, headless, phone-sized like the WeCom client's sidebar."""
    context = await pw.chromium.launch_persistent_context(
        str(tmp_path / "chromium-profile"), executable_path=str(CHROMIUM), headless=True,
        args=ARGS, viewport={"width": 400, "height": 860}, locale="zh-CN")
    context.set_default_timeout(15_000)
    return context


async def test_sidebar_in_a_real_browser(world: World, tmp_path: Path):
    _require_browser()
    from playwright.async_api import async_playwright, expect

    wang = await customer(world, "王丽", tags=(("问卷", "D"), ("会员等级", "金卡")))
    await customer(world, "李雷")
    group = world.sim.create_group(MANAGER_0012, "果田鲜生·天钥桥路店福利群")
    world.sim.join_group(group, wang, "qr")
    await world.settle()
    ARTIFACTS.mkdir(exist_ok=True)
    login = world.sim.client_login_url(MANAGER_0012, wang, next_url=f"{world.bot_url}/sidebar")

    async with async_playwright() as pw:
        context = await _launch(pw, tmp_path)
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(login)

            # logged in through OAuth2, the JS-SDK configured, the chat's customer found
            await page.wait_for_selector("body[data-sdk=ready]")
            await page.wait_for_selector(".card h1:has-text('王丽')")
            assert world.sim.call_count("auth/getuserinfo") == 1
            assert [c.ok for c in world.sim.client.signature_checks] == [True, True]
            card = await page.inner_text(".card")
            assert "天钥桥路店" in card and "福利群" in card and "扫群二维码" in card
            titles = await page.locator(".reply .title").all_inner_texts()
            assert set(titles[:4]) == {"长痘期间怎么吃水果", "清爽水果周卡（痘痘肌）",
                                       "金卡会员日专享", "积分和成长值"}
            first_text = await page.locator(".reply .text").first.inner_text()
            assert first_text.startswith("王丽，")
            await page.screenshot(path=str(ARTIFACTS / "sidebar.png"))

            # search, then one click sends
            await page.fill("#q", "坏果")
            await expect(page.locator(".reply")).to_have_count(1)  # no eval: the CSP forbids it
            assert await page.inner_text(".reply .title") == "坏果包赔"
            await page.click(".reply .send")
            await page.wait_for_selector("#toast.show:has-text('已发送')")
            await page.screenshot(path=str(ARTIFACTS / "sidebar-sent.png"))
            assert errors == []
        finally:
            await context.close()

    [sent] = world.sim.chat_messages_for(wang)
    assert sent.userid == MANAGER_0012 and sent.msgtype == "text"
    assert sent.content.startswith("王丽，真的很抱歉让您收到了坏果")
    assert "天钥桥路店" in sent.content
    assert world.rows("SELECT reply_id, userid, external_userid, via FROM reply_send") == [
        ("bad-fruit-refund", MANAGER_0012, wang, "sidebar")]
    if os.environ.get("UPDATE_DOCS_SCREENSHOT"):
        shutil.copy(ARTIFACTS / "sidebar.png", REPO / "docs" / "img" / "sidebar.png")


async def test_group_sidebar_posts_the_flash_sale_in_a_real_browser(world: World,
                                                                     tmp_path: Path):
    """A store manager with a customer group's chat open: 今日群SOP lists the flash sale the
    bot reminded them of, and 「发到本群」 posts it into the group through the JS-SDK."""
    _require_browser()
    from playwright.async_api import async_playwright

    from tests.outbox.test_owner_post import fire_flash_sale, this_minute
    from tests.outbox.test_sop_delivery import make_groups

    chats = await make_groups(world)
    await fire_flash_sale(world, this_minute())
    chat = chats["0012-a"]
    ARTIFACTS.mkdir(exist_ok=True)
    login = world.sim.client_login_url(MANAGER_0012, next_url=f"{world.bot_url}/sidebar",
                                       chat_id=chat)

    async with async_playwright() as pw:
        context = await _launch(pw, tmp_path)
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(login)

            # no customer in view: the page asks the client for the group chat instead
            await page.wait_for_selector("body[data-sdk=ready]")
            await page.wait_for_selector(f".group-card[data-chat='{chat}']")
            assert "果田鲜生·天钥桥路店福利群" in await page.inner_text(".group-card")
            assert (await page.inner_text(".post .title")).endswith("今日秒杀")
            text = await page.inner_text(".post .text")
            assert "【限时秒杀】" in text and "天钥桥路店" in text
            await page.screenshot(path=str(ARTIFACTS / "group-sidebar.png"))

            await page.click(".post-send")
            await page.wait_for_selector("#toast.show:has-text('已发到本群')")
            await page.wait_for_selector(".post.posted")
            assert await page.locator(".post-send").count() == 0
            assert errors == []
        finally:
            await context.close()

    [seen] = world.sim.group_messages(chat)
    assert seen.via == "member" and seen.sender == MANAGER_0012
    assert seen.text.strip() == text.strip()
    assert world.rows("SELECT status, posted_by FROM owner_post WHERE chat_id = ?", chat) == [
        ("posted", MANAGER_0012)]
    assert world.sim.group_messages(chats["0012-b"]) == []  # the other group: still due
