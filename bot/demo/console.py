"""The end of the demo: the store day rolled up, and the console's address to read it.

With ``--keep`` the demo keeps serving until Ctrl-C, so the pages can be opened: the
address signs 林晓雨 (店长, 天钥桥路店) in through the simulated WeCom web login, and
shows the demo's SOP day (``?day=``).
"""

from __future__ import annotations

from bot.app import BotRuntime
from bot.config import Settings
from bot.console.rollup import roll_up_days
from bot.demo.cast import SOP_DAY
from bot.simulator import Simulator

MANAGER = "linxiaoyu"


async def show_console(sim: Simulator, runtime: BotRuntime, settings: Settings,
                       bot_url: str) -> None:
    assert runtime.services is not None
    await roll_up_days(runtime.services.db, settings, [SOP_DAY])
    day = SOP_DAY.isoformat()
    print(f"\n运营控制台 (店长 林晓雨): "
          f"{sim.client_login_url(MANAGER, next_url=f'{bot_url}/console/today?day={day}')}")
    for page in ("members", "journeys"):  # today's members and 王丽's journey
        print(f"  {page}: {sim.client_login_url(MANAGER, next_url=f'{bot_url}/console/{page}')}")
    print("  (python -m bot demo --keep serves it until Ctrl-C)")
