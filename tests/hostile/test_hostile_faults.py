"""WeCom misbehaving: every fault the simulator can inject, against welcomes and 群发.

The bot runs for real (conftest world) and calls the simulator over HTTP; faults are
injected in the simulator on the exact API the test is about. What must hold for each:
the welcome goes out once (or is recorded as not sent, never silently lost), each group
gets its SOP message once, and the client does what the reference says (retry -1, wait out
45009/45033, fetch a new token on 42001/40014, never repeat a call whose answer was lost
when repeating it could double a 群发).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.simulator import FaultPlan, Simulator
from tests.conftest import REPO, World
from tests.outbox.test_sop_delivery import ADD, MORNING, deliver, make_groups, scheduler_for

WELCOME = "externalcontact/send_welcome_msg"
MANAGER = "linxiaoyu"
HANG_MS = 1500  # longer than the bot's request timeout below (1 s): a timeout, not a delay


@pytest.fixture
def bot_overrides() -> dict[str, dict[str, Any]]:
    return {"sop": {"check_after_minutes": 0.001}, "wecom": {"request_timeout_s": 1.0}}


def _inject(kind: str) -> Callable[[Simulator, str], None]:
    def inject(sim: Simulator, path: str) -> None:
        sim.faults.hang_ms = HANG_MS
        {
            "busy(-1)": lambda: sim.fail_next(path, -1, times=2),
            "frequency(45009)": lambda: sim.fail_next(path, 45009),
            "concurrency(45033)": lambda: sim.fail_next(path, 45033),
            "token-expired(42001)": lambda: sim.fail_next(path, 42001),
            "token-invalid(40014)": lambda: sim.fail_next(path, 40014),
            "reset": lambda: sim.reset_next(path),
            "timeout": lambda: sim.hang_next(path),
            "slow": lambda: sim.delay_next(path, 0.5),
            "lost-answer": lambda: sim.lose_next_answer(path),
            "gateway-502": lambda: sim.gateway_error_next(path),
        }[kind]()
    return inject


FAULTS = ["busy(-1)", "frequency(45009)", "concurrency(45033)", "token-expired(42001)",
          "token-invalid(40014)", "reset", "timeout", "slow", "lost-answer", "gateway-502"]


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_fault_on_send_welcome_msg_still_welcomes_exactly_once(
        world: World, fault: str) -> None:
    tokens_before = world.sim.gettoken_count
    _inject(fault)(world.sim, WELCOME)
    external, _ = world.sim.scan_contact_qr(MANAGER, "takeout-card", "风暴里的顾客")
    await world.settle(within_s=30)
    assert len(world.sim.welcomes_for(external)) == 1
    [(status,)] = world.rows("SELECT status FROM welcome")
    # After a lost answer the second try meets 41051 (already sent): never a second welcome.
    assert status == ("already_sent" if fault in ("lost-answer", "gateway-502") else "sent")
    if fault.startswith("token"):
        assert world.sim.gettoken_count > tokens_before  # a fresh token was fetched
    assert world.rows("SELECT status FROM inbox_event") == [("done",)]


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_fault_on_add_msg_template_never_doubles_a_group_send(
        world: World, fault: str) -> None:
    chats = await make_groups(world)
    _inject(fault)(world.sim, ADD)
    plan = await scheduler_for(world).plan("morning-new-arrivals", MORNING,
                                           now=MORNING.timestamp())
    assert plan.sends == 2
    await deliver(world, 2)
    assert world.sim.groupsend_doubles() == {}
    for chat in chats.values():
        assert len(world.sim.group_messages(chat)) == 1, (fault, chat)
    statuses = dict(world.rows("SELECT chat_id, status FROM outbox_delivery"))
    assert set(statuses.values()) == {"sent"}, statuses


@pytest.mark.parametrize(("path", "kind"), [
    ("externalcontact/get_groupmsg_task", "timeout"),
    ("externalcontact/get_groupmsg_send_result", "gateway_error"),
    ("externalcontact/get_groupmsg_list_v2", "lost_answer"),
])
async def test_faults_while_following_a_group_send_never_resend_it(
        world: World, path: str, kind: str) -> None:
    """The follow-up queries (reads: safe to repeat) fail several ways in a row; the 群发
    itself is still created once and each group's result is recorded."""
    chats = await make_groups(world)
    world.sim.faults.hang_ms = HANG_MS
    world.sim.lose_next_answer(ADD)  # forces the list_v2 lookup as well
    world.sim.transport_next(path, kind)
    world.sim.fail_next(path, -1)
    world.sim.fail_next(path, 42001)
    await scheduler_for(world).plan("morning-new-arrivals", MORNING, now=MORNING.timestamp())
    await deliver(world, 2)
    assert world.sim.groupsend_doubles() == {}
    assert all(len(world.sim.group_messages(c)) == 1 for c in chats.values())
    assert set(dict(world.rows("SELECT chat_id, status FROM outbox_delivery")).values()) == \
        {"sent"}


async def test_the_token_dying_again_and_again_does_not_lose_a_welcome(world: World) -> None:
    """Found by the soak: the client fetched a new token at most twice per call, then gave
    up; the welcome was recorded as failed (42001) and never sent. The shared token dies
    for every call in flight at once, so under load one call can meet it several times."""
    world.sim.fail_next(WELCOME, 42001, times=2)
    world.sim.fail_next(WELCOME, 40014, times=2)
    external, _ = world.sim.scan_contact_qr(MANAGER, "takeout-card", "令牌风暴")
    await world.settle(within_s=30)
    assert len(world.sim.welcomes_for(external)) == 1
    assert world.rows("SELECT status FROM welcome") == [("sent",)]


async def test_a_storm_of_random_faults_on_every_api(world: World) -> None:
    """Random faults of every kind on every API while customers arrive and a slot goes out:
    nobody is welcomed twice, no group gets the slot twice, no event is lost."""
    chats = await make_groups(world)
    world.sim.faults = FaultPlan(busy=0.03, rate_limited=0.02, concurrency_limited=0.02,
                                 token_expired=0.02, token_invalid=0.02, reset=0.02,
                                 timeout=0.02, lost_answer=0.03, gateway_error=0.03,
                                 slow=0.1, delay_ms=200, hang_ms=HANG_MS)
    customers = [world.sim.scan_contact_qr(MANAGER, "takeout-card", f"顾客{i}")[0]
                 for i in range(12)]
    await scheduler_for(world).plan("morning-new-arrivals", MORNING, now=MORNING.timestamp())
    await world.settle(within_s=60)
    await deliver(world, 2)
    world.sim.clear_faults()

    assert world.sim.groupsend_doubles() == {}
    assert all(len(world.sim.group_messages(c)) <= 1 for c in chats.values())
    welcome_rows = dict(world.rows("SELECT external_userid, status FROM welcome"))
    assert set(welcome_rows) == set(customers)  # every customer accounted for: none lost
    for external in customers:
        got = len(world.sim.welcomes_for(external))
        assert got == (1 if welcome_rows[external] in ("sent", "already_sent") else 0)
    assert {s for (s,) in world.rows("SELECT status FROM inbox_event")} <= {"done", "failed"}


async def test_fault_settings_travel_over_the_control_route(world: World) -> None:
    """A simulator in another process (the soak) is steered through POST /sim/faults."""
    async with world.http.post(world.sim.url + "/sim/faults", json={
            "timeout": 0.1, "lost_answer": 0.2, "gateway_error": 0.05, "hang_ms": 1200,
            "per_path": {ADD: {"lost_answer": 1.0}}}) as resp:
        plan = await resp.json()
    assert plan["timeout"] == 0.1 and plan["hang_ms"] == 1200
    assert plan["per_path"][ADD]["lost_answer"] == 1.0
    assert (REPO / "docs" / "simulator.md").read_text().count("lost_answer") >= 1
