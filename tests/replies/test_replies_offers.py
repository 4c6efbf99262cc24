"""Offers in replies come from the SOP data files: the member-day coupon a staff member's
reply names is the one the 08:30 member-day group message sends to that customer's store."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from bot.app import load_sop_book
from tests.conftest import World
from tests.replies_support import MANAGER_0012, Browser, customer

SUNLI = "sunli"  # 观前街店 0201: its own, bigger member-day coupons in member_day.yaml
TUESDAY = datetime.combine(date(2026, 12, 8), time(8, 30), tzinfo=ZoneInfo("Asia/Shanghai"))


def texts(data: dict) -> dict[str, str]:
    return {r["id"]: r["text"] for r in data["replies"]}


async def test_member_day_replies_name_the_stores_own_coupons(world: World) -> None:
    gold = (("会员等级", "金卡"),)
    wang = await customer(world, "王丽", tags=gold)
    zhou = await customer(world, "周阿姨", staff=SUNLI, state="store-0201-counter", tags=gold)
    book = load_sop_book(world.settings)
    for staff, ext, store, coupon in [(MANAGER_0012, wang, "0012", "满49减15"),
                                      (SUNLI, zhou, "0201", "满49减18")]:
        async with Browser(world, staff) as browser:
            await browser.login()
            status, data = await browser.replies(ext)
        assert status == 200
        said = texts(data)
        assert f"金卡券「{coupon}」" in said["member-day-gold"], store
        assert "8 折" not in said["member-day-gold"] and "低至" not in said["member-day-intro"]
        group_message = book.render("member-day", store, TUESDAY).text
        assert f"金卡会员（成长值 6000 以上）：{coupon}" in group_message  # the same offer
        assert "每消费 1 元得 10 成长值" in said["points-balance"]
