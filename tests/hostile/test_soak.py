"""The soak in CI: `scripts/soak.py --short` (SIGKILLs, faults, hostile requests, two days
of 群发 slots) must end with nothing lost and nothing doubled. Figures, not timings, are
asserted: the run's wall-clock time is never judged."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow  # minutes: left out of the quick loop (-m "not slow")


def test_short_soak_loses_and_doubles_nothing(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "soak.py"), "--short", "--json",
         "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=600, check=False)
    assert done.stdout.strip(), done.stderr[-3000:]
    figures = json.loads(done.stdout)
    assert figures["problems"] == [], (figures, done.stderr[-3000:])
    assert done.returncode == 0
    assert figures["kills"] >= 1  # the run did kill the bot at least once
    assert figures["callbacks_lost"] == figures["welcomes_lost"] == 0
    assert figures["welcomes_doubled"] == figures["sop_doubled"] == figures["sop_lost"] == 0
    assert figures["welcomes_sent_in_time"] + figures["welcomes_late"] == \
        figures["welcomes_due"] == 60
    assert figures["sop_sent"] == figures["sop_due"] > 0
    assert figures["bad_inputs_tried"] == figures["bad_inputs_refused"] > 0
    assert figures["api_faults_injected"] > 0
    assert 0 < figures["peak_rss_mb"] < 200
