"""Replies ranked for the customer in view, rendered for them, searched, and learning from sends."""

from __future__ import annotations

import math

from tests.conftest import World
from tests.replies_support import MANAGER_0012, MANAGER_0015, Browser, customer

ACNE = ("acne-fruit-diet", "acne-weekly-box")
GOLD = ("member-day-gold", "points-balance")


def ids(data: dict) -> list[str]:
    return [r["id"] for r in data["replies"]]


async def test_replies_matching_the_customers_tags_come_first(world: World):
    wang = await customer(world, "王丽", tags=(("问卷", "D"), ("会员等级", "金卡")))
    plain = await customer(world, "李雷")
    async with Browser(world, MANAGER_0012) as browser:
        await browser.login()
        status, data = await browser.replies(wang)
        assert status == 200
        top = ids(data)[:4]
        assert set(top) == {*ACNE, *GOLD}
        first = data["replies"][0]
        assert first["matched_tags"] and first["score"] > 0
        # the QR code's channel tag (渠道/门店收银台 = 新客) matches too, but every customer
        # here has it: it weighs less than the rare ones
        assert all(r["score"] < data["replies"][3]["score"] for r in data["replies"][4:])
        assert {"todays-new", "self-pickup"} <= {r["id"] for r in data["replies"][4:9]}
        card = data["customer"]
        assert card["name"] == "王丽" and card["store"] == {"id": "0012", "name": "天钥桥路店"}
        assert card["channel"] == "store-counter"
        assert {"group": "问卷", "name": "D"} in card["tags"]

        # a customer without those tags: the category order of _library.yaml decides
        _, data = await browser.replies(plain)
        unmatched = [r["category"] for r in data["replies"] if not r["matched_tags"]]
        assert unmatched[0] == "售后/退换"
        assert unmatched == sorted(unmatched, key=data["categories"].index)


async def test_rarer_tags_weigh_more(world: World):
    """Every customer is gold, one has the acne questionnaire code: acne first for her."""
    wang = await customer(world, "王丽", tags=(("问卷", "D"), ("会员等级", "金卡")))
    for name in ("甲", "乙", "丙"):
        await customer(world, name, tags=(("会员等级", "金卡"),))
    async with Browser(world, MANAGER_0012) as browser:
        await browser.login()
        _, data = await browser.replies(wang)
    top = ids(data)
    assert set(top[:2]) == set(ACNE)
    score = {r["id"]: r["score"] for r in data["replies"]}
    # 1 of 4 customers carries 问卷/D, all 4 carry 金卡: 1 + ln(5/2) against 1 + ln(5/5)
    assert score["acne-fruit-diet"] == round(1 + math.log(5 / 2), 3)
    assert score["member-day-gold"] == score["points-balance"] == 1.0
    assert top.index("member-day-gold") < top.index("not-sweet")  # still above no match


async def test_a_coded_tag_is_matched_only_in_its_group(world: World):
    """问卷/D means acne; a tag named D in another group does not."""
    other = await customer(world, "韩梅梅", tags=(("门店分区", "D"),))
    async with Browser(world, MANAGER_0012) as browser:
        await browser.login()
        _, data = await browser.replies(other)
    assert not {t for r in data["replies"] for t in r["matched_tags"]} - {"新客"}
    assert all(r["score"] == 0 for r in data["replies"] if r["id"] in ACNE)


async def test_texts_are_rendered_for_each_customer(world: World):
    wang = await customer(world, "王丽")
    zhao = await customer(world, "赵敏", staff=MANAGER_0015, state="store-0015-counter")
    async with Browser(world, MANAGER_0012) as a, Browser(world, MANAGER_0015) as b:
        await a.login()
        await b.login()
        _, mine = await a.replies(wang, q="配送范围")
        _, theirs = await b.replies(zhao, q="配送范围")
    [text_a] = [r["text"] for r in mine["replies"]]
    [text_b] = [r["text"] for r in theirs["replies"]]
    assert text_a.startswith("王丽，") and "天钥桥路店每天 08:00-22:30 配送" in text_a
    assert text_b.startswith("赵敏，") and "长寿路店每天 08:30-22:00 配送" in text_b
    assert "{{" not in text_a + text_b


async def test_a_customer_without_a_store_gets_the_staff_members_store(world: World):
    ext = await customer(world, "路人甲", state="")  # the default channel: no store
    async with Browser(world, MANAGER_0012) as browser:
        await browser.login()
        _, data = await browser.replies(ext, q="自提")
    assert data["customer"]["store"] is None
    [reply] = [r for r in data["replies"] if r["id"] == "self-pickup"]
    assert "路人甲" in reply["text"] and "天钥桥路 118 号" in reply["text"]


async def test_a_nickname_that_looks_like_a_template_is_printed_as_written(world: World):
    ext = await customer(world, "{{ 7*7 }}{% raw %}")
    async with Browser(world, MANAGER_0012) as browser:
        await browser.login()
        _, data = await browser.replies(ext, q="坏果")
    assert data["replies"][0]["text"].startswith("{{ 7*7 }}{% raw %}，")


async def test_search_by_word_tag_alias_and_category(world: World):
    ext = await customer(world, "王丽")
    async with Browser(world, MANAGER_0012) as browser:
        await browser.login()
        _, data = await browser.replies(ext, q="坏果")
        assert ids(data) == ["bad-fruit-refund"]
        _, data = await browser.replies(ext, q="ACNE")  # an alias of the tag 痘痘
        assert set(ids(data)) == set(ACNE)
        _, data = await browser.replies(ext, category="送礼")
        assert ids(data) == ["gift-box", "visit-patient"]
        assert data["replies"][0]["attachments"] == [{"msgtype": "news", "news": {
            "link": "https://m.guotian.example/gift-box", "title": "果田鲜生 · 鲜果礼盒",
            "desc": "三档礼盒，免费贺卡，同城准时送达",
            "imgUrl": "https://img.guotian.example/gift-box.png"}}]
        _, data = await browser.replies(ext, q="没有这种水果")
        assert data["replies"] == []
        status, html = await browser.get("/sidebar/panel", customer=ext, q="坏果")
        assert status == 200 and "坏果包赔" in html and "不甜" not in html


async def test_sends_are_recorded_and_learn_the_order(world: World):
    ext = await customer(world, "王丽")
    async with Browser(world, MANAGER_0012) as browser:
        await browser.login()
        _, data = await browser.replies(ext, category="售后/退换")
        before = ids(data)
        assert before[0] == "bad-fruit-refund"  # file order while nobody has sent any
        for _ in range(2):
            assert (await browser.sent(ext, "refund-progress"))[0] == 200
        assert (await browser.sent(ext, "not-sweet", via="clipboard"))[0] == 200
        _, data = await browser.replies(ext, category="售后/退换")
    assert ids(data)[:2] == ["refund-progress", "not-sweet"]
    assert data["replies"][0]["sends"] == 2
    assert world.rows("SELECT reply_id, via, count(*) FROM reply_send GROUP BY reply_id, via "
                      "ORDER BY reply_id") == [("not-sweet", "clipboard", 1),
                                               ("refund-progress", "sidebar", 2)]


async def test_two_codes_meaning_one_tag_word_count_once(world: World):
    """问卷/3 (troubled by acne) and 问卷/D (wants it cleared) both mean 痘痘: a customer who
    ticked both weighs as one who ticked one, and counts once among those who carry 痘痘."""
    wang = await customer(world, "王丽", tags=(("问卷", "3"), ("问卷", "D")))
    li = await customer(world, "李娜", tags=(("问卷", "D"),))
    for name in ("甲", "乙"):
        await customer(world, name, tags=(("会员等级", "金卡"),))
    async with Browser(world, MANAGER_0012) as browser:
        await browser.login()
        _, both = await browser.replies(wang)
        _, one = await browser.replies(li)
    score = {r["id"]: r for r in both["replies"]}["acne-fruit-diet"]
    # 2 of 4 customers carry 痘痘 (not 3: 王丽 once), matched once: 1 + ln(5/3)
    assert score["score"] == round(1 + math.log(5 / 3), 3)
    assert score["matched_tags"] == ["痘痘"]
    assert {r["id"]: r["score"] for r in one["replies"]}["acne-fruit-diet"] == score["score"]
