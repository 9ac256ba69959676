"""water.tuning: the process settings a service applies once its engine has started."""

from __future__ import annotations

import gc
import sys

from water.tuning import GEN0_THRESHOLD, SWITCH_INTERVAL, tune_for_service


def test_tune_for_service_freezes_the_heap_and_sets_the_thresholds() -> None:
    threshold, interval = gc.get_threshold(), sys.getswitchinterval()
    try:
        tune_for_service()
        assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == (GEN0_THRESHOLD, *threshold[1:])
        assert sys.getswitchinterval() == SWITCH_INTERVAL
        tune_for_service(gen0=1_000, switch_interval=None)
        assert gc.get_threshold()[0] == 1_000
        assert sys.getswitchinterval() == SWITCH_INTERVAL  # left as it was
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
        sys.setswitchinterval(interval)
