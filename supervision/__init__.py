"""Supervision primitives: durations, clocks, errors, retry, circuit breaking, intensity."""

from supervision.breaker import Admission, BreakerMachine, CircuitBreaker, CircuitState
from supervision.clock import Clock, ManualClock, SystemClock
from supervision.durations import Duration, format_seconds, parse_duration
from supervision.errors import (
    CircuitOpenError,
    FatalError,
    RetryableError,
    StepTimeoutError,
    WaterError,
)
from supervision.intensity import RestartIntensity
from supervision.retry import Backoff, RetryPolicy

__all__ = [
    "Admission",
    "Backoff",
    "BreakerMachine",
    "CircuitBreaker",
    "CircuitOpenError",
    "CircuitState",
    "Clock",
    "Duration",
    "FatalError",
    "ManualClock",
    "RestartIntensity",
    "RetryPolicy",
    "RetryableError",
    "StepTimeoutError",
    "SystemClock",
    "WaterError",
    "format_seconds",
    "parse_duration",
]
