"""`python -m bot demo`: a store day of 果田鲜生, played against the local WeCom simulator.

Nothing is mocked: the bot serves its real callback endpoint on a loopback port with a fresh
SQLite file, the simulator plays WeCom (encrypted callbacks in, API calls out), and the
script drives customers through QR codes, groups and tag edits. It prints what each customer
received and what the bot recorded. Then it plays a member-day Tuesday of group SOPs in
accelerated time: every store has a customer group, each slot of sop/*.yaml is planned by
the bot's own scheduler and sent by its outbox worker, owners confirm in the simulator, and
the demo prints what each group and staff robot chat saw and the bot's delivery records.
It needs no credentials: it makes up a corp id, secret, Token, EncodingAESKey and robot
webhook keys for the run.

The package: `welcome_day` (the customers' day), `sop_day` (the SOP day, with `cast`: who
it shows, and `sop_records`: the delivery table) and `terminal` (CJK-aware printing).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import tempfile
from pathlib import Path

from aiohttp import web

from bot.app import RUNTIME, build_app
from bot.books.stores import StoreDirectory
from bot.config import Settings
from bot.demo.card_scene import print_till_card
from bot.demo.console import show_console
from bot.demo.journey_day import play_journey
from bot.demo.members_day import play_members_scene
from bot.demo.sop_day import play_sop_day
from bot.demo.welcome_day import callback_summary, play_day, report
from bot.logs import setup_logging
from bot.loop import app_runner, run
from bot.simulator import SimOptions, Simulator
from bot.simulator.local import throwaway_secrets

__all__ = ["run_demo"]


def run_demo(keep: bool = False) -> int:
    return run(_demo(keep))


async def _demo(keep: bool) -> int:
    setup_logging("WARNING")
    # The planner warns for every slot the quota holds back; the demo prints those itself.
    logging.getLogger("bot.outbox.planner").setLevel(logging.ERROR)
    workdir = Path(tempfile.mkdtemp(prefix="wecom-bot-demo-"))
    secrets_ = throwaway_secrets("wwdemo")
    settings = Settings().with_overrides(
        database={"url": f"sqlite:///{workdir / 'demo.db'}"},
        paths={"sop_dir": Path("sop"), "templates_dir": Path("templates")},
        # No clock-driven scheduler: the demo plans the SOP day's slots itself (see
        # play_sop_day). Tasks are followed, and silent owners reminded, within a second.
        sop={"scheduler": False, "check_after_minutes": 0.002, "remind_after_minutes": 0.01,
             "moment_per_minute": 600})  # the day's 6 moment tasks: under WeCom's 10/min
    stores = StoreDirectory.load(settings.paths.sop_dir / "stores.yaml")
    # Owners confirm a 群发 only when the demo makes them (or when the bot reminds them),
    # so that one manager can forget.
    sim = Simulator(secrets_.corp_id, secrets_.secret, secrets_.token, secrets_.aes_key,
                    options=SimOptions(callback_retry_interval_s=0.2,
                                       groupsend_confirm_share=0.0))
    await sim.start()
    for person in stores.staff_rows():
        sim.add_staff(str(person["userid"]), str(person["name"]))
    settings = settings.with_overrides(wecom={"api_base_url": sim.base_url})
    runner = app_runner(build_app(settings, secrets_))
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    await runner.app[RUNTIME].started()
    host, port = runner.addresses[0][:2]
    sim.callback_url = f"http://{host}:{port}/wecom/callback"
    runtime = runner.app[RUNTIME]
    print(f"果田鲜生 · 门店的一天 (demo)\n  simulated WeCom: {sim.base_url}\n"
          f"  bot callback:    {sim.callback_url}\n  database:        {workdir / 'demo.db'}\n")
    try:
        customers = await play_day(sim, runtime, stores, lambda printed: print_till_card(
            runtime, settings, secrets_, workdir, printed))
        report(sim, workdir / "demo.db", customers, stores)
        await play_members_scene(sim, runtime, f"http://{host}:{port}", customers)
        await play_journey(sim, runtime, settings, customers)
        await play_sop_day(sim, runtime, settings, stores, f"http://{host}:{port}")
        await show_console(sim, runtime, settings, f"http://{host}:{port}")
        callback_summary(workdir / "demo.db")
        if keep:  # the console stays readable until Ctrl-C
            await asyncio.Event().wait()
    finally:
        await runner.cleanup()
        await sim.stop()
        if keep:
            print(f"\n(kept {workdir})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0
