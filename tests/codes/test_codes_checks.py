"""Operator mistakes are refused with file:line before anything is made in WeCom."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from bot.codes.cli import check
from tests.codes.support import operator_files, run_sync, store_groups
from tests.conftest import World


def line_of(path: Path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


@pytest.mark.parametrize("case", ["state_too_long", "too_many_staff", "no_manager",
                                  "unknown_channel", "long_template"])
async def test_a_bad_file_is_refused_with_file_line_and_nothing_is_made(
        world: World, tmp_path: Path, case: str):
    settings = operator_files(tmp_path, world)
    await store_groups(world)
    sop = tmp_path / "sop"
    codes_yaml, channels_yaml, stores_yaml = (sop / "codes.yaml", sop / "channels.yaml",
                                              sop / "stores.yaml")
    if case == "state_too_long":
        channels_yaml.write_text(channels_yaml.read_text().replace(
            'match: "takeout-{store}"', 'match: "takeout-bag-card-2027-{store}-v2x12"'))
        where, why = (codes_yaml, "takeout-store:"), "has 32 characters, WeCom allows 30"
    elif case == "too_many_staff":
        many = ", ".join(["xiaoxian"] + [f"clerk{n:03}" for n in range(100)])
        codes_yaml.write_text(codes_yaml.read_text().replace(
            "  tuesday-fruit-day:\n    staff: [xiaoxian]",
            f"  tuesday-fruit-day:\n    staff: [{many}]"))
        where, why = (codes_yaml, "staff: [xiaoxian, clerk000"), "101 members, WeCom allows 100"
    elif case == "no_manager":
        stores_yaml.write_text(stores_yaml.read_text().replace(
            "    manager_userid: chenmeng\n", "", 1))
        where, why = (stores_yaml, '"0023":'), "manager_userid"
    elif case == "unknown_channel":
        codes_yaml.write_text(codes_yaml.read_text().replace("  persona-xiaoxian:",
                                                             "  persona-xiaoxin:"))
        where, why = (codes_yaml, "persona-xiaoxin:"), "no such channel in channels.yaml"
    else:
        page = tmp_path / "templates" / "group_welcome" / "store_group.j2"
        page.write_text(page.read_text() + "果" * 1000 + "\n")
        where, why = (codes_yaml, "template: group_welcome/store_group.j2"), "WeCom allows 3000"

    code, out = await run_sync(world, settings)
    assert code == 1 and "nothing was changed in WeCom" in out
    path, text = where
    located = re.search(rf"{re.escape(str(path))}:(\d+):\d+: .*{re.escape(why)}", out)
    assert located, out
    if case != "no_manager":  # pydantic points at the store's mapping, not a missing key
        assert int(located.group(1)) == line_of(path, text)
    assert world.sim.codes.contact_ways == {} and world.sim.codes.join_ways == {}
    assert world.sim.codes.templates == {} and world.rows("SELECT * FROM wecom_code") == []

    out_check = io.StringIO()
    assert check(settings, out_check) == 1 and why in out_check.getvalue()


async def test_check_passes_the_shipped_files(world: World):
    out = io.StringIO()
    assert check(world.settings, out) == 0, out.getvalue()
    assert "14 contact ways, 1 group welcome;" in out.getvalue()
