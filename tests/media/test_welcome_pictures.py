"""A welcome's picture never costs the welcome: a first upload that hangs is given up in
time and the text goes without it (the soak once lost welcomes to exactly this)."""

from __future__ import annotations

from typing import Any

import pytest

from bot.simulator import FaultPlan, SimOptions
from bot.simulator.faults import FaultRates
from tests.conftest import World
from tests.replies_support import MANAGER_0012


@pytest.fixture
def sim_options() -> SimOptions:
    return SimOptions(welcome_code_ttl_s=4.0, callback_retry_interval_s=0.05,
                      callback_timeout_s=2.0)


@pytest.fixture
def bot_overrides() -> dict[str, dict[str, Any]]:
    return {"wecom": {"welcome_deadline_s": 4.0}}


async def test_a_hanging_upload_leaves_the_picture_out_not_the_welcome(world: World):
    world.sim.faults = FaultPlan(per_path={"media/uploadimg": FaultRates(timeout=1.0,
                                                                           hang_ms=3000)})
    ext, _ = world.sim.scan_contact_qr(MANAGER_0012, "store-0012-counter", "王丽")
    await world.settle()
    [welcome] = world.sim.welcomes_for(ext)
    assert "王丽" in welcome.text and "JOIN5" in welcome.text
    assert welcome.attachments == ()  # the store group's picture could not be uploaded
    assert world.rows("SELECT status FROM welcome") == [("sent",)]

    # WeCom answers again: the next welcome carries the picture, uploaded now
    world.sim.faults = FaultPlan()
    again, _ = world.sim.scan_contact_qr(MANAGER_0012, "store-0012-counter", "李雷")
    await world.settle()
    [picture] = world.sim.welcomes_for(again)[0].attachments
    assert world.sim.media.hosted(picture["image"]["pic_url"])
