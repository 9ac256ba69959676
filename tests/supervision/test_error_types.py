import pickle

import pytest

from supervision.errors import CircuitOpenError, FatalError, RetryableError, StepTimeoutError


def test_retryable_error_parses_retry_after():
    error = RetryableError("rate limited", retry_after="1m30s")
    assert error.retry_after == 90.0
    assert str(error) == "rate limited"
    assert RetryableError().retry_after is None


def test_retryable_error_rejects_bad_retry_after():
    with pytest.raises(ValueError):
        RetryableError("x", retry_after=-1)


def test_circuit_open_error_message():
    error = CircuitOpenError("payments", retry_after=12.3)
    assert str(error) == "circuit breaker 'payments' is open; retry after 12.3s"
    assert error.breaker == "payments"
    assert error.retry_after == 12.3
    assert str(CircuitOpenError("payments")) == "circuit breaker 'payments' is open"


def test_step_timeout_error_is_a_timeout_with_clear_message():
    error = StepTimeoutError("x", 2.0)
    assert isinstance(error, TimeoutError)
    assert str(error) == "task 'x' timed out after 2.0s"
    assert error.task_id == "x"
    assert error.timeout == 2.0


@pytest.mark.parametrize(
    "error",
    [
        FatalError("bad input"),
        RetryableError("later", retry_after="5s"),
        CircuitOpenError("payments", 1.5),
        StepTimeoutError("charge", 3.0),
    ],
)
def test_errors_survive_pickling(error):
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error)
    assert str(copy) == str(error)
    assert vars(copy) == vars(error)
