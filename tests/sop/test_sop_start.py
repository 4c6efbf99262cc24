"""A start with broken SOP files: the bot serves callbacks anyway, and schedules once fixed.

The SOP book is loaded after the bot starts serving (checking it takes seconds for a large
chain, and a customer's WelcomeCode lives 20 s), so an SOP error can no longer stop the
start; it must not stop the welcomes either, and it must say where the error is.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, World

BROKEN = "    at: \"25:61\"\n"


@pytest.fixture
def bot_overrides(tmp_path: Path) -> dict[str, dict[str, Any]]:
    root = tmp_path / "files"
    shutil.copytree(REPO / "sop", root / "sop")
    shutil.copytree(REPO / "templates", root / "templates")
    daily = root / "sop" / "daily.yaml"
    text = daily.read_text("utf-8")
    lines = text.splitlines(keepends=True)  # the flash sale's time line, comment and all
    index = next(i for i, line in enumerate(lines)
                 if line.startswith('    at: "data.window.start - 20m"'))
    lines[index] = BROKEN
    daily.write_text("".join(lines), "utf-8")
    return {"paths": {"sop_dir": root / "sop", "templates_dir": root / "templates"},
            "sop": {"scheduler": True, "reload_poll_s": 0.05}}


async def _readyz(world: World) -> dict[str, Any]:
    async with world.http.get(f"{world.bot_url}/readyz") as resp:
        assert resp.status == 200  # SOP trouble never takes the bot out of the balancer
        body: dict[str, Any] = await resp.json()
        return body


async def _until(check: Callable[[], Any], what: str, within_s: float = 20.0) -> Any:
    deadline = time.monotonic() + within_s
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_broken_sop_at_start_still_welcomes_and_schedules_once_fixed(
        world: World, tmp_path: Path) -> None:
    async def failed() -> str | None:
        state = (await _readyz(world))["sop"]
        return state if state.startswith("failed:") else None

    state = await _until(failed, "readyz to report the SOP error")
    daily = tmp_path / "files" / "sop" / "daily.yaml"
    line = daily.read_text("utf-8").splitlines().index(BROKEN.rstrip("\n")) + 1
    assert f"daily.yaml:{line}:" in state
    assert world.runtime.sop is None

    ext, _ = world.sim.scan_contact_qr("linxiaoyu", "takeout-card", "开机顾客")
    await world.settle()
    assert len(world.sim.welcomes_for(ext)) == 1  # welcomes do not wait for the SOPs

    original = (REPO / "sop" / "daily.yaml").read_text("utf-8")
    daily.write_text(original, "utf-8")

    async def running() -> bool:
        return (await _readyz(world))["sop"] == "running"

    await _until(running, "the scheduler to start once the file is fixed")
    assert world.runtime.sop is not None
    assert "flash-sale" in world.runtime.sop.book
