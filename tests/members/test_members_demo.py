"""The demo's member scene: 王丽 from 银卡 to 金卡 with her tag following in WeCom, and her
questionnaire answer as 问卷/D."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow  # the whole demo as a subprocess


def test_demo_shows_the_member_scene():
    run = subprocess.run([sys.executable, "-m", "bot", "demo"], cwd=REPO, capture_output=True,
                         text=True, timeout=240, env={"PATH": "/usr/bin:/bin"})
    assert run.returncode == 0, run.stderr
    scene = run.stdout[run.stdout.index("== 会员"):]
    lines = scene.splitlines()
    silver = next(i for i, line in enumerate(lines) if "13:05" in line)
    assert "会员等级/银卡" in lines[silver + 1] and "问卷/D" in lines[silver + 1]
    assert "【问卷 3 D 甜】" in lines[silver + 2]
    gold = next(i for i, line in enumerate(lines) if "18:40" in line)
    assert "会员等级/金卡" in lines[gold + 1] and "会员等级/银卡" not in lines[gold + 1]
    assert "已在群「果田鲜生·天钥桥路店福利群」" in scene
    assert "长痘期间怎么吃水果" in scene.split("侧边栏前四条话术：", 1)[1].splitlines()[0]
