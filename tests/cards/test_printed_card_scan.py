"""A printed card works at the till: `codes sync` makes the store's code in WeCom, `python
-m bot codes cards` prints it, and the QR on the printed card, read as a phone reads it, is
the code WeCom made; scanning it welcomes the customer with that channel's text and tags."""

from __future__ import annotations

import asyncio
import io
import os
import sys
from pathlib import Path

import zxingcpp
from PIL import Image

from bot.simulator.local import secrets_env
from tests.codes.support import codes_of, operator_files, run_sync, store_groups, write_config
from tests.conftest import World


async def test_a_printed_till_card_scans_to_the_code_and_welcomes(world: World,
                                                                  tmp_path: Path) -> None:
    settings = operator_files(tmp_path, world)
    await store_groups(world)
    await run_sync(world, settings)
    [counter] = await codes_of(world, store="0012", channel="store-counter")
    config = write_config(tmp_path, world)
    out = tmp_path / "cards"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "codes", "cards", "--config", str(config), "--store",
        "0012", "--channel", "store-counter", "--size", "till", "--out", str(out),
        env={**os.environ, **secrets_env(world.secrets)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    printed = (await proc.communicate())[0].decode()
    assert proc.returncode == 0, printed
    assert sorted(p.name for p in out.iterdir()) == [
        "0012-store-counter-till.pdf", "0012-store-counter-till.png"]

    [found] = zxingcpp.read_barcodes(Image.open(out / "0012-store-counter-till.png"))
    assert counter.config_id in found.text  # the card carries the code WeCom made
    result = world.sim.scan_code(found.text, "王丽")
    assert result["state"] == "store-0012-counter"
    await world.settle()
    [welcome] = world.sim.welcomes_for(result["external_userid"])
    assert "王丽" in welcome.text and "5元无门槛券" in welcome.text
    tags = world.rows("SELECT t.group_name, t.name FROM member_tag m JOIN tag t "
                      "ON t.id = m.tag_id WHERE m.external_userid = ?",
                      result["external_userid"])
    assert ("渠道", "门店收银台") in set(tags)
    assert io.BytesIO((out / "0012-store-counter-till.pdf").read_bytes()).read(5) == b"%PDF-"
