"""The console in a real browser (Debian's headless Chromium), against the simulated WeCom.

An operator signs in through WeCom's desktop web login, reads today's sends (chart and
table), drills down to the store whose 群发 WeCom refused and to the group, sees WeCom's
error, retries the send and watches it go out; reads the channel funnel and group health
pages and exports a CSV. A store manager signs in and sees their own store only.
Then the Members and Journeys pages of a members' and journeys' day (tests/console/people.py).
Screenshots: tests/artifacts/console-*.png (copied to docs/img/ with UPDATE_DOCS_SCREENSHOT).
"""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, World
from tests.console.people import people_day, people_overrides, secrets_for_people
from tests.console.support import (
    MANAGER_0012,
    MANAGER_0015,
    OPERATOR,
    console_overrides,
    failed_send,
    roll_up,
    store_day,
)
from tests.outbox.test_sop_delivery import until
from tests.sidebar.test_sidebar_browser import ARGS, CHROMIUM

pytestmark = pytest.mark.slow
ARTIFACTS = REPO / "tests" / "artifacts"
SHOTS = ("console-today", "console-group", "console-channels", "console-groups",
         "console-manager")


@pytest.fixture
def bot_overrides() -> dict[str, dict[str, Any]]:
    return console_overrides()


def require_browser() -> None:
    """Debian's Chromium and Playwright, or skip (fail under CI), as the sidebar's test."""
    missing = None if CHROMIUM.exists() else f"{CHROMIUM} is missing (apt-get install chromium)"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        missing = "playwright is not installed (pip install -e '.[test]')"
    if missing is not None:
        if os.environ.get("CI"):
            pytest.fail(f"the browser test must run under CI: {missing}")
        pytest.skip(missing)


async def _desktop(pw: Any, profile: Path) -> Any:
    context = await pw.chromium.launch_persistent_context(
        str(profile), executable_path=str(CHROMIUM), headless=True, args=ARGS,
        viewport={"width": 1280, "height": 900}, locale="zh-CN", accept_downloads=True)
    context.set_default_timeout(15_000)
    return context


async def _shot(page: Any, name: str) -> None:
    await page.wait_for_selector("body[data-charts=ready]")
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_operator_and_manager_in_a_real_browser(world: World, tmp_path: Path):
    require_browser()
    from playwright.async_api import async_playwright

    await store_day(world)
    await roll_up(world)
    send_id, store = failed_send(world)
    ARTIFACTS.mkdir(exist_ok=True)
    console = f"{world.bot_url}/console/today"

    async with async_playwright() as pw:
        context = await _desktop(pw, tmp_path / "operator")
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(world.sim.client_login_url(OPERATOR, next_url=console))
            await page.wait_for_selector("table[data-key=stores]")
            stores = await page.locator("table[data-key=stores] td.c-store_id").all_inner_texts()
            assert sorted(stores) == ["0012", "0015"]
            assert await page.locator("#chart-stores canvas").count() == 1
            await _shot(page, "console-today")

            # CSV export: the same rows as the table
            async with page.expect_download() as download:
                await page.click("#block-stores a.csv")
            saved = await (await download.value).path()
            text = await asyncio.to_thread(Path(saved).read_text, encoding="utf-8-sig")
            assert text.splitlines()[0].startswith("门店号,门店,已送达")
            assert sorted(line[:4] for line in text.splitlines()[1:]) == ["0012", "0015"]

            # drill down: the store whose 群发 WeCom refused, then one of its groups
            await page.click(f"table[data-key=stores] tr:has(td.c-store_id:text-is('{store}')) "
                             "td.c-store a")
            await page.wait_for_selector("table[data-key=groups]")
            assert "60011" in await page.inner_text("table[data-key=groups]")
            await page.locator("table[data-key=groups] td.c-name a").first.click()
            await page.wait_for_selector(f"tr[data-send='{send_id}'] button.retry")
            assert "60011" in await page.inner_text(f"tr[data-send='{send_id}'] td.c-error")
            await _shot(page, "console-group")
            await page.click(f"tr[data-send='{send_id}'] button.retry")
            await page.wait_for_selector(f"tr[data-send='{send_id}']")
            assert await page.locator(f"tr[data-send='{send_id}'] button.retry").count() == 0

            await page.goto(f"{world.bot_url}/console/channels")
            await page.wait_for_selector("table[data-key=funnel]")
            await _shot(page, "console-channels")
            await page.goto(f"{world.bot_url}/console/groups?health=value")
            await page.wait_for_selector("table[data-key=act] td.c-name a")
            await _shot(page, "console-groups")
            assert errors == []
        finally:
            await context.close()

        context = await _desktop(pw, tmp_path / "manager")
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            await page.goto(world.sim.client_login_url(MANAGER_0012, next_url=console))
            await page.wait_for_selector("table[data-key=stores]")
            stores = await page.locator("table[data-key=stores] td.c-store_id").all_inner_texts()
            assert stores == ["0012"]
            assert "长寿路店" not in await page.inner_text("main")
            assert await page.locator("button.retry").count() == 0
            await _shot(page, "console-manager")
        finally:
            await context.close()

    await until(lambda: world.rows("SELECT status FROM outbox_send WHERE id = ?",
                                   send_id)[0][0] in ("created", "done"))
    world.sim.confirm_pending_groupsends()
    await until(lambda: world.rows("SELECT count(*) FROM outbox_delivery WHERE send_id = ? "
                                   "AND status = 'sent'", send_id)[0][0] >= 1)
    if os.environ.get("UPDATE_DOCS_SCREENSHOT"):
        for name in SHOTS:
            shutil.copy(ARTIFACTS / f"{name}.png", REPO / "docs" / "img" / f"{name}.png")


class TestMembersAndJourneys:
    @pytest.fixture
    def bot_overrides(self, tmp_path: Path) -> dict[str, dict[str, Any]]:
        return people_overrides(tmp_path)

    @pytest.fixture(autouse=True)
    def _secrets(self, monkeypatch: pytest.MonkeyPatch) -> None:
        secrets_for_people(monkeypatch)

    async def test_members_and_journeys_in_a_real_browser(self, world: World, tmp_path: Path):
        """Members and journeys (tests/console/people.py): the members per level, the moves'
        CSV, the journeys and a step's drill-down; a manager sees their own store only."""
        require_browser()
        from playwright.async_api import async_playwright

        await people_day(world, tmp_path)
        ARTIFACTS.mkdir(exist_ok=True)
        members = f"{world.bot_url}/console/members"

        async with async_playwright() as pw:
            context = await _desktop(pw, tmp_path / "operator")
            try:
                page = context.pages[0] if context.pages else await context.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                await page.goto(world.sim.client_login_url(OPERATOR, next_url=members))
                await page.wait_for_selector("table[data-key=levels]")
                assert await page.locator("#chart-levels canvas").count() == 1
                assert "2" in await page.inner_text("table[data-key=levels] td.c-银卡")
                assert "低糖少负担" in await page.inner_text("table[data-key=answers]")
                await _shot(page, "console-members")

                async with page.expect_download() as download:
                    await page.click("#block-moves a.csv")
                saved = await (await download.value).path()
                text = await asyncio.to_thread(Path(saved).read_text, encoding="utf-8-sig")
                assert text.splitlines()[0] == "类别,从,到,会员数"
                assert "会员等级,普通,银卡,1" in text.splitlines()

                await page.click("nav a[href='/console/journeys']")
                await page.wait_for_selector("table[data-key=steps]")
                assert await page.locator("#chart-steps canvas").count() == 1
                await _shot(page, "console-journeys")
                await page.click("table[data-key=steps] td.c-step a:text-is('tips')")
                await page.wait_for_selector("table[data-key=step_days]")
                assert "2" in await page.inner_text("table[data-key=step_days] td.c-sent")
                assert errors == []
            finally:
                await context.close()

            context = await _desktop(pw, tmp_path / "manager")
            try:
                page = context.pages[0] if context.pages else await context.new_page()
                await page.goto(world.sim.client_login_url(MANAGER_0015, next_url=members))
                await page.wait_for_selector("table[data-key=levels]")
                assert "长寿路店" in await page.inner_text("main")
                assert "天钥桥路店" not in await page.inner_text("main")
                assert await page.locator("table[data-key=levels] td.c-银卡").count() == 0
            finally:
                await context.close()

        if os.environ.get("UPDATE_DOCS_SCREENSHOT"):
            for name in ("console-members", "console-journeys"):
                shutil.copy(ARTIFACTS / f"{name}.png", REPO / "docs" / "img" / f"{name}.png")
