"""A store manager sends 「二维码」 to the bot app and gets their store's cards as images.

The real bot and the simulated WeCom: the staff message arrives as an encrypted callback,
the bot uploads each card with media/upload and sends it with message/send (msgtype image);
the test reads the picture back out of the simulated WeCom and scans it.
"""

from __future__ import annotations

import io

import pytest
import segno
import zxingcpp
from PIL import Image

from bot.cards.model import CardCode
from bot.wecom.media import upload_image
from tests.conftest import World
from tests.replies_support import MANAGER_0012, MANAGER_0015

pytestmark = pytest.mark.usefixtures("chinese")  # staff read the app in Chinese


async def codes_of_0012(world: World) -> list[CardCode]:
    services = world.runtime.services
    assert services is not None
    out = []
    for channel, line in (("store-counter", "扫码加店长，送5元无门槛券"),
                          ("takeout-store", "扫码加店长，下次外卖立减3元")):
        buf = io.BytesIO()
        segno.make(f"https://work.weixin.qq.com/ca/{channel}-0012", error="m").save(
            buf, kind="png", scale=6, border=4)
        url = await upload_image(services.wecom, buf.getvalue(), f"{channel}.png")
        out.append(CardCode("0012", "天钥桥路店", channel, line, url))
    return out


async def test_a_manager_gets_their_stores_cards_as_images(world: World):
    services = world.runtime.services
    assert services is not None
    codes = await codes_of_0012(world)
    asked: list[list[str]] = []

    async def store_codes(store_ids: list[str]) -> list[CardCode]:
        asked.append(store_ids)
        return [c for c in codes if c.store_id in store_ids]

    services.card_codes = store_codes
    world.sim.staff_sends_app_text(MANAGER_0012, "二维码")
    await world.settle()
    assert asked == [["0012"]]
    images = world.sim.app_messages_for(MANAGER_0012)
    assert [m.msgtype for m in images] == ["image", "image"]
    scanned = []
    for message in images:
        card = Image.open(io.BytesIO(world.sim.media.live_media(message.content).data))
        scanned += [r.text for r in zxingcpp.read_barcodes(card)]
    assert scanned == ["https://work.weixin.qq.com/ca/store-counter-0012",
                       "https://work.weixin.qq.com/ca/takeout-store-0012"]
    assert world.sim.call_count("media/upload") == 2

    # asked again within the 3 days: the same cards, no new upload
    world.sim.staff_sends_app_text(MANAGER_0012, " 二维码 ")
    await world.settle()
    again = world.sim.app_messages_for(MANAGER_0012)[2:]
    assert [m.content for m in again] == [m.content for m in images]
    assert world.sim.call_count("media/upload") == 2


async def test_no_codes_yet_and_not_a_manager_get_a_text(world: World):
    services = world.runtime.services
    assert services is not None

    async def none_yet(store_ids: list[str]) -> list[CardCode]:
        return []

    services.card_codes = none_yet
    world.sim.staff_sends_app_text(MANAGER_0015, "二维码")
    world.sim.add_staff("xiaowang", "小王")
    world.sim.staff_sends_app_text("xiaowang", "二维码")
    await world.settle()
    [manager] = world.sim.app_messages_for(MANAGER_0015)
    assert manager.msgtype == "text" and "长寿路店还没有生成二维码" in manager.content
    [other] = world.sim.app_messages_for("xiaowang")
    assert other.msgtype == "text" and "只发给门店店长" in other.content
    assert world.sim.call_count("media/upload") == 0


async def test_a_code_whose_qr_is_gone_does_not_stop_the_others(world: World):
    services = world.runtime.services
    assert services is not None
    good = (await codes_of_0012(world))[0]
    gone = CardCode("0012", "天钥桥路店", "tuesday-fruit-day", "周二会员日",
                    f"{world.sim.url}/pic_wework/1/{'0' * 48}/0")

    async def store_codes(store_ids: list[str]) -> list[CardCode]:
        return [gone, good]

    services.card_codes = store_codes
    world.sim.staff_sends_app_text(MANAGER_0012, "二维码")
    await world.settle()
    [image] = world.sim.app_messages_for(MANAGER_0012)  # once: the handler did not fail
    card = Image.open(io.BytesIO(world.sim.media.live_media(image.content).data))
    assert [r.text for r in zxingcpp.read_barcodes(card)] == [
        "https://work.weixin.qq.com/ca/store-counter-0012"]
