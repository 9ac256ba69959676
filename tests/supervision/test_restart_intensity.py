import pytest

from supervision.clock import ManualClock
from supervision.intensity import RestartIntensity


def test_restarts_within_intensity_are_allowed():
    intensity = RestartIntensity(max_restarts=3, period="5s", clock=ManualClock())
    assert [intensity.record_restart() for _ in range(3)] == [True, True, True]
    assert intensity.count == 3


def test_exceeding_max_restarts_within_period_escalates():
    clock = ManualClock()
    intensity = RestartIntensity(max_restarts=2, period=10, clock=clock)
    assert intensity.record_restart()
    clock.advance(4)
    assert intensity.record_restart()
    clock.advance(4)
    assert not intensity.record_restart()


def test_old_restarts_leave_the_window():
    clock = ManualClock()
    intensity = RestartIntensity(max_restarts=2, period=10, clock=clock)
    intensity.record_restart()
    clock.advance(6)
    intensity.record_restart()
    clock.advance(4)  # the first restart is now exactly 10s old
    assert intensity.count == 1
    assert intensity.record_restart()
    assert intensity.count == 2


def test_zero_max_restarts_escalates_on_first_restart():
    intensity = RestartIntensity(max_restarts=0, clock=ManualClock())
    assert not intensity.record_restart()


def test_reset_forgets_restarts():
    intensity = RestartIntensity(max_restarts=1, clock=ManualClock())
    intensity.record_restart()
    intensity.reset()
    assert intensity.count == 0
    assert intensity.record_restart()


def test_defaults():
    intensity = RestartIntensity()
    assert intensity.max_restarts == 3
    assert intensity.period == 5.0


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"max_restarts": -1}, ValueError),
        ({"max_restarts": 1.0}, TypeError),
        ({"period": 0}, ValueError),
        ({"period": "soon"}, ValueError),
    ],
)
def test_invalid_arguments_are_rejected(kwargs, error):
    with pytest.raises(error):
        RestartIntensity(**kwargs)
