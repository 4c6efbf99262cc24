"""`journeys check --online`: each tag an entry or stop rule names is looked up in WeCom's
corp tag list (the simulator's get_corp_tag_list, through the API as the bot reads it); one
WeCom does not have is reported at its file:line, and the check passes once it exists."""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
from pathlib import Path

from bot.simulator.local import secrets_env
from bot.wecom.client import WeComClient
from tests.conftest import REPO, World


async def check_online(world: World, tmp_path: Path) -> tuple[int, str]:
    config = tmp_path / "bot.toml"
    config.write_text(
        f'[database]\nurl = "{world.settings.database.url}"\n'
        f'[wecom]\napi_base_url = "{world.sim.base_url}"\n'
        f'[paths]\nsop_dir = "{tmp_path / "sop"}"\ntemplates_dir = "{REPO / "templates"}"\n',
        encoding="utf-8")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "journeys", "check", "--online", "--config", str(config),
        env={**os.environ, **secrets_env(world.secrets)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    printed = (await proc.communicate())[0].decode()
    assert proc.returncode is not None
    return proc.returncode, printed


async def test_a_tag_missing_in_wecom_is_reported_at_its_line(world: World,
                                                              tmp_path: Path) -> None:
    shutil.copytree(REPO / "sop", tmp_path / "sop")
    secrets = world.secrets
    async with WeComClient(world.sim.base_url, secrets.corp_id,
                           secrets.secret) as client:
        await client.add_corp_tag("问卷", ["D 控糖减脂"])
        await client.add_corp_tag("旅程", ["不再打扰"])
        code, printed = await check_online(world, tmp_path)
        assert code == 1, printed
        sugar = tmp_path / "sop" / "journeys" / "sugar_control.yaml"
        [line] = [ln for ln in printed.splitlines() if "已购/控糖果切套餐" in ln]
        assert line.startswith(f"{sugar}:15:14: tag '已购/控糖果切套餐' is not in WeCom"), line
        assert "1 problem" in printed and "问卷/D 控糖减脂" not in printed

        await client.add_corp_tag("已购", ["控糖果切套餐"])
        code, printed = await check_online(world, tmp_path)
    assert code == 0, printed
    assert "WeCom has all 3 tags the journeys name" in printed


async def test_tags_a_channel_creates_on_first_use_are_not_missing(world: World,
                                                                    tmp_path: Path) -> None:
    """渠道/人设号小鲜 and 门店/<a store's name> come from channels.yaml (the bot creates them
    the first time a customer scans); 渠道/海报二号 nothing creates: only that one is flagged."""
    shutil.copytree(REPO / "sop", tmp_path / "sop")
    settings_file = tmp_path / "sop" / "journeys" / "settings.yaml"
    settings_file.write_text(settings_file.read_text(encoding="utf-8").replace(
        "  旅程: [不再打扰]", "  旅程: [不再打扰]\n  门店: [天钥桥路店]\n"
        "  渠道2: [人设号小鲜, 海报二号]"), encoding="utf-8")
    sugar = tmp_path / "sop" / "journeys" / "sugar_control.yaml"
    sugar.write_text(sugar.read_text(encoding="utf-8").replace(
        "tags: [已购/控糖果切套餐, 旅程/不再打扰]",
        "tags: [已购/控糖果切套餐, 旅程/不再打扰, 渠道/人设号小鲜, 门店/天钥桥路店, "
        "渠道2/海报二号, 海报二号]"), encoding="utf-8")
    settings_file.write_text(settings_file.read_text(encoding="utf-8").replace(
        "  渠道: [门店收银台,", "  渠道: [海报二号, 门店收银台,"), encoding="utf-8")
    async with WeComClient(world.sim.base_url, world.secrets.corp_id,
                           world.secrets.secret) as client:
        for group, name in (("问卷", "D 控糖减脂"), ("旅程", "不再打扰"), ("已购", "控糖果切套餐")):
            await client.add_corp_tag(group, [name])
        code, printed = await check_online(world, tmp_path)
    assert code == 1, printed
    flagged = [ln for ln in printed.splitlines() if "is not in WeCom" in ln]
    assert len(flagged) == 2, printed
    assert all(ln.startswith(f"{sugar}:15:") for ln in flagged), printed
    assert "'渠道2/海报二号'" in flagged[0] and "'海报二号'" in flagged[1], printed
    assert "人设号小鲜" not in printed and "天钥桥路店" not in printed, printed
