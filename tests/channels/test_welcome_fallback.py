"""A channel's welcome template that fails for one customer still welcomes them in time.

The sandbox refuses `''.__class__` only for the customer named 黑客 (load-time checks render
with a sample customer, so the file loads). That customer must get the default channel's
welcome instead, with the channel's tags; everyone else the channel's own welcome.
"""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, World

MANAGER_0012 = "linxiaoyu"


@pytest.fixture
def bot_overrides(tmp_path: Path) -> dict[str, dict[str, Any]]:
    templates = tmp_path / "templates"
    shutil.copytree(REPO / "templates", templates)
    counter = templates / "welcome" / "store_counter.j2"
    counter.write_text(counter.read_text(encoding="utf-8")
                       + "{% if customer.name == '黑客' %}{{ ''.__class__.__mro__ }}{% endif %}\n",
                       encoding="utf-8")
    return {"paths": {"templates_dir": templates}}


async def test_a_template_failing_for_one_customer_falls_back_to_the_default_welcome(
        world: World) -> None:
    normal, _ = world.sim.scan_contact_qr(MANAGER_0012, "store-0012-counter", "王丽")
    odd, _ = world.sim.scan_contact_qr(MANAGER_0012, "store-0012-counter", "黑客")
    await world.settle()

    [welcome] = world.sim.welcomes_for(normal)
    assert "JOIN5" in welcome.text  # the channel's own welcome, with its coupon
    [fallback] = world.sim.welcomes_for(odd)
    assert "黑客" in fallback.text and "果田鲜生" in fallback.text
    assert "JOIN5" not in fallback.text and "__class__" not in fallback.text
    statuses = dict(world.rows("SELECT external_userid, status FROM welcome"))
    assert statuses == {normal: "sent", odd: "sent"}
    tags = world.rows("SELECT t.name FROM member_tag m JOIN tag t ON t.id = m.tag_id "
                      "WHERE m.external_userid = ?", odd)
    assert ("门店收银台",) in tags  # the channel's tags still apply


class TestChannelEdits:
    """channels.yaml edited while the bot runs: a broken edit keeps the last good channels,
    a good one is used for the next customer, without a restart."""

    @pytest.fixture
    def bot_overrides(self, tmp_path: Path) -> dict[str, dict[str, Any]]:
        sop = tmp_path / "sop"
        shutil.copytree(REPO / "sop", sop)
        return {"paths": {"sop_dir": sop, "templates_dir": REPO / "templates"},
                "sop": {"reload_poll_s": 0.05}}

    async def test_a_broken_edit_is_refused_and_a_good_one_goes_live(
            self, world: World) -> None:
        reloader = world.runtime.channel_reload
        assert reloader is not None
        channels = world.settings.paths.sop_dir / "channels.yaml"
        source = channels.read_text(encoding="utf-8")
        channels.write_text(source.replace("template: welcome/store_counter.j2",
                                           "template: welcome/nope.j2", 1), encoding="utf-8")
        assert await reloader.reload() is False
        assert reloader.last_error is not None and "channels.yaml:" in reloader.last_error
        before, _ = world.sim.scan_contact_qr(MANAGER_0012, "store-0012-counter", "王丽")
        await world.settle()
        assert "JOIN5" in world.sim.welcomes_for(before)[0].text  # the last good channels

        channels.write_text(source.replace("code: JOIN5, valid_days: 7, rule: 全场水果通用",
                                           "code: JOIN8, valid_days: 7, rule: 全场水果通用"),
                            encoding="utf-8")
        for _ in range(200):  # the watcher notices the edit by itself
            if reloader.reloads:
                break
            await asyncio.sleep(0.02)
        after, _ = world.sim.scan_contact_qr(MANAGER_0012, "store-0012-counter", "陈晨")
        await world.settle()
        assert reloader.reloads == 1 and reloader.last_error is None
        assert "JOIN8" in world.sim.welcomes_for(after)[0].text
