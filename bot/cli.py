"""Command line: `python -m bot run|demo|sop|replies|members` (and `wecom-bot` when installed)."""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.frontdoor import FrontDoor

from bot.config import ConfigError, load_secrets, load_settings
from bot.logs import setup_logging


def _add_run_command(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    run = commands.add_parser("run", help="serve the WeCom callback endpoint")
    run.add_argument("--config", type=Path, required=True, help="TOML settings file")
    run.add_argument("--host", help="overrides [server] host")
    run.add_argument("--port", type=int, help="overrides [server] port")
    run.add_argument("--log-json", action="store_true",
                     help="one JSON object per log line (overrides [logging] json)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    _add_run_command(commands)
    words = sys.argv[1:] if argv is None else argv
    if words[:1] == ["run"] and "-h" not in words and "--help" not in words:
        # `bot run` parses without the other commands' modules: a restart's first answer
        # must not wait for them to import (docs/capacity.md)
        return _run(parser.parse_args(words))
    from bot.codes.commands import add_codes_commands
    from bot.journeys.cli import add_journeys_commands, run_journeys_command
    from bot.members.cli import add_members_commands, run_members_command
    from bot.replies.cli import add_replies_commands, run_replies_command
    from bot.sop.commands import add_sop_commands, run_sop_command

    demo = commands.add_parser("demo", help="play a scripted day against the local simulator")
    demo.add_argument("--keep", action="store_true", help="keep the demo database afterwards")

    add_sop_commands(commands)
    add_replies_commands(commands)
    add_codes_commands(commands)
    add_members_commands(commands)
    add_journeys_commands(commands)

    args = parser.parse_args(argv)
    if args.command == "run":
        return _run(args)
    if args.command == "sop":
        return run_sop_command(args)
    if args.command == "replies":
        return run_replies_command(args)
    if args.command == "codes":
        from bot.codes.cli import run_codes_command

        return run_codes_command(args)
    if args.command == "members":
        return run_members_command(args)
    if args.command == "journeys":
        return run_journeys_command(args)
    from bot.demo import run_demo

    return run_demo(keep=args.keep)


def _run(args: argparse.Namespace) -> int:
    try:
        secrets = load_secrets()  # first: it reads .env, which may set BOT_DATABASE_URL
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    server = {k: v for k, v in {"host": args.host, "port": args.port}.items() if v is not None}
    if server:
        settings = settings.with_overrides(server=server)
    setup_logging(settings.logging.level, settings.logging.json or args.log_json,
                  secrets=(secrets.secret, secrets.token, secrets.aes_key))
    # Listen before importing the bot, and record callbacks meanwhile (bot.frontdoor): a
    # restart's callbacks are answered while the bot imports and starts (docs/capacity.md).
    sock = socket.create_server((settings.server.host, settings.server.port), backlog=1024)
    from bot.frontdoor import open_front_door

    door = open_front_door(sock, settings, secrets)
    try:
        from aiohttp import web

        from bot import heap
        from bot.app import RUNTIME, build_app, exit_if_start_fails
        from bot.loop import STOP_GRACE_S, new_event_loop

        heap.enable()  # this process serves: its long-lived books are frozen (bot/heap.py)

        app = build_app(settings, secrets)
        if door is not None:  # shut before the start takes over what it recorded
            app.on_startup.insert(0, lambda _app: _shut(door))
        exit_if_start_fails(app[RUNTIME])
        web.run_app(app, sock=sock, print=None, access_log=None, loop=new_event_loop(),
                    shutdown_timeout=STOP_GRACE_S)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        if door is not None:
            door.close()
    if (failed := app[RUNTIME].start_error) is not None:
        print(f"error: {failed}", file=sys.stderr)
        return 2
    return 0


async def _shut(door: FrontDoor) -> None:
    door.close()  # on the loop, blocking: nothing of the bot's start runs before it is shut
