import time

import pytest

from supervision.clock import Clock, ManualClock, SystemClock


def test_system_clock_follows_wall_time():
    before = time.time()
    now = SystemClock().now()
    assert before <= now <= time.time()


def test_manual_clock_moves_only_when_told():
    clock = ManualClock(100.0)
    assert clock.now() == 100.0
    assert clock.advance(5) == 105.0
    assert clock.advance("1m") == 165.0
    assert clock.now() == 165.0
    clock.set(10.0)
    assert clock.now() == 10.0


def test_manual_clock_rejects_negative_advance():
    with pytest.raises(ValueError):
        ManualClock().advance(-1)


def test_both_clocks_satisfy_the_protocol():
    assert isinstance(SystemClock(), Clock)
    assert isinstance(ManualClock(), Clock)
