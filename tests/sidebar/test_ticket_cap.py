"""JS-SDK tickets when WeCom's hourly cap is reached (issue 18, point 6).

WeCom caps ticket fetches per corp (400 an hour for the corp ticket) and per app (100 an
hour, the corp ticket included). The sidebar's cache must keep signing pages with the
ticket it holds, and not ask again on every page load, until that ticket really expires."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from bot.sidebar.wecom_web import RETRY_AFTER_S, Tickets, signature
from bot.simulator import Simulator
from bot.wecom.client import WeComClient
from bot.wecom.errors import WeComError
from tests.conftest import make_secrets

URL = "https://bot.example.com/sidebar/customer"
TICKET = "get_jsapi_ticket"


SECRETS = make_secrets()


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    s = SECRETS
    simulator = Simulator(s.corp_id, s.secret, s.token, s.aes_key, agent_id=1000002)
    await simulator.start()
    try:
        yield simulator
    finally:
        await simulator.stop()


@pytest.fixture
async def client(sim: Simulator) -> AsyncIterator[WeComClient]:
    s = SECRETS
    async with WeComClient(sim.base_url, s.corp_id, s.secret, max_wait_s=2.0) as wecom:
        yield wecom


async def test_the_corp_ticket_is_capped_per_app_at_100_an_hour(sim: Simulator,
                                                                 client: WeComClient):
    for _ in range(100):
        await client.get_jsapi_ticket()
    with pytest.raises(WeComError) as refused:
        await client.get_jsapi_ticket(deadline=time.monotonic() + 0.5)
    assert refused.value.errcode == 45009  # the corp's 400 are far away: the app's 100 count
    await client.get_agent_ticket()  # the app's own ticket has its own 100


async def test_capped_refresh_serves_the_ticket_in_hand_until_it_expires(
        sim: Simulator, client: WeComClient):
    now = [0.0]
    tickets = Tickets(client, SECRETS.corp_id, 1000002, clock=lambda: now[0])
    await tickets.config(URL)
    assert tickets.fetches == 2
    # Other processes of the same app use up the hour (each gets the same ticket back).
    held = {str((await client.get_jsapi_ticket())["ticket"]) for _ in range(99)}
    [ticket] = held

    now[0] = 7200 - 200  # inside the refresh margin, still valid for 200 s
    mark = sim.mark()
    config = await tickets.config(URL)  # the refresh meets 45009
    assert config.corp_signature == signature(ticket, config.nonce, config.timestamp, URL)
    refused = [(c.path, c.errcode) for c in sim.api_calls_since(mark)]
    assert set(refused) == {(TICKET, 45009), ("ticket/get", 0)}  # the app's ticket has room
    for _ in range(20):  # a burst of page loads: no new fetch for RETRY_AFTER_S
        await tickets.config(URL)
    assert len(sim.api_calls_since(mark)) == len(refused)
    assert tickets.failures == 1

    now[0] = 7200 + RETRY_AFTER_S  # expired, and WeCom still refuses: a clear failure
    with pytest.raises(WeComError):
        await tickets.config(URL)
