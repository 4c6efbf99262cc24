"""A store manager sends 「二维码」 to the bot app and gets their store's cards as images.

The real bot and the simulated WeCom: `codes sync` makes the store's codes, the staff
message arrives as an encrypted callback, the bot reads the recorded codes, uploads each
card with media/upload and sends it with message/send (msgtype image); the test reads the
picture back out of the simulated WeCom and scans it as a phone would.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import zxingcpp
from PIL import Image

from tests.codes.support import codes_of, operator_files, run_sync, store_groups
from tests.conftest import World
from tests.replies_support import MANAGER_0012, MANAGER_0015

pytestmark = pytest.mark.usefixtures("chinese")  # staff read the app in Chinese


def scanned(world: World, media_id: str) -> list[str]:
    card = Image.open(io.BytesIO(world.sim.media.live_media(media_id).data))
    return [r.text for r in zxingcpp.read_barcodes(card)]


async def test_a_manager_gets_their_stores_cards_as_images(world: World, tmp_path: Path):
    await store_groups(world, ("0012",))
    assert (await run_sync(world, operator_files(tmp_path, world)))[0] == 0
    codes = await codes_of(world, store="0012")  # two 「联系我」 and the join code
    assert len(codes) == 3
    world.sim.staff_sends_app_text(MANAGER_0012, "二维码")
    await world.settle()
    # (sync told the manager to attach the group welcome: a text before the cards)
    images = [m for m in world.sim.app_messages_for(MANAGER_0012) if m.msgtype == "image"]
    assert len(images) == 3
    read = sorted(text for m in images for text in scanned(world, m.content))
    assert read == sorted(world.sim.codes.qr_content(c.config_id) for c in codes)
    assert world.sim.call_count("media/upload") == 3

    # asked again within the 3 days: the same cards, no new upload
    world.sim.staff_sends_app_text(MANAGER_0012, " 二维码 ")
    await world.settle()
    again = [m for m in world.sim.app_messages_for(MANAGER_0012) if m.msgtype == "image"][3:]
    assert [m.content for m in again] == [m.content for m in images]
    assert world.sim.call_count("media/upload") == 3


async def test_no_codes_yet_and_not_a_manager_get_a_text(world: World):
    world.sim.staff_sends_app_text(MANAGER_0015, "二维码")
    world.sim.add_staff("xiaowang", "小王")
    world.sim.staff_sends_app_text("xiaowang", "二维码")
    await world.settle()
    [manager] = world.sim.app_messages_for(MANAGER_0015)
    assert manager.msgtype == "text" and "长寿路店还没有生成二维码" in manager.content
    [other] = world.sim.app_messages_for("xiaowang")
    assert other.msgtype == "text" and "只发给门店店长" in other.content
    assert world.sim.call_count("media/upload") == 0


async def test_a_code_whose_qr_is_gone_does_not_stop_the_others(world: World, tmp_path: Path):
    await run_sync(world, operator_files(tmp_path, world))
    counter, takeout = sorted(await codes_of(world, store="0012"), key=lambda c: c.channel)
    assert (counter.channel, takeout.channel) == ("store-counter", "takeout-store")
    del world.sim.codes.contact_ways[counter.config_id]  # deleted by hand in WeCom
    world.sim.staff_sends_app_text(MANAGER_0012, "二维码")
    await world.settle()
    # once (the handler did not fail), after sync's text about the group welcome
    [image] = [m for m in world.sim.app_messages_for(MANAGER_0012) if m.msgtype == "image"]
    assert scanned(world, image.content) == [world.sim.codes.qr_content(takeout.config_id)]
