import json
import random
from datetime import timedelta

import pytest

from supervision.errors import FatalError, RetryableError
from supervision.retry import RetryPolicy


def delays(policy, error=None, attempts=None):
    error = error if error is not None else RuntimeError("boom")
    count = attempts if attempts is not None else policy.max_attempts
    return [policy.next_delay(n, error) for n in range(1, count + 1)]


def test_defaults():
    policy = RetryPolicy()
    assert policy.max_attempts == 3
    assert policy.backoff == "exponential"
    assert policy.delay == 1.0
    assert policy.max_delay == 60.0
    assert policy.jitter == 0.0
    assert policy.retry_on == (Exception,)


def test_fixed_backoff():
    policy = RetryPolicy(max_attempts=4, backoff="fixed", delay="2s")
    assert delays(policy) == [2.0, 2.0, 2.0, None]


def test_linear_backoff():
    policy = RetryPolicy(max_attempts=5, backoff="linear", delay=1.5)
    assert delays(policy) == [1.5, 3.0, 4.5, 6.0, None]


def test_exponential_backoff():
    policy = RetryPolicy(max_attempts=6, backoff="exponential", delay="500ms")
    assert delays(policy) == [0.5, 1.0, 2.0, 4.0, 8.0, None]


@pytest.mark.parametrize(
    ("backoff", "expected"),
    [
        ("fixed", [3.0, 3.0, 3.0, 3.0]),
        ("linear", [3.0, 6.0, 7.0, 7.0]),
        ("exponential", [3.0, 6.0, 7.0, 7.0]),
    ],
)
def test_backoff_is_capped_at_max_delay(backoff, expected):
    policy = RetryPolicy(max_attempts=10, backoff=backoff, delay=3, max_delay=7)
    assert delays(policy, attempts=4) == expected


def test_exponential_stays_capped_for_very_late_attempts():
    policy = RetryPolicy(max_attempts=10_000, delay=1, max_delay="1h")
    assert policy.next_delay(5_000, RuntimeError()) == 3600.0


def test_zero_delay_never_waits():
    policy = RetryPolicy(max_attempts=3, delay=0)
    assert delays(policy) == [0.0, 0.0, None]


def test_jitter_is_bounded_and_deterministic_with_seeded_rng():
    policy = RetryPolicy(max_attempts=50, backoff="exponential", delay=1, max_delay=4, jitter=0.5)
    first = [policy.next_delay(n, RuntimeError(), random.Random(7)) for n in range(1, 50)]
    second = [policy.next_delay(n, RuntimeError(), random.Random(7)) for n in range(1, 50)]
    assert first == second
    rng = random.Random(42)
    for attempt in range(1, 50):
        base = min(2.0 ** (attempt - 1), 4.0)
        delay = policy.next_delay(attempt, RuntimeError(), rng)
        assert delay is not None
        assert base <= delay <= base + 0.5


def test_jitter_actually_varies():
    policy = RetryPolicy(max_attempts=100, backoff="fixed", delay=1, jitter=1)
    rng = random.Random(1)
    values = {policy.next_delay(1, RuntimeError(), rng) for _ in range(20)}
    assert len(values) > 1


def test_retry_on_filters_errors():
    policy = RetryPolicy(max_attempts=3, backoff="fixed", retry_on=(ConnectionError, TimeoutError))
    assert policy.next_delay(1, ConnectionResetError()) == 1.0
    assert policy.next_delay(1, TimeoutError()) == 1.0
    assert policy.next_delay(1, ValueError()) is None


def test_retry_on_accepts_a_single_class():
    policy = RetryPolicy(retry_on=KeyError)
    assert policy.retry_on == (KeyError,)
    assert policy.next_delay(1, KeyError()) == 1.0
    assert policy.next_delay(1, IndexError()) is None


def test_fatal_error_is_never_retried():
    policy = RetryPolicy(max_attempts=10, retry_on=(BaseException,))
    assert policy.next_delay(1, FatalError("no")) is None


def test_base_exceptions_are_not_retried_by_default():
    assert RetryPolicy().next_delay(1, KeyboardInterrupt()) is None


def test_retryable_error_retry_after_is_used_exactly():
    policy = RetryPolicy(max_attempts=5, delay=1, max_delay=2, jitter=10)
    error = RetryableError("slow down", retry_after="90s")
    assert policy.next_delay(1, error, random.Random(3)) == 90.0


def test_retryable_error_without_retry_after_uses_backoff():
    policy = RetryPolicy(max_attempts=5, backoff="linear", delay=2)
    assert policy.next_delay(2, RetryableError("again")) == 4.0


def test_retryable_error_still_respects_max_attempts():
    policy = RetryPolicy(max_attempts=2)
    assert policy.next_delay(2, RetryableError("x", retry_after=1)) is None


def test_none_policy_never_retries():
    policy = RetryPolicy.none()
    assert policy.max_attempts == 1
    assert policy.next_delay(1, RuntimeError()) is None


def test_attempt_must_be_positive():
    with pytest.raises(ValueError):
        RetryPolicy().next_delay(0, RuntimeError())


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"max_attempts": 0}, ValueError),
        ({"max_attempts": 1.5}, TypeError),
        ({"max_attempts": True}, TypeError),
        ({"backoff": "random"}, ValueError),
        ({"delay": -1}, ValueError),
        ({"delay": "soon"}, ValueError),
        ({"jitter": float("nan")}, ValueError),
        ({"delay": 10, "max_delay": 5}, ValueError),
        ({"retry_on": ()}, ValueError),
        ({"retry_on": [ValueError]}, TypeError),
        ({"retry_on": (ValueError, "KeyError")}, TypeError),
        ({"retry_on": int}, TypeError),
    ],
)
def test_invalid_arguments_are_rejected(kwargs, error):
    with pytest.raises(error):
        RetryPolicy(**kwargs)


def test_durations_are_parsed_and_policy_is_immutable_value():
    policy = RetryPolicy(delay=timedelta(milliseconds=250), max_delay="1m", jitter="100ms")
    assert (policy.delay, policy.max_delay, policy.jitter) == (0.25, 60.0, 0.1)
    assert policy == RetryPolicy(delay=0.25, max_delay=60, jitter=0.1)
    assert hash(policy) == hash(RetryPolicy(delay=0.25, max_delay=60, jitter=0.1))
    assert policy != RetryPolicy()
    with pytest.raises(AttributeError):
        policy.max_attempts = 9  # type: ignore[misc]
    assert "RetryPolicy(max_attempts=3" in repr(policy)


def test_describe_is_json_serialisable():
    policy = RetryPolicy(max_attempts=4, backoff="linear", delay="2s", retry_on=(KeyError,))
    summary = policy.describe()
    assert json.loads(json.dumps(summary)) == {
        "max_attempts": 4,
        "backoff": "linear",
        "delay": 2.0,
        "max_delay": 60.0,
        "jitter": 0.0,
        "retry_on": ["KeyError"],
    }


def test_an_open_breaker_is_waited_out():
    from supervision import CircuitOpenError

    policy = RetryPolicy(max_attempts=3, backoff="fixed", delay=0.5)
    assert policy.next_delay(1, CircuitOpenError("payments", retry_after=30.0)) == 30.0
    assert policy.next_delay(1, CircuitOpenError("payments", retry_after=0.1)) == 0.5
    assert policy.next_delay(3, CircuitOpenError("payments", retry_after=30.0)) is None
