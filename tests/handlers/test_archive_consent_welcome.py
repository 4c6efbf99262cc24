"""msg_audit_approved: the customer agreed to chat archiving, and the callback carries a
WelcomeCode (issue 18, point 7). Where archiving is on, that is the customer's welcome."""

from __future__ import annotations

from tests.conftest import World

MANAGER = "linxiaoyu"  # manager of store 0012
STATE = "store-0012-counter"


def welcome_rows(world: World, ext: str) -> list[tuple[str, str]]:
    return [(str(c), str(s)) for c, s in world.rows(
        "SELECT channel, status FROM welcome WHERE external_userid = ? ORDER BY event_id", ext)]


async def test_the_consent_code_sends_the_channels_welcome_once(world: World):
    # With archiving on, the add comes without a WelcomeCode ...
    ext, _ = world.sim.scan_contact_qr(MANAGER, STATE, "文静", with_welcome_code=False)
    await world.settle()
    assert world.sim.welcomes_for(ext) == []
    # ... and the consent brings one.
    world.sim.customer_agrees_to_archiving(MANAGER, ext)
    await world.settle()

    [welcome] = world.sim.welcomes_for(ext)
    assert "文静" in welcome.text and "天钥桥路店" in welcome.text  # the counter channel's
    channel = welcome_rows(world, ext)[-1][0]
    assert welcome_rows(world, ext) == [(channel, "no_code"), (channel, "sent")]
    assert channel != "default"

    # WeCom redelivers the same callback: recorded once, nothing sent again.
    consent = world.sim.deliveries[-1]
    response = await world.post_callback(consent.plaintext)
    assert response.status == 200
    await world.settle()
    assert len(world.sim.welcomes_for(ext)) == 1
    assert world.count("welcome") == 2


async def test_a_customer_already_welcomed_is_not_welcomed_twice(world: World):
    ext, _ = world.sim.scan_contact_qr(MANAGER, STATE, "再来")  # welcomed at the add
    await world.settle()
    world.sim.customer_agrees_to_archiving(MANAGER, ext)
    await world.settle()
    assert len(world.sim.welcomes_for(ext)) == 1
    assert [s for _, s in welcome_rows(world, ext)] == ["sent", "welcomed_before"]


async def test_consent_without_a_code_sends_nothing(world: World):
    ext, _ = world.sim.scan_contact_qr(MANAGER, STATE, "无码", with_welcome_code=False)
    world.sim.customer_agrees_to_archiving(MANAGER, ext, with_welcome_code=False)
    await world.settle()
    assert world.sim.welcomes_for(ext) == []
    assert world.rows("SELECT status FROM inbox_event WHERE kind = "
                      "'contact.msg_audit_approved'") == [("done",)]
