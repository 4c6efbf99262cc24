"""`codes sync` against the simulated WeCom: exactly the diff, idempotent, and converging
after an interrupted run or a code deleted by hand."""

from __future__ import annotations

import asyncio
import os
import sys
from collections import Counter
from pathlib import Path

from bot.simulator.local import secrets_env
from tests.codes.support import operator_files, run_sync, store_groups, write_config
from tests.conftest import World

CHANGING = ("add_contact_way", "update_contact_way", "del_contact_way", "add_join_way",
            "update_join_way", "del_join_way", "group_welcome_template/add",
            "group_welcome_template/edit", "group_welcome_template/del")


def changing_calls(world: World, mark: int) -> Counter[str]:
    return Counter(c.path.removeprefix("externalcontact/").removeprefix("groupchat/")
                   for c in world.sim.api_calls_since(mark)
                   if c.path.endswith(CHANGING) and c.errcode == 0)


async def test_sync_creates_exactly_the_plan_then_nothing(world: World, tmp_path: Path):
    settings = operator_files(tmp_path, world)
    await store_groups(world)
    code, dry = await run_sync(world, settings, dry_run=True)
    assert code == 0 and "plan: 17 create, 0 update, 0 unchanged, 0 orphan" in dry
    assert world.sim.codes.contact_ways == {}  # a dry run makes nothing

    mark = world.sim.mark()
    code, out = await run_sync(world, settings)
    assert code == 0, out
    # 6 stores x 2 per-store channels + 2 chain-wide; join codes for the 2 stores with a
    # group; 1 group welcome
    assert changing_calls(world, mark) == {"add_contact_way": 14, "add_join_way": 2,
                                           "group_welcome_template/add": 1}
    ways = world.sim.codes.contact_ways.values()
    assert sorted(w.state for w in ways)[:3] == ["persona-xiaoxian", "store-0012-counter",
                                                 "store-0015-counter"]
    assert {w.user[0] for w in ways if w.state == "takeout-0107"} == {"wangtingting"}
    rows = world.rows("SELECT kind, status, config_id, qr_code FROM wecom_code")
    assert len(rows) == 17 and all(r[1] == "active" and r[2] for r in rows)
    assert all(r[3].startswith("https://") for r in rows if r[0] != "group_welcome")

    mark = world.sim.mark()
    code, again = await run_sync(world, settings)
    assert code == 0 and "0 create, 0 update, 17 unchanged" in again
    assert changing_calls(world, mark) == {}


async def test_an_edit_updates_only_what_it_changes(world: World, tmp_path: Path):
    settings = operator_files(tmp_path, world)
    await store_groups(world)
    assert (await run_sync(world, settings))[0] == 0
    codes_yaml = tmp_path / "sop" / "codes.yaml"
    codes_yaml.write_text(codes_yaml.read_text().replace("remark: 外卖袋店长名片",
                                                         "remark: 外卖袋名片2027"))
    mark = world.sim.mark()
    code, out = await run_sync(world, settings)
    assert code == 0 and "0 create, 6 update, 11 unchanged" in out
    assert changing_calls(world, mark) == {"update_contact_way": 6}
    assert {w.remark for w in world.sim.codes.contact_ways.values()
            if w.state.startswith("takeout-")} == {"外卖袋名片2027"}


async def test_a_code_deleted_by_hand_is_made_again(world: World, tmp_path: Path):
    settings = operator_files(tmp_path, world)
    await store_groups(world)
    await run_sync(world, settings)
    [(old_id,)] = world.rows("SELECT config_id FROM wecom_code WHERE state = 'takeout-0012'")
    await world.api("externalcontact/del_contact_way", {"config_id": old_id})
    codes_yaml = tmp_path / "sop" / "codes.yaml"
    codes_yaml.write_text(codes_yaml.read_text().replace("外卖袋店长名片", "外卖袋名片"))
    code, out = await run_sync(world, settings)
    assert code == 0 and "made again (it was deleted in WeCom): contact:takeout-0012" in out
    [(new_id,)] = world.rows("SELECT config_id FROM wecom_code WHERE state = 'takeout-0012'")
    assert new_id != old_id and new_id in world.sim.codes.contact_ways
    assert len(world.sim.codes.contact_ways) == 14


async def test_verify_finds_a_code_deleted_by_hand_without_an_edit(world: World,
                                                                    tmp_path: Path):
    settings = operator_files(tmp_path, world)
    await store_groups(world)
    await run_sync(world, settings)
    [(old_id,)] = world.rows("SELECT config_id FROM wecom_code WHERE key = 'join:0015'")
    await world.api("externalcontact/groupchat/del_join_way", {"config_id": old_id})
    assert "0 create, 0 update, 17 unchanged" in (await run_sync(world, settings))[1]
    mark = world.sim.mark()
    code, out = await run_sync(world, settings, verify=True)
    assert code == 0 and "made again (it was deleted in WeCom): join:0015" in out
    assert changing_calls(world, mark) == {"add_join_way": 1}
    gets = [c for c in world.sim.api_calls_since(mark) if "/get" in c.path]
    assert len(gets) == 17 + 1  # each recorded code, then the new join code's QR
    [(new_id,)] = world.rows("SELECT config_id FROM wecom_code WHERE key = 'join:0015'")
    assert list(world.sim.codes.join_ways).count(new_id) == 1 and new_id != old_id


async def test_a_lost_answer_does_not_make_a_second_code(world: World, tmp_path: Path):
    settings = operator_files(tmp_path, world)
    await store_groups(world)
    world.sim.lose_next_answer("externalcontact/add_contact_way", times=3)
    code, out = await run_sync(world, settings)
    assert code == 1 and out.count("failed: create contact:") == 3
    assert len(world.sim.codes.contact_ways) == 14  # made, but not recorded
    assert world.rows("SELECT count(*) FROM wecom_code WHERE status = 'creating'") == [(3,)]

    code, out = await run_sync(world, settings)
    assert code == 0, out
    assert out.count("found unrecorded in WeCom") == 3
    assert len(world.sim.codes.contact_ways) == 14
    states = [w.state for w in world.sim.codes.contact_ways.values()]
    assert len(set(states)) == len(states) == 14
    assert world.rows("SELECT count(*) FROM wecom_code WHERE status = 'active'") == [(17,)]
    assert "0 create, 0 update, 17 unchanged" in (await run_sync(world, settings))[1]


async def test_orphans_are_listed_and_deleted_only_with_prune(world: World, tmp_path: Path):
    settings = operator_files(tmp_path, world)
    await store_groups(world)
    await run_sync(world, settings)
    codes_yaml = tmp_path / "sop" / "codes.yaml"
    text = codes_yaml.read_text()
    start = text.index("  persona-xiaoxian:")
    codes_yaml.write_text(text[:start] + text[text.index("\njoin_ways:"):])
    code, out = await run_sync(world, settings)
    assert code == 0 and "1 orphan (listed only" in out
    assert len(world.sim.codes.contact_ways) == 14
    code, out = await run_sync(world, settings, prune=True)
    assert code == 0 and "1 deleted" in out
    assert "persona-xiaoxian" not in {w.state for w in world.sim.codes.contact_ways.values()}
    assert world.rows("SELECT count(*) FROM wecom_code") == [(16,)]


async def test_a_sync_killed_between_create_and_record_converges(world: World, tmp_path: Path):
    """kill -9 of `python -m bot codes sync` while WeCom is making codes: the next run finds
    what was made (list_contact_way + get_contact_way, by state) and makes no duplicate."""
    settings = operator_files(tmp_path, world)
    await store_groups(world)
    config = write_config(tmp_path, world)
    # every add is answered late: WeCom makes the code, the answer comes after the kill
    world.sim.delay_next("externalcontact/add_contact_way", 1.5, times=100)
    env = {**os.environ, **secrets_env(world.secrets)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "codes", "sync", "--config", str(config), env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    for _ in range(600):  # until WeCom has received some adds (they are being made)
        await asyncio.sleep(0.05)
        if world.sim.faults_pending("externalcontact/add_contact_way") <= 100 - 4:
            await asyncio.sleep(0.1)
            break
    if proc.returncode is not None:
        raise AssertionError((await proc.communicate())[0].decode())
    proc.kill()  # SIGKILL
    await proc.wait()
    await asyncio.sleep(1.7)  # the delayed adds run in WeCom anyway
    made = len(world.sim.codes.contact_ways)
    assert made >= 4 and world.rows(
        "SELECT count(*) FROM wecom_code WHERE status = 'active' AND kind = 'contact'") == [(0,)]

    world.sim.clear_faults()
    code, out = await run_sync(world, settings)
    assert code == 0, out
    assert out.count("found unrecorded in WeCom") == made
    states = [w.state for w in world.sim.codes.contact_ways.values()]
    assert len(states) == len(set(states)) == 14
    assert "0 create, 0 update, 17 unchanged" in (await run_sync(world, settings))[1]


async def test_busy_and_rate_limited_answers_converge_without_duplicates(world: World,
                                                                         tmp_path: Path):
    settings = operator_files(tmp_path, world)
    await store_groups(world)
    world.sim.fail_next("externalcontact/add_contact_way", 45009, times=2)  # waited out
    world.sim.fail_next("externalcontact/groupchat/add_join_way", -1, times=8)  # gives up
    code, out = await run_sync(world, settings)
    assert code == 1 and out.count("failed: create join:") == 2
    assert len(world.sim.codes.contact_ways) == 14 and world.sim.codes.join_ways == {}
    code, out = await run_sync(world, settings)
    assert code == 0 and "2 create, 0 update, 15 unchanged" in out
    assert len(world.sim.codes.join_ways) == 2 and len(world.sim.codes.contact_ways) == 14
