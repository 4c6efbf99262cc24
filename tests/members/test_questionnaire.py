"""The questionnaire through its page: a signed link, an answer, coded tags and the
description in WeCom; answering again moves the tags; forged or expired links get 403."""

from __future__ import annotations

import re
import time

import pytest

from bot.members.links import make_link
from tests.conftest import World
from tests.members.support import MANAGER, customer_tags

LINK_KEY = "test-link-key"


@pytest.fixture(autouse=True)
def link_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_LINK_KEY", LINK_KEY)


async def new_customer(world: World, name: str) -> str:
    ext, _ = world.sim.scan_contact_qr(MANAGER, "store-0012-counter", name)
    await world.settle()
    return ext


async def submit(world: World, url: str, answers: list[tuple[str, str]]) -> tuple[int, str]:
    path_qs = url.split(world.bot_url, 1)[1]
    path, _, query = path_qs.partition("?")
    fields = [tuple(p.split("=", 1)) for p in query.split("&")]
    from urllib.parse import unquote
    data = [(k, unquote(v)) for k, v in fields] + answers
    async with world.http.post(world.bot_url + path, data=data) as resp:
        return resp.status, await resp.text()


def description(world: World, ext: str) -> str:
    follow = world.sim.world.follows.get((MANAGER, ext))
    assert follow is not None
    return follow.description


async def test_answer_marks_coded_tags_and_writes_the_description(world: World):
    ext = await new_customer(world, "王丽")
    world.sim.world.follows.get((MANAGER, ext)).description = "爱买车厘子"  # type: ignore[union-attr]
    url = make_link(world.bot_url, "welcome", ext, MANAGER)
    async with world.http.get(url) as resp:
        assert resp.status == 200
        page = await resp.text()
    assert "最想让水果帮您什么" in page and "祛痘降火" in page

    status, page = await submit(world, url, [("situation", "3"), ("wish", "D"),
                                             ("taste", "酸甜")])
    assert status == 200 and "3 D 酸甜" in page
    assert {"问卷/3", "问卷/D", "口味偏好/酸甜"} <= customer_tags(world, ext)
    assert description(world, ext) == "爱买车厘子 【问卷 3 D 酸甜】"
    ours = {r[0] for r in world.rows(
        "SELECT t.group_name || '/' || t.name FROM member_tag m JOIN tag t ON t.id = m.tag_id "
        "WHERE m.external_userid = ?", ext)}
    assert {"问卷/3", "问卷/D"} <= ours

    status, page = await submit(world, url, [("situation", "1"), ("situation", "2"),
                                             ("wish", "B"), ("taste", "甜")])
    assert status == 200
    tags = customer_tags(world, ext)
    assert {"问卷/1", "问卷/2", "问卷/B", "口味偏好/甜"} <= tags
    assert not {"问卷/3", "问卷/D", "口味偏好/酸甜"} & tags
    assert description(world, ext) == "爱买车厘子 【问卷 1 2 B 甜】"
    async with world.http.get(url) as resp:  # the page shows the latest answer
        page = await resp.text()
    checked = re.findall(r'value="([^"]+)"\s+checked', page)
    assert checked == ["1", "2", "B", "甜"]


@pytest.mark.parametrize("case", ["forged", "expired", "other_customer", "incomplete"])
async def test_bad_links_get_403_and_change_nothing(world: World, case: str):
    ext = await new_customer(world, "路人")
    url = make_link(world.bot_url, "welcome", ext, MANAGER)
    if case == "forged":
        url = url[:-4] + "0000"
    elif case == "expired":
        url = make_link(world.bot_url, "welcome", ext, MANAGER, ttl_s=60,
                        now=time.time() - 120)
    elif case == "other_customer":
        url = url.replace(f"c={ext}", "c=wmSomebodyElse")
    else:
        url = url.split("&s=")[0]
    async with world.http.get(url) as resp:
        assert resp.status == 403
    status, _ = await submit(world, url, [("situation", "3"), ("wish", "D"),
                                          ("taste", "甜")])
    assert status == 403
    assert world.count("questionnaire_answer") == 0
    assert not any(c.path == "externalcontact/remark" for c in world.sim.calls)


async def test_an_answer_the_form_does_not_offer_is_refused(world: World):
    ext = await new_customer(world, "乱填")
    url = make_link(world.bot_url, "welcome", ext, MANAGER)
    status, page = await submit(world, url, [("situation", "9"), ("wish", "D"),
                                             ("taste", "甜")])
    assert status == 400 and "没有这个选项" in page
    status, page = await submit(world, url, [("wish", "D"), ("wish", "C"), ("taste", "甜")])
    assert status == 400 and "请选一个" in page
    assert world.count("questionnaire_answer") == 0


async def test_member_code_typed_in_binds_the_till_member(world: World,
                                                          monkeypatch: pytest.MonkeyPatch):
    from tests.members.support import POS_SECRET, post_purchases, purchase

    monkeypatch.setenv("BOT_POS_SECRET", POS_SECRET)
    await post_purchases(world, [purchase("Q-1", "M2000", "650.00")])
    ext = await new_customer(world, "周洁")
    url = make_link(world.bot_url, "welcome", ext, MANAGER)
    status, _ = await submit(world, url, [("wish", "C"), ("taste", "脆"),
                                          ("member_code", "M9999")])
    assert status == 400  # an unknown code: said so, nothing stored
    status, _ = await submit(world, url, [("wish", "C"), ("taste", "脆"),
                                          ("member_code", "M2000")])
    assert status == 200
    assert world.rows("SELECT external_userid FROM loyalty_member") == [(ext,)]


async def test_an_answer_wecom_refused_is_kept_and_applied_later(world: World):
    ext = await new_customer(world, "吴敏")
    url = make_link(world.bot_url, "welcome", ext, MANAGER)
    world.sim.fail_next("externalcontact/mark_tag", 48002)  # not permitted (for now)
    status, _ = await submit(world, url, [("wish", "D"), ("taste", "甜")])
    assert status == 200  # the customer is thanked: the answer is kept
    assert "问卷/D" not in customer_tags(world, ext)
    assert world.rows("SELECT codes, applied_at FROM questionnaire_answer") == [
        ('{"situation": [], "wish": ["D"], "taste": ["甜"]}', None)]
    runtime = world.runtime
    assert runtime.members is not None and runtime.members.questionnaires is not None
    assert await runtime.members.questionnaires.apply_pending() == 1
    assert "问卷/D" in customer_tags(world, ext)
    assert world.rows("SELECT count(*) FROM questionnaire_answer WHERE applied_at IS NULL") == [
        (0,)]
