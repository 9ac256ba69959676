"""Chaos: SIGKILL a process running many executions ten times; nothing is lost or redone.

The long run is ``tests/soak/chaos.py --kills 100``; see ``chaosrun.py`` for the figures.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from chaosrun import run_chaos


def test_ten_sigkills_lose_nothing_rerun_no_completed_step_and_leave_none_stuck(tmp_path):
    report = run_chaos(tmp_path, kills=10, seed=7, batch_size=8, max_delay=0.4, finish_timeout=30)
    assert report.problems == [], report.table()
    assert (report.lost, report.reruns_of_completed, report.stuck) == (0, 0, 0), report.table()
    assert report.executions == 80
    # the kills landed while work was in flight (else this would prove little)
    assert report.kills_mid_work >= 5, report.table()
