"""The Members and Journeys pages over HTTP: what each viewer sees of a real members' and
journeys' day (tests/console/people.py), and every refusal (401/403/400)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import World
from tests.console.people import console_staff, people_day, people_overrides, secrets_for_people
from tests.console.support import MANAGER_0015, OPERATOR, STRANGER, signed_in


@pytest.fixture
def bot_overrides(tmp_path: Path) -> dict[str, dict[str, Any]]:
    return people_overrides(tmp_path)


@pytest.fixture(autouse=True)
def _secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    secrets_for_people(monkeypatch)


async def _table(http: aiohttp.ClientSession, url: str) -> list[dict[str, str]]:
    async with http.get(url, allow_redirects=False) as resp:
        assert resp.status == 200, (url, resp.status, await resp.text())
        assert resp.content_type == "text/csv"
        text = await resp.text()
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


async def _status(http: aiohttp.ClientSession, url: str) -> int:
    async with http.get(url, allow_redirects=False) as resp:
        return resp.status


async def test_levels_stages_moves_answers_and_journeys_per_viewer(world: World,
                                                                  tmp_path: Path):
    await people_day(world, tmp_path)
    base = f"{world.bot_url}/console"
    async with await signed_in(world, OPERATOR) as op:
        [levels] = await _table(op, f"{base}/members?format=csv&table=levels")
        assert (levels["银卡"], levels["金卡"]) == ("2", "1")
        moves = {(r["类别"], r["从"], r["到"]): r["会员数"]
                 for r in await _table(op, f"{base}/members?format=csv&table=moves")}
        assert moves[("会员等级", "普通", "银卡")] == "1"
        assert moves[("会员等级", "（新会员）", "金卡")] == "1"
        assert moves[("生命周期阶段", "引入期", "成长期")] == "1"
        answers = {(r["题目"], r["编码"]): (r["选项"], r["人数"])
                   for r in await _table(op, f"{base}/members?format=csv&table=answers")}
        assert answers[("wish", "B")] == ("低糖少负担", "1")

        [journey] = await _table(op, f"{base}/journeys?format=csv&table=journeys")
        assert [journey[k] for k in ("名称", "旅程", "进入", "走完", "因购买退出")] == [
            "new-friends", "新朋友两天关怀", "3", "2", "1"]
        steps = {r["步骤"]: r for r in await _table(op, f"{base}/journeys?format=csv&table=steps")}
        assert (steps["hello"]["到达"], steps["hello"]["已发出"]) == ("3", "3")
        assert steps["tips"]["已发出"] == "2"
        [day] = await _table(op, f"{base}/journeys?journey=new-friends&step=tips&format=csv"
                                 "&table=step_days")
        assert day["已发出"] == "2"
        async with op.get(f"{base}/journeys") as resp:
            page = await resp.text()
        assert resp.status == 200 and "/console/journeys?journey=new-friends&amp;step=hello" in page

    async with await signed_in(world, MANAGER_0015) as manager:
        [levels] = await _table(manager, f"{base}/members?format=csv&table=levels")
        assert levels.get("银卡", "0") == "0" and levels["金卡"] == "1"
        [journey] = await _table(manager, f"{base}/journeys?format=csv&table=journeys")
        assert (journey["进入"], journey["因购买退出"]) == ("1", "0")
        async with manager.get(f"{base}/members") as resp:
            page = await resp.text()
        assert resp.status == 200 and "长寿路店" in page and "天钥桥路店" not in page


@pytest.mark.parametrize("path", ["members?store=0012", "journeys?store=0012",
                                  "members?store=0012&format=csv&table=levels",
                                  "journeys?store=0012&journey=new-friends&step=hello&format=csv"
                                  "&table=step_days", "members?store=9999"])
async def test_a_manager_asking_for_another_store_gets_403(world: World, path: str):
    console_staff(world)
    async with await signed_in(world, MANAGER_0015) as manager, manager.get(
            f"{world.bot_url}/console/{path}", allow_redirects=False) as resp:
        text = await resp.text()
    assert resp.status == 403 and "没有权限查看这家门店" in text
    assert "M0012" not in text


async def test_strangers_and_missing_sessions_see_nothing(world: World):
    base = f"{world.bot_url}/console"
    console_staff(world)
    async with await signed_in(world, STRANGER) as stranger:
        assert await _status(stranger, f"{base}/members") == 403
        assert await _status(stranger, f"{base}/journeys?format=csv&table=steps") == 403
    async with aiohttp.ClientSession() as anonymous:
        assert await _status(anonymous, f"{base}/members?format=csv&table=levels") == 401
        assert await _status(anonymous, f"{base}/journeys") == 302  # to WeCom's login
        anonymous.cookie_jar.update_cookies({"ws_console": "forged.cookie"})
        assert await _status(anonymous, f"{base}/journeys?format=csv&table=steps") == 401


@pytest.mark.parametrize("query", [
    "members?start=2026-13-01", "members?start=2025-01-01&end=2026-01-01",
    "members?start=2999-01-01&end=2999-01-02", "members?end=2026-01-01&start=2026-02-01",
    "members?store=12", "members?format=csv&table=nope", "journeys?journey=a%20b",
    "journeys?step=hello", "journeys?journey=new-friends&step=" + "x" * 65,
    "journeys?start=1999-01-01&end=1999-01-02"])
async def test_absurd_parameters_are_400(world: World, query: str):
    console_staff(world)
    async with await signed_in(world, OPERATOR) as op:
        assert await _status(op, f"{world.bot_url}/console/{query}") == 400
