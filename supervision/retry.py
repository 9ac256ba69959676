"""Retry policy: how many attempts, which errors, and how long to wait."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal, get_args

import tenacity
from tenacity.retry import retry_base
from tenacity.stop import stop_base
from tenacity.wait import wait_base

from supervision._checks import require_int
from supervision.durations import Duration, parse_duration
from supervision.errors import CircuitOpenError, FatalError, RetryableError

Backoff = Literal["fixed", "linear", "exponential"]
_BACKOFFS: tuple[str, ...] = get_args(Backoff)
_DEFAULT_RNG = random.Random()


def _never_sleep(seconds: float) -> None:
    """Sleep hook for the tenacity controller; decisions here never sleep."""


def _normalise_retry_on(value: object) -> tuple[type[BaseException], ...]:
    classes = (value,) if isinstance(value, type) else value
    if not isinstance(classes, tuple):
        raise TypeError(f"retry_on must be an exception class or a tuple of them, got {value!r}")
    if not classes:
        raise ValueError("retry_on must not be empty; use RetryPolicy.none() to never retry")
    for cls in classes:
        if not (isinstance(cls, type) and issubclass(cls, BaseException)):
            raise TypeError(f"retry_on entries must be exception classes, got {cls!r}")
    return classes


def _wait_strategy(backoff: str, delay: float, max_delay: float) -> wait_base:
    if backoff == "fixed":
        return tenacity.wait_fixed(delay)
    if backoff == "linear":
        return tenacity.wait_incrementing(start=delay, increment=delay, max=max_delay)
    # tenacity computes multiplier * exp_base ** (attempt_number - 1).
    return tenacity.wait_exponential(multiplier=delay, exp_base=2, min=0, max=max_delay)


@dataclass(frozen=True, init=False, slots=True)
class RetryPolicy:
    """Immutable retry configuration whose decisions are computed with tenacity.

    Back-off after failed attempt ``n`` (1-based): fixed ``delay``; linear
    ``delay * n``; exponential ``delay * 2 ** (n - 1)``; capped at ``max_delay``,
    then ``uniform(0, jitter)`` is added.
    """

    max_attempts: int
    backoff: Backoff
    delay: float
    max_delay: float
    jitter: float
    retry_on: tuple[type[BaseException], ...]
    _stop: stop_base = field(init=False, repr=False, compare=False)
    _retry: retry_base = field(init=False, repr=False, compare=False)
    _wait: wait_base = field(init=False, repr=False, compare=False)
    _controller: tenacity.Retrying = field(init=False, repr=False, compare=False)

    def __init__(
        self,
        max_attempts: int = 3,
        backoff: Backoff = "exponential",
        delay: Duration = 1.0,
        max_delay: Duration = 60.0,
        jitter: Duration = 0.0,
        retry_on: type[BaseException] | tuple[type[BaseException], ...] = (Exception,),
    ) -> None:
        attempts = require_int("max_attempts", max_attempts, 1)
        if backoff not in _BACKOFFS:
            raise ValueError(f"backoff must be one of {_BACKOFFS}, got {backoff!r}")
        delay_s = parse_duration(delay)
        max_delay_s = parse_duration(max_delay)
        if max_delay_s < delay_s:
            raise ValueError(f"max_delay ({max_delay_s}s) must be >= delay ({delay_s}s)")
        jitter_s = parse_duration(jitter)
        classes = _normalise_retry_on(retry_on)

        stop = tenacity.stop_after_attempt(attempts)
        retry = tenacity.retry_if_exception_type(classes)
        wait = _wait_strategy(backoff, delay_s, max_delay_s)
        controller = tenacity.Retrying(
            stop=stop, retry=retry, wait=wait, sleep=_never_sleep, reraise=True
        )
        for name, value in (
            ("max_attempts", attempts),
            ("backoff", backoff),
            ("delay", delay_s),
            ("max_delay", max_delay_s),
            ("jitter", jitter_s),
            ("retry_on", classes),
            ("_stop", stop),
            ("_retry", retry),
            ("_wait", wait),
            ("_controller", controller),
        ):
            object.__setattr__(self, name, value)

    @classmethod
    def none(cls) -> RetryPolicy:
        """A policy that makes a single attempt and never retries."""
        return cls(max_attempts=1)

    def next_delay(
        self, attempt: int, error: BaseException, rng: random.Random | None = None
    ) -> float | None:
        """Seconds to wait before retrying after failed ``attempt``, or None to give up.

        ``FatalError``, errors outside ``retry_on`` and exhausted attempts give
        up. A ``RetryableError`` with ``retry_after`` waits exactly that long; a
        ``CircuitOpenError`` waits at least until its breaker half-opens.
        """
        require_int("attempt", attempt, 1)
        if isinstance(error, FatalError):
            return None
        state = tenacity.RetryCallState(self._controller, fn=None, args=(), kwargs={})
        state.attempt_number = attempt
        outcome = tenacity.Future(attempt)
        outcome.set_exception(error)
        state.outcome = outcome
        if not self._retry(state) or self._stop(state):
            return None
        if isinstance(error, RetryableError) and error.retry_after is not None:
            return error.retry_after
        seconds = float(self._wait(state))
        if self.jitter > 0:
            seconds += (rng if rng is not None else _DEFAULT_RNG).uniform(0.0, self.jitter)
        if isinstance(error, CircuitOpenError) and error.retry_after:
            seconds = max(seconds, error.retry_after)  # wait the open breaker out
        return seconds

    def describe(self) -> dict[str, object]:
        """A JSON-serialisable summary for display."""
        return {
            "max_attempts": self.max_attempts,
            "backoff": self.backoff,
            "delay": self.delay,
            "max_delay": self.max_delay,
            "jitter": self.jitter,
            "retry_on": [cls.__qualname__ for cls in self.retry_on],
        }
