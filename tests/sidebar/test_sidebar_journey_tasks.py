"""「今日跟进」 in a real browser: a ``via: staff_task`` journey step reaches the store
manager as one app message saying how to send it; the sidebar opened on 王丽's chat shows
her follow-up as rendered for her; one click sends it into her chat through the JS-SDK and
records it once (a repeated request records nothing more); 李雷's follow-up, never sent,
is recorded as missed at the next day's plan and `journeys preview --date` says so.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.journeys.preview import date_preview
from tests.conftest import World
from tests.journeys.support import journeys_world
from tests.replies_support import MANAGER_0012, customer
from tests.sidebar.test_sidebar_browser import ARTIFACTS, _launch, _require_browser

pytestmark = pytest.mark.slow  # a real Chromium

TASK_JOURNEY = """  follow-up:
    title: 新朋友回访
    entry: {event: staff_added}
    via: staff_task
    steps:
      - id: ask-taste
        day: 1
        at: "10:00"
        text: "{{ customer.name }}您好，我是{{ store.name }}的{{ staff.name }}，水果合口味吗？"
"""


async def _post_sent(world: World, cookies: list[dict[str, Any]], csrf: str, body: Any
                     ) -> tuple[int, dict[str, Any]]:
    jar = {c["name"]: c["value"] for c in cookies}
    async with aiohttp.ClientSession(cookies=jar) as http, http.post(
            f"{world.bot_url}/api/journey-tasks/sent", json=body,
            headers={"X-CSRF-Token": csrf}) as resp:
        return resp.status, await resp.json()


async def test_a_staff_task_is_sent_from_the_sidebar_once(world: World,
                                                          tmp_path: Path) -> None:
    _require_browser()
    from playwright.async_api import async_playwright

    jw = journeys_world(world, tmp_path)
    jw.only(TASK_JOURNEY)
    wang = await customer(world, "王丽")
    li = await customer(world, "李雷")
    await jw.now()
    await jw.at(1, "10:00", plan=True)
    [note] = [m for m in world.sim.app_messages_for(MANAGER_0012) if "今日跟进" in m.content]
    assert "新朋友回访·第1天，2 位顾客" in note.content and "王丽" in note.content
    assert "「今日跟进」里点「发送跟进」" in note.content
    assert world.sim.chat_messages_for(wang) == []  # nothing reaches her by itself

    login = world.sim.client_login_url(MANAGER_0012, wang, next_url=f"{world.bot_url}/sidebar")
    async with async_playwright() as pw:
        context = await _launch(pw, tmp_path)
        try:
            page = context.pages[0] if context.pages else await context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(login)
            await page.wait_for_selector("body[data-sdk=ready]")
            await page.wait_for_selector(".task .title:has-text('新朋友回访·第1天')")
            text = await page.inner_text(".task .text")
            assert text.startswith("王丽您好，我是") and "天钥桥路店" in text
            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "sidebar-journey-task.png"))
            await page.click(".task-send")
            await page.wait_for_selector("#toast.show:has-text('已记为跟进')")
            await page.wait_for_selector(".task.sent")
            assert await page.locator(".task-send").count() == 0
            assert errors == []
            task_id = int(await page.get_attribute(".task", "data-id") or 0)
            config = await page.text_content("#sidebar-config") or "{}"
            cookies = await context.cookies(world.bot_url)
        finally:
            await context.close()

    [sent] = world.sim.chat_messages_for(wang)
    assert sent.userid == MANAGER_0012 and sent.content.strip() == text.strip()
    assert world.rows("SELECT status, sender FROM journey_task WHERE external_userid = ?",
                      wang) == [("sent", MANAGER_0012)]
    sent_at = world.rows("SELECT sent_at FROM journey_task WHERE id = ?", task_id)

    # the same click again (a double tap, a replayed request): nothing recorded twice
    import json

    csrf = json.loads(config)["csrf"]
    status, again = await _post_sent(world, cookies, csrf, {"customer": wang,
                                                             "task_id": task_id})
    assert status == 200 and again["recorded"] is False
    assert world.rows("SELECT sent_at FROM journey_task WHERE id = ?", task_id) == sent_at
    # not her task for another customer: refused, nothing recorded
    status, _ = await _post_sent(world, cookies, csrf, {"customer": li, "task_id": task_id})
    assert status == 404

    # the next day's plan: 李雷's follow-up was never sent
    await jw.at(2, "00:05", plan=True)
    assert world.rows("SELECT status FROM journey_task WHERE external_userid = ?", li) == [
        ("missed",)]
    assert jw.steps(li)["ask-taste"] == ("task", "missed: not sent from the sidebar that day")
    assert jw.steps(wang)["ask-taste"] == ("task", "sent from the sidebar")
    db = world.runtime.services.db  # type: ignore[union-attr]
    lines = await db.read(lambda c: date_preview(c, jw.live.value, jw.today - timedelta(days=1),
                                                 {}))
    [tally] = [ln for ln in lines if "follow-up/ask-taste:" in ln]
    assert "1 sent, 1 missed, 0 still due · not sent: " in tally and MANAGER_0012 in tally
