"""The `codes` sub-commands' arguments, apart from bot.codes.cli so that `python -m bot run`
does not import the sync machinery it never uses (start-up time counts: WeCom retries a
callback only a few times while a restarted bot comes up)."""

from __future__ import annotations

import argparse
from pathlib import Path

from bot.cards.cli import add_cards_command


def add_codes_commands(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    codes = commands.add_parser("codes", help="make the stores' QR codes and group welcome "
                                              "in WeCom (sop/codes.yaml)")
    sub = codes.add_subparsers(dest="codes_command", required=True)
    check_cmd = sub.add_parser("check", help="check sop/codes.yaml with channels and stores")
    check_cmd.add_argument("--config", type=Path, help="TOML settings file")
    sync_cmd = sub.add_parser("sync", help="create and update exactly what differs in WeCom")
    sync_cmd.add_argument("--config", type=Path, help="TOML settings file")
    sync_cmd.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    sync_cmd.add_argument("--prune", action="store_true",
                          help="also delete codes no file asks for (their printed cards die)")
    sync_cmd.add_argument("--verify", action="store_true",
                          help="also ask WeCom for every recorded code (one call each) and "
                               "make again any deleted by hand")
    add_cards_command(sub)  # codes cards: print the recorded codes (bot/cards/)
