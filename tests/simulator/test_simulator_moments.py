"""The simulated 客户朋友圈 through the real client (bot.wecom.moments): the async job, each
staff member's publish status that changes only when they confirm, visibility by tags, the
uploads, and WeCom's limits with their errcodes (wecom-more.md §3)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.simulator import SimOptions, Simulator
from bot.wecom import moments as api
from bot.wecom.client import WeComClient
from bot.wecom.errors import WeComError
from tests.conftest import REPO
from tests.moments.test_moments_checks import mp4

CORP_ID, SECRET = "wwsimmoments01", "sim-secret-moments"
PNG = (REPO / "sop" / "images" / "products" / "apple-akesu.png").read_bytes()


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    simulator = Simulator(CORP_ID, SECRET, "TOKENx", "a" * 43,
                          options=SimOptions(moment_tasks_per_minute=3, moment_job_polls=1))
    await simulator.start()
    simulator.add_staff("linxiaoyu", "林晓雨")
    simulator.add_staff("zhoujianguo", "周建国")
    try:
        yield simulator
    finally:
        await simulator.stop()


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[WeComClient]:
    async with WeComClient(sim.base_url, CORP_ID, SECRET, max_wait_s=0.5) as wecom:
        yield wecom


async def errcode(call: object) -> int:
    with pytest.raises(WeComError) as caught:
        await call  # type: ignore[misc]
    return caught.value.errcode


def task(text: str = "周二上新", attachments: list[dict[str, Any]] | None = None,
         senders: list[str] | None = None, tags: list[str] | None = None) -> dict[str, Any]:
    visible: dict[str, Any] = {}
    if senders is not None:
        visible["sender_list"] = {"user_list": senders}
    if tags is not None:
        visible["external_contact_list"] = {"tag_list": tags}
    return {"text": {"content": text}, "attachments": attachments or [],
            "visible_range": visible}


async def test_a_task_is_a_job_then_a_moment_each_staff_member_confirms(
        client: WeComClient, sim: Simulator) -> None:
    image = await api.upload_attachment(client, PNG, "apple.png")
    jobid = await api.add_moment_task(client, task(
        attachments=[{"msgtype": "image", "image": {"media_id": image.media_id}}],
        senders=["linxiaoyu", "zhoujianguo", "nobody"]))
    assert (await api.get_moment_task_result(client, jobid))["status"] == 2  # running
    done = await api.get_moment_task_result(client, jobid)
    assert done["status"] == api.JOB_DONE and done["type"] == "add_moment_task"
    result = done["result"]
    assert result["errcode"] == 0 and result["invalid_sender_list"]["user_list"] == ["nobody"]
    moment_id = result["moment_id"]
    before = await api.get_moment_task(client, moment_id)
    assert {(t["userid"], t["publish_status"]) for t in before} == {
        ("linxiaoyu", 0), ("zhoujianguo", 0)}
    sim.staff_posts_moment(moment_id, "linxiaoyu")  # only a confirm changes it
    after = {t["userid"]: t["publish_status"] for t in await api.get_moment_task(client,
                                                                                 moment_id)}
    assert after == {"linxiaoyu": 1, "zhoujianguo": 0}
    assert sim.unposted_moments() == [(moment_id, "zhoujianguo")]
    listed = await api.get_moment_list(client, sim.world.now() - 60, sim.world.now() + 60)
    assert [(m["moment_id"], m["text"]["content"], m["visible_type"]) for m in listed] == [
        (moment_id, "周二上新", 1)]


async def test_visibility_by_customer_tags(client: WeComClient, sim: Simulator) -> None:
    gold = sim.admin_add_tag("会员等级", "金卡会员")
    ext, _ = sim.scan_contact_qr("linxiaoyu", "store-0012-counter", "顾客甲")
    sim.scan_contact_qr("linxiaoyu", "store-0012-counter", "顾客乙")
    sim.edit_contact_tags("linxiaoyu", ext, add_tag_ids=[gold])
    jobid = await api.add_moment_task(client, task(tags=[gold, "et-nope"]))
    await api.get_moment_task_result(client, jobid)
    result = (await api.get_moment_task_result(client, jobid))["result"]
    assert result["invalid_external_contact_list"]["tag_list"] == ["et-nope"]
    # tags only: the staff who have a tagged customer post it, to those customers
    moment_id = result["moment_id"]
    assert [t["userid"] for t in await api.get_moment_task(client, moment_id)] == ["linxiaoyu"]
    assert await api.get_moment_customer_list(client, moment_id, "linxiaoyu") == [ext]


async def test_wecoms_limits_and_errcodes(client: WeComClient, sim: Simulator) -> None:
    image = {"msgtype": "image", "image": {"media_id": "x"}}
    link = {"msgtype": "link", "link": {"title": "新品", "url": "https://m.guotian.example"}}
    assert await errcode(api.add_moment_task(client, task("鲜" * 2001))) == 45002
    assert await errcode(api.add_moment_task(client, task(attachments=[image, link]))) == 41065
    assert await errcode(api.add_moment_task(client, task(attachments=[image] * 10))) == 41064
    assert await errcode(api.add_moment_task(client, task(attachments=[link, link]))) == 41064
    # a media/upload id is not an upload_attachment id: the job ends with 40007
    jobid = await api.add_moment_task(client, task(attachments=[image]))
    await api.get_moment_task_result(client, jobid)
    assert (await api.get_moment_task_result(client, jobid))["result"]["errcode"] == 40007
    # videos: MP4 of at most 30 s
    video = await api.upload_attachment(client, mp4(12.0), "tasting.mp4")
    assert video.media_id
    assert await errcode(api.upload_attachment(client, mp4(31.0), "long.mp4")) == 45001
    # the corp's tasks a minute (3 here, WeCom's 10): past it 45009, waited out, then refused
    await api.add_moment_task(client, task())
    await api.add_moment_task(client, task())
    assert await errcode(api.add_moment_task(client, task())) == 45009
    assert sim.moments.refused_for_rate >= 1
