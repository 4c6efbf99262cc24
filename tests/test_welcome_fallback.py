"""A channel's welcome template that fails for one customer still welcomes them in time.

The sandbox refuses `''.__class__` only for the customer named 黑客 (load-time checks render
with a sample customer, so the file loads). That customer must get the default channel's
welcome instead, with the channel's tags; everyone else the channel's own welcome.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import REPO, World

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
