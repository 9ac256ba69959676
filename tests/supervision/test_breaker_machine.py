import json
import random
import threading
import time

import pytest

from supervision.breaker import Admission, BreakerMachine, CircuitBreaker, CircuitState
from supervision.clock import ManualClock


def make(clock=None, on_change=None, **config):
    return BreakerMachine(CircuitBreaker(**config), "payments", clock or ManualClock(), on_change)


def fail_times(machine, n):
    for _ in range(n):
        assert machine.acquire().allowed
        machine.record_failure()


def test_config_defaults_and_parsing():
    config = CircuitBreaker()
    assert config.failure_threshold == 5
    assert config.reset_timeout == 30.0
    assert config.half_open_max_calls == 1
    assert config.name is None
    assert CircuitBreaker(reset_timeout="1m", max_reset_timeout="5m").max_reset_timeout == 300.0


def test_config_is_an_immutable_value():
    config = CircuitBreaker(failure_threshold=2, reset_timeout="10s", name="db")
    assert config == CircuitBreaker(failure_threshold=2, reset_timeout=10, name="db")
    assert hash(config) == hash(CircuitBreaker(failure_threshold=2, reset_timeout=10, name="db"))
    with pytest.raises(AttributeError):
        config.failure_threshold = 3  # type: ignore[misc]
    assert "failure_threshold=2" in repr(config)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"failure_threshold": 0}, ValueError),
        ({"failure_threshold": "5"}, TypeError),
        ({"reset_timeout": -1}, ValueError),
        ({"half_open_max_calls": 0}, ValueError),
        ({"name": 5}, TypeError),
        ({"failure_rate": 0}, ValueError),
        ({"failure_rate": 1.5}, ValueError),
        ({"failure_rate": True}, TypeError),
        ({"window": 0}, ValueError),
        ({"window": 5, "min_calls": 6}, ValueError),
        ({"backoff_factor": 0.5}, ValueError),
        ({"reset_timeout": "30s", "max_reset_timeout": "10s"}, ValueError),
    ],
)
def test_config_rejects_invalid_arguments(kwargs, error):
    with pytest.raises(error):
        CircuitBreaker(**kwargs)


def test_machine_requires_a_config():
    with pytest.raises(TypeError):
        BreakerMachine(object(), "x")  # type: ignore[arg-type]


def test_closed_breaker_admits_calls():
    machine = make()
    assert machine.state is CircuitState.CLOSED
    assert machine.acquire() == Admission(allowed=True, retry_after=None, trial=False)


def test_opens_after_consecutive_failure_threshold():
    clock = ManualClock(1000.0)
    machine = make(clock, failure_threshold=3)
    fail_times(machine, 2)
    assert machine.state is CircuitState.CLOSED
    assert machine.consecutive_failures == 2
    fail_times(machine, 1)
    assert machine.state is CircuitState.OPEN
    assert machine.opened_at == 1000.0


def test_success_resets_consecutive_failures():
    machine = make(failure_threshold=3)
    fail_times(machine, 2)
    machine.record_success()
    assert machine.consecutive_failures == 0
    fail_times(machine, 2)
    assert machine.state is CircuitState.CLOSED


def test_open_breaker_rejects_with_remaining_time():
    clock = ManualClock()
    machine = make(clock, failure_threshold=1, reset_timeout="30s")
    fail_times(machine, 1)
    assert machine.acquire() == Admission(allowed=False, retry_after=30.0, trial=False)
    clock.advance(12)
    assert machine.acquire() == Admission(allowed=False, retry_after=18.0, trial=False)


def test_half_opens_after_reset_timeout_and_admits_a_trial():
    clock = ManualClock()
    machine = make(clock, failure_threshold=1, reset_timeout=10)
    fail_times(machine, 1)
    clock.advance(10)
    assert machine.acquire() == Admission(allowed=True, retry_after=None, trial=True)
    assert machine.state is CircuitState.HALF_OPEN


def test_half_open_bounds_concurrent_trials():
    clock = ManualClock()
    machine = make(clock, failure_threshold=1, reset_timeout=5, half_open_max_calls=2)
    fail_times(machine, 1)
    clock.advance(5)
    assert machine.acquire().trial
    assert machine.acquire().trial
    third = machine.acquire()
    assert not third.allowed
    assert not third.trial
    assert third.retry_after is not None and third.retry_after >= 0


def test_released_trial_slot_can_be_reused():
    clock = ManualClock()
    machine = make(clock, failure_threshold=1, reset_timeout=5)
    fail_times(machine, 1)
    clock.advance(5)
    admission = machine.acquire()
    assert not machine.acquire().allowed
    machine.release(admission.trial)
    assert machine.state is CircuitState.HALF_OPEN
    assert machine.acquire().trial


def test_trial_slot_is_held_until_recorded_even_across_reopening():
    clock = ManualClock()
    machine = make(clock, failure_threshold=1, reset_timeout=5)
    fail_times(machine, 1)
    clock.advance(5)
    old_trial = machine.acquire()
    machine.force_open("escalation")
    clock.advance(5)
    assert not machine.acquire().allowed
    machine.record_success(trial=old_trial.trial)
    assert machine.state is CircuitState.CLOSED


def test_trial_success_closes_and_resets():
    clock = ManualClock()
    machine = make(clock, failure_threshold=2, reset_timeout=5)
    fail_times(machine, 2)
    clock.advance(5)
    admission = machine.acquire()
    machine.record_success(trial=admission.trial)
    assert machine.state is CircuitState.CLOSED
    assert machine.consecutive_failures == 0
    assert machine.opened_at is None
    fail_times(machine, 1)
    assert machine.state is CircuitState.CLOSED


def test_trial_failure_reopens_with_grown_timeout_until_capped():
    clock = ManualClock()
    machine = make(
        clock, failure_threshold=1, reset_timeout=10, backoff_factor=2, max_reset_timeout=25
    )
    fail_times(machine, 1)
    expected_timeouts = [20.0, 25.0, 25.0]
    for expected in expected_timeouts:
        clock.advance(machine.reset_timeout)
        admission = machine.acquire()
        assert admission.trial
        machine.record_failure(trial=True)
        assert machine.state is CircuitState.OPEN
        assert machine.reset_timeout == expected
        assert machine.acquire().retry_after == expected


def test_successful_trial_restores_base_reset_timeout():
    clock = ManualClock()
    machine = make(clock, failure_threshold=1, reset_timeout=10, backoff_factor=3)
    fail_times(machine, 1)
    clock.advance(10)
    machine.acquire()
    machine.record_failure(trial=True)
    assert machine.reset_timeout == 30.0
    clock.advance(30)
    machine.acquire()
    machine.record_success(trial=True)
    assert machine.reset_timeout == 10.0
    fail_times(machine, 1)
    assert machine.acquire().retry_after == 10.0


def test_without_backoff_factor_timeout_stays_constant():
    clock = ManualClock()
    machine = make(clock, failure_threshold=1, reset_timeout=10)
    fail_times(machine, 1)
    clock.advance(10)
    machine.acquire()
    machine.record_failure(trial=True)
    assert machine.acquire().retry_after == 10.0


def test_stale_outcomes_do_not_change_an_open_breaker():
    clock = ManualClock()
    machine = make(clock, failure_threshold=1, reset_timeout=10)
    fail_times(machine, 1)
    machine.record_success()
    assert machine.state is CircuitState.OPEN
    clock.advance(10)
    machine.acquire()
    machine.record_success(trial=False)
    assert machine.state is CircuitState.HALF_OPEN


def test_failure_rate_opens_over_the_window():
    machine = make(failure_threshold=100, failure_rate=0.5, window=10, min_calls=4)
    for ok in (True, False, True):
        machine.acquire()
        (machine.record_success if ok else machine.record_failure)()
    assert machine.state is CircuitState.CLOSED  # only 3 calls, below min_calls
    machine.acquire()
    machine.record_failure()
    assert machine.state is CircuitState.OPEN  # 2 of 4 failed


def test_failure_rate_only_counts_the_last_window_calls():
    machine = make(failure_threshold=100, failure_rate=0.5, window=4, min_calls=4)
    for ok in (False, True, True, True, True, False, True):
        machine.acquire()
        (machine.record_success if ok else machine.record_failure)()
    assert machine.state is CircuitState.CLOSED  # last 4: T, T, F, T
    machine.record_failure()
    assert machine.state is CircuitState.OPEN  # last 4: T, F, T, F


def test_consecutive_threshold_still_applies_with_failure_rate():
    machine = make(failure_threshold=2, failure_rate=1.0, window=20, min_calls=20)
    fail_times(machine, 2)
    assert machine.state is CircuitState.OPEN


def test_force_open_opens_for_current_reset_timeout():
    clock = ManualClock(50.0)
    machine = make(clock, reset_timeout=15)
    machine.force_open("downstream escalation")
    assert machine.state is CircuitState.OPEN
    assert machine.opened_at == 50.0
    assert machine.acquire() == Admission(allowed=False, retry_after=15.0, trial=False)
    assert machine.info()["reason"] == "downstream escalation"


def test_on_change_reports_every_transition_in_order():
    clock = ManualClock()
    events = []
    machine = make(clock, lambda *event: events.append(event), failure_threshold=1, reset_timeout=5)
    fail_times(machine, 1)
    clock.advance(5)
    machine.acquire()
    machine.record_failure(trial=True)
    clock.advance(5)
    machine.acquire()
    machine.record_success(trial=True)
    machine.force_open()
    closed, open_, half = CircuitState.CLOSED, CircuitState.OPEN, CircuitState.HALF_OPEN
    assert events == [
        ("payments", closed, open_),
        ("payments", open_, half),
        ("payments", half, open_),
        ("payments", open_, half),
        ("payments", half, closed),
        ("payments", closed, open_),
    ]


def test_on_change_may_call_back_into_the_machine():
    seen = []
    holder = {}

    def listener(name, old, new):
        seen.append((new, holder["machine"].info()["state"]))

    machine = make(failure_threshold=1, on_change=listener)
    holder["machine"] = machine
    fail_times(machine, 1)
    assert seen == [(CircuitState.OPEN, "open")]


def test_failing_listener_does_not_break_the_machine(caplog):
    def listener(name, old, new):
        raise RuntimeError("listener bug")

    machine = make(failure_threshold=1, on_change=listener)
    fail_times(machine, 1)
    assert machine.state is CircuitState.OPEN
    assert "listener bug" in caplog.text


def test_info_is_json_serialisable():
    clock = ManualClock(100.0)
    machine = make(clock, failure_threshold=2, reset_timeout=30)
    fail_times(machine, 2)
    clock.advance(10)
    info = json.loads(json.dumps(machine.info()))
    assert info["name"] == "payments"
    assert info["state"] == "open"
    assert info["failures"] == 2
    assert info["opened_at"] == 100.0
    assert info["retry_after"] == 20.0
    assert info["reset_timeout"] == 30.0
    assert machine.name == "payments"
    assert machine.config == CircuitBreaker(failure_threshold=2, reset_timeout=30)


def test_circuit_state_values_are_strings():
    assert [s.value for s in CircuitState] == ["closed", "open", "half_open"]
    assert CircuitState.HALF_OPEN == "half_open"


def test_concurrent_use_keeps_invariants():
    max_trials = 2
    machine = make(
        ManualClock(), failure_threshold=3, reset_timeout=0, half_open_max_calls=max_trials
    )
    guard = threading.Lock()
    in_trial = [0]
    peak = [0]
    errors = []

    def worker(seed):
        rng = random.Random(seed)
        try:
            for _ in range(2000):
                admission = machine.acquire()
                if not admission.allowed:
                    assert admission.retry_after is not None and admission.retry_after >= 0
                    continue
                if admission.trial:
                    with guard:
                        in_trial[0] += 1
                        peak[0] = max(peak[0], in_trial[0])
                    # the trial is in flight: let the other threads run and try to get in
                    time.sleep(0)
                    with guard:
                        in_trial[0] -= 1  # before its slot is given back below
                roll = rng.random()
                if roll < 0.1:
                    machine.release(admission.trial)
                elif roll < 0.6:
                    machine.record_failure(admission.trial)
                else:
                    machine.record_success(admission.trial)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert peak[0] == max_trials  # trials did overlap, and never more than allowed
    info = machine.info()
    assert info["state"] in {"closed", "open", "half_open"}
    assert info["half_open_calls"] == 0
