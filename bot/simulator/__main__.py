"""`python -m bot.simulator`: run the simulated WeCom as its own process.

Credentials come from the environment (a .env file is read first), the same variables the
bot reads, so both sides agree on corp id, secret, Token and EncodingAESKey.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys

from dotenv import load_dotenv

from bot.loop import run

from .collector import collect_when_idle
from .facade import Simulator
from .options import SimOptions

log = logging.getLogger("bot.simulator")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bot.simulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9100)
    parser.add_argument("--callback-url", default=None,
                        help="the bot's callback endpoint (can be set later via /sim/)")
    parser.add_argument("--welcome-code-ttl", type=float, default=20.0,
                        help="WelcomeCode life in seconds (real WeCom: 20)")
    parser.add_argument("--per-api-per-minute", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=0)
    return parser


async def _serve(sim: Simulator, host: str, port: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await sim.start(host, port)
    log.info("simulated WeCom at %s (callbacks to %s)", sim.base_url, sim.callback_url)
    collector = loop.create_task(collect_when_idle(), name="sim-gc")
    try:
        await stop.wait()
    finally:
        collector.cancel()
        await asyncio.gather(collector, return_exceptions=True)
        await sim.stop()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    load_dotenv()
    missing = [name for name in ("WECOM_CORP_ID", "WECOM_SECRET", "WECOM_TOKEN",
                                 "WECOM_AES_KEY") if not os.environ.get(name)]
    if missing:
        print(f"missing environment variables: {', '.join(missing)}", file=sys.stderr)
        return 2
    options = SimOptions(welcome_code_ttl_s=args.welcome_code_ttl,
                         per_api_per_minute=args.per_api_per_minute, seed=args.seed)
    sim = Simulator(os.environ["WECOM_CORP_ID"], os.environ["WECOM_SECRET"],
                    os.environ["WECOM_TOKEN"], os.environ["WECOM_AES_KEY"],
                    agent_id=int(os.environ.get("WECOM_AGENT_ID") or 1000002),
                    callback_url=args.callback_url, options=options)
    run(_serve(sim, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
