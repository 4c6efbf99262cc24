"""Local pictures become WeCom-hosted ones: uploaded once per content, media ids renewed.

The real bot against the simulator over HTTP, on the test's database: the SOP outbox and the
welcome send what WeCom hosts, the media_upload table remembers it, and the simulator's
media endpoints refuse what WeCom refuses.
"""

from __future__ import annotations

import io
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.app import load_sop_book
from bot.media.cache import RENEW_BEFORE_S, MediaCache
from bot.outbox.scheduler import SopScheduler
from bot.wecom.errors import WeComError
from bot.wecom.media import MEDIA_ID_TTL_S, multipart_file, upload_image
from tests.conftest import REPO, World
from tests.outbox.test_sop_delivery import MORNING, deliver, make_groups, scheduler_for


@pytest.fixture
def bot_overrides() -> dict[str, dict[str, Any]]:
    return {"sop": {"check_after_minutes": 0.001}, "wecom": {"request_timeout_s": 1.0}}


def png(colour: tuple[int, int, int], size: tuple[int, int] = (40, 30)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, colour).save(buf, "PNG")
    return buf.getvalue()


def cache(world: World, clock: float | None = None) -> MediaCache:
    services = world.runtime.services
    assert services is not None
    return MediaCache(services.db, services.wecom, REPO / "sop",
                      clock=(lambda: clock) if clock is not None else time.time)


async def test_each_picture_is_uploaded_once_and_remembered_across_restarts(world: World):
    first = cache(world)
    attachments = [{"msgtype": "image", "image": {"pic_url": "images/products/pear-korla.png"}},
                   {"msgtype": "link", "link": {"title": "附近门店", "url": "https://m.example/s",
                                                "picurl": "images/banners/stores.png"}},
                   {"msgtype": "image", "image": {"media_id": "images/flash/durian.png"}}]
    resolved = await first.resolve(attachments)
    assert attachments[0]["image"]["pic_url"] == "images/products/pear-korla.png"  # untouched
    pear, banner = resolved[0]["image"]["pic_url"], resolved[1]["link"]["picurl"]
    assert world.sim.media.hosted(pear) and world.sim.media.hosted(banner)
    async with world.http.get(pear) as resp:
        assert await resp.read() == (REPO / "sop/images/products/pear-korla.png").read_bytes()
    media_id = resolved[2]["image"]["media_id"]
    assert world.sim.media.live_media(media_id).data == (
        REPO / "sop/images/flash/durian.png").read_bytes()
    assert world.sim.call_count("media/uploadimg") == 2
    assert world.sim.call_count("media/upload") == 1

    # the same pictures again, and from a new process on the same database: no upload
    assert await first.resolve(attachments) == resolved
    assert await cache(world).resolve(attachments) == resolved
    assert world.sim.call_count("media/uploadimg") == 2
    assert world.sim.call_count("media/upload") == 1
    assert world.count("media_upload") == 3


async def test_a_media_id_is_renewed_before_its_three_days_are_up(world: World):
    now = time.time()
    picture = png((255, 202, 58))
    first = await cache(world, now).media_id(picture, "mango.png")
    # two days on, a day and more is left: still the same id
    two_days = now + MEDIA_ID_TTL_S - RENEW_BEFORE_S - 3600
    assert await cache(world, two_days).media_id(picture, "mango.png") == first
    assert world.sim.call_count("media/upload") == 1
    # past that, the next use uploads again and the row holds the new id
    later = now + MEDIA_ID_TTL_S - RENEW_BEFORE_S + 60
    renewed = await cache(world, later).media_id(picture, "mango.png")
    assert renewed != first and world.sim.call_count("media/upload") == 2
    [(value, expires_at)] = world.rows("SELECT value, expires_at FROM media_upload")
    assert value == renewed and expires_at > now + MEDIA_ID_TTL_S - 120


async def test_sop_group_send_carries_wecom_hosted_product_photos(world: World):
    chats = await make_groups(world)
    plan = await scheduler_for(world).plan("morning-new-arrivals", MORNING,
                                           now=MORNING.timestamp())
    assert plan.sends == 2
    await deliver(world, 2)
    photos = {a["image"]["pic_url"] for chat in chats.values()
              for m in world.sim.group_messages(chat) for a in m.attachments
              if a["msgtype"] == "image"}
    assert photos and all(world.sim.media.hosted(p) for p in photos)
    assert world.sim.media.foreign_pic_urls == []
    uploads = world.sim.call_count("media/uploadimg")
    assert uploads == len(photos)  # a photo shown to two stores was uploaded once
    bodies = [b for (b,) in world.rows("SELECT payload FROM outbox_send WHERE via = 'group_send'")]
    assert all("images/" not in b for b in bodies)  # rows hold what WeCom got and lists


async def test_wecom_refuses_what_it_would_not_host(world: World):
    wecom = world.runtime.services.wecom  # type: ignore[union-attr]

    async def errcode(api: str, part: Any, **params: str) -> int:
        try:
            await wecom.call(api, part, params=params)
        except WeComError as exc:
            return exc.errcode
        return 0

    gif = multipart_file(b"GIF89a" + b"\0" * 40, "a.gif", "image/gif")
    assert await errcode("media/uploadimg", gif) == 40004
    big = multipart_file(b"\x89PNG\r\n\x1a\n" + b"\0" * (2 * 1024 * 1024), "big.png",
                         "image/png")
    assert await errcode("media/uploadimg", big) == 45001
    assert await errcode("media/upload", big, type="image") == 0  # 10 MB there
    assert await errcode("media/upload", gif, type="voice") == 40005
    assert await errcode("media/uploadimg", {"media": "not a file"}) == 44001
    unknown = {"touser": "linxiaoyu", "msgtype": "image", "agentid": 1000002,
               "image": {"media_id": "3nope"}}
    assert await errcode("message/send", unknown) == 40007
    # the bot refuses a file WeCom would refuse before making a call
    calls = world.sim.call_count("media/uploadimg")
    with pytest.raises(ValueError, match="at most 2,097,152"):
        await upload_image(wecom, b"\x89PNG\r\n\x1a\n" + b"\0" * (2 * 1024 * 1024), "b.png")
    assert world.sim.call_count("media/uploadimg") == calls


async def test_a_welcome_with_an_outside_picture_is_recorded_or_refused(world: World):
    """The simulator's stand on pic_urls WeCom did not host (docs/simulator.md, ASSUMED)."""
    secrets = world.secrets
    outside = {"msgtype": "image", "image": {"pic_url": "https://cdn.example/a.png"}}
    async with world.http.get(world.sim.base_url + "gettoken", params={
            "corpid": secrets.corp_id, "corpsecret": secrets.secret}) as resp:
        token = (await resp.json())["access_token"]

    async def welcome(code: str, attachment: dict[str, Any]) -> int:
        async with world.http.post(world.sim.base_url + "externalcontact/send_welcome_msg",
                                   params={"access_token": token},
                                   json={"welcome_code": code, "attachments": [attachment]}
                                   ) as resp:
            return int((await resp.json())["errcode"])

    world.sim.callback_url = None  # the bot stays out of it: the test sends the welcomes
    _, first = world.sim.scan_contact_qr("linxiaoyu", "s", "顾客甲")
    assert await welcome(first, outside) == 0
    assert world.sim.media.foreign_pic_urls == ["https://cdn.example/a.png"]
    world.sim.media.refuse_foreign = True
    _, second = world.sim.scan_contact_qr("linxiaoyu", "s", "顾客乙")
    assert await welcome(second, outside) == 41065
    hosted = await cache(world).pic_url(png((230, 57, 70)), "apple.png")
    assert await welcome(second, {"msgtype": "image", "image": {"pic_url": hosted}}) == 0


async def test_a_picture_removed_after_the_check_holds_back_that_stores_message(
        world: World, tmp_path: Path):
    """A store's message that does not render is left out and noted, as for bad data; the
    other stores' messages go (bot.outbox.planner)."""
    chats = await make_groups(world)
    sop = tmp_path / "sop"
    shutil.copytree(REPO / "sop", sop)
    settings = world.settings.with_overrides(paths={"sop_dir": sop})
    book = load_sop_book(settings)  # checked with every picture there
    (sop / "images/products/qicheng-gannan.png").unlink()  # then someone tidies the folder
    runtime = world.runtime
    assert runtime.services is not None and runtime.outbox is not None
    scheduler = SopScheduler(runtime.services.db, settings, lambda: book, runtime.outbox)
    plan = await scheduler.plan("morning-new-arrivals", MORNING, now=MORNING.timestamp())
    assert plan.sends == 1
    await deliver(world, 1)
    assert world.sim.group_messages(chats["0012-a"]) == []
    [seen] = world.sim.group_messages(chats["0015"])
    assert seen.attachments and all(world.sim.media.hosted(a["image"]["pic_url"])
                                    for a in seen.attachments)
    [(note,)] = world.rows("SELECT note FROM sop_slot")
    assert "store 0012" in note and "images/products/qicheng-gannan.png not found" in note


async def test_wecom_refusing_uploads_leaves_pictures_out_not_the_slot(world: World):
    chats = await make_groups(world)
    world.sim.fail_next("media/uploadimg", 48002, times=100)  # "api forbidden": no retry
    plan = await scheduler_for(world).plan("morning-new-arrivals", MORNING,
                                           now=MORNING.timestamp())
    assert plan.sends == 2
    await deliver(world, 2)
    for chat in chats.values():
        [seen] = world.sim.group_messages(chat)
        assert "早上好" in seen.text and seen.attachments == ()
    [(status, note)] = world.rows("SELECT status, note FROM sop_slot")
    assert status == "planned" and "picture left out" in note and "48002" in note
