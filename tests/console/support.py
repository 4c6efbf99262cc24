"""Shared steps for the console tests: a store day in the simulator, rollups, signing in.

The day is real: three customer groups of two stores (created in the simulated WeCom, learnt
by the bot from the callbacks), customers who scanned store QR codes and joined a group, one
who left again, and this morning's SOP slot planned by the scheduler and sent by the outbox
over HTTP, with WeCom refusing the 0015 store's 群发 (60011) so there is a failed send.
"""

from __future__ import annotations

import aiohttp

from bot.console.days import zone
from bot.console.health import HealthBook
from bot.console.rollup import RollupJob
from tests.conftest import REPO, World
from tests.outbox.test_owner_post import this_minute
from tests.outbox.test_sop_delivery import ADD, make_groups, scheduler_for, send_statuses, until
from tests.replies_support import MANAGER_0012, MANAGER_0015, customer

OPERATOR = "hanmeimei"  # HQ operations: [console] operators
STRANGER = "xiaoxian"  # staff in sop/stores.yaml who runs no store
NO_PRIVILEGE = 60011


def console_overrides() -> dict[str, dict[str, object]]:
    return {"console": {"operators": [OPERATOR], "rollup_every_s": 3600.0},
            "sop": {"check_after_minutes": 0.001}, "wecom": {"request_timeout_s": 1.0}}


async def store_day(world: World) -> dict[str, str]:
    """The day described above; the chats by key (0012-a, 0012-b, 0015)."""
    world.sim.add_staff(OPERATOR, "韩梅梅")
    world.sim.add_staff(STRANGER, "小鲜")
    chats = await make_groups(world)
    wang = await customer(world, "王丽")
    li = await customer(world, "李雷", state="store-0015-counter", staff=MANAGER_0015)
    world.sim.join_group(chats["0012-a"], wang, "qr")
    world.sim.join_group(chats["0015"], li, "qr")
    await world.settle()
    world.sim.leave_group(chats["0015"], li)
    await world.settle()
    # one 群发 per owner and store; WeCom refuses the first call made (either store's)
    world.sim.fail_next(ADD, NO_PRIVILEGE, times=1)
    plan = await scheduler_for(world).plan("morning-new-arrivals", this_minute(),
                                           now=this_minute().timestamp())
    assert plan.sends == 2
    await until(lambda: sorted(send_statuses(world)) in (["created", "failed"],
                                                         ["done", "failed"]))
    return chats


def failed_send(world: World) -> tuple[int, str]:
    """(send id, store id) of the send WeCom refused."""
    [(send_id, store)] = world.rows(
        "SELECT id, store_id FROM outbox_send WHERE status = 'failed' AND via = 'group_send'")
    return int(send_id), str(store)


async def roll_up(world: World) -> None:
    """What the periodic job does, now."""
    services = world.runtime.services
    assert services is not None
    job = RollupJob(services.db, zone(world.settings.console.timezone), 3600.0,
                    HealthBook(REPO / "sop" / "group_health.yaml"))
    await job.run_once()


async def signed_in(world: World, userid: str) -> aiohttp.ClientSession:
    """A browser-like session signed in to the console as `userid` through WeCom's desktop
    web login (the simulated client confirms it)."""
    http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
    async with http.get(world.sim.client_login_url(userid)) as resp:
        assert resp.status in (200, 204, 302), await resp.text()
    async with http.get(f"{world.bot_url}/console/today") as resp:
        assert resp.status in (200, 403), await resp.text()
    return http


__all__ = ["MANAGER_0012", "MANAGER_0015"]
