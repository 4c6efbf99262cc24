"""A purchase through the till's webhook is a journey event: the first one starts the
repurchase journey, every one stops the tracks that end on buying; a resent order adds
nothing."""

from __future__ import annotations

import pytest

from tests.conftest import World
from tests.members.support import MANAGER, POS_SECRET, post_purchases, purchase


@pytest.fixture(autouse=True)
def pos_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOT_POS_SECRET", POS_SECRET)


async def test_purchases_of_a_wecom_customer_are_journey_events(world: World):
    ext, _ = world.sim.scan_contact_qr(MANAGER, "store-0012-counter", "孙悦")
    world.sim.world.contacts[ext].unionid = "oSunYue"
    await world.settle()
    await post_purchases(world, [purchase("L-1", "M1000", "88.00", unionid="oSunYue")])
    await post_purchases(world, [purchase("L-2", "M1000", "36.50", unionid="oSunYue")])
    await post_purchases(world, [purchase("L-2", "M1000", "36.50", unionid="oSunYue")])
    # a member the till knows but WeCom does not: no journey to be in
    await post_purchases(world, [purchase("L-3", "M2000", "12.00")])
    events = world.rows("SELECT external_userid, event FROM member_event "
                        "WHERE event IN ('purchase', 'first_purchase') ORDER BY id")
    assert events == [(ext, "purchase"), (ext, "first_purchase"), (ext, "purchase")]
    # the second purchase within two weeks moved 孙悦 from 引入期 to 成长期: one event
    assert world.rows("SELECT external_userid, attrs FROM member_event "
                      "WHERE event = 'stage_changed'") == [(ext, '{"stage": "成长期"}')]
