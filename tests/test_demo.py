"""The README's main job: `python -m bot demo` on a fresh checkout, as a newcomer runs it."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def test_demo_runs_by_itself_and_shows_welcomes_and_records():
    done = subprocess.run([sys.executable, "-m", "bot", "demo"], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "王丽，你好呀！我是天钥桥路店的店长林晓雨" in out  # the store-counter welcome
    assert "周二水果日" in out and "小鲜" in out
    assert "孙阿姨: (no welcome)" in out
    assert "推销号 退群 (removed)" in out.replace("  ", " ").replace("  ", " ")
    assert ", 0 not handled." in out
