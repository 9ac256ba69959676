"""The root of Water's errors, and the exceptions that steer retrying, breakers and timeouts.

``WaterError`` lives here, in the lowest layer, so that every layer's own errors
(the runtime's in ``actors``, the engine's in ``water.errors``) share one root.
"""

from __future__ import annotations

from typing import Any

from supervision.durations import Duration, format_seconds, parse_duration


class WaterError(Exception):
    """Base class of every error Water raises or defines."""


class FatalError(WaterError):
    """An error that is never retried."""


class RetryableError(WaterError):
    """An error worth retrying, optionally after a server-suggested delay."""

    def __init__(self, message: str = "", retry_after: Duration | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after: float | None = (
            None if retry_after is None else parse_duration(retry_after)
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.message, self.retry_after), self.__dict__)


class CircuitOpenError(WaterError):
    """A call was rejected because a circuit breaker is open."""

    def __init__(self, breaker: str, retry_after: float | None = None) -> None:
        message = f"circuit breaker {breaker!r} is open"
        if retry_after is not None:
            message += f"; retry after {format_seconds(retry_after)}"
        super().__init__(message)
        self.breaker = breaker
        self.retry_after = retry_after

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.breaker, self.retry_after), self.__dict__)


class StepTimeoutError(WaterError, TimeoutError):
    """A task ran longer than its timeout."""

    def __init__(self, task_id: str, timeout: float) -> None:
        super().__init__(f"task {task_id!r} timed out after {format_seconds(timeout)}")
        self.task_id = task_id
        self.timeout = timeout

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.task_id, self.timeout), self.__dict__)
