"""Circuit breaker configuration and its thread-safe runtime state machine."""

from __future__ import annotations

import logging
import math
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from supervision._checks import require_int, require_number
from supervision.clock import Clock, SystemClock
from supervision.durations import Duration, parse_duration

_log = logging.getLogger(__name__)

StateListener = Callable[[str, "CircuitState", "CircuitState"], None]


class CircuitState(StrEnum):
    """The three states of a circuit breaker."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, init=False, slots=True)
class CircuitBreaker:
    """Immutable, validated circuit breaker configuration.

    Opens after ``failure_threshold`` consecutive failures or, when
    ``failure_rate`` is set, when at least that fraction of the last ``window``
    calls failed (once ``min_calls`` calls are in the window). After
    ``reset_timeout`` it admits up to ``half_open_max_calls`` trial calls. Each
    failed trial multiplies the reset timeout by ``backoff_factor``, capped at
    ``max_reset_timeout`` (uncapped when None); a successful trial restores it.
    """

    failure_threshold: int
    reset_timeout: float
    half_open_max_calls: int
    name: str | None
    failure_rate: float | None
    window: int
    min_calls: int
    backoff_factor: float
    max_reset_timeout: float | None

    def __init__(
        self,
        failure_threshold: int = 5,
        reset_timeout: Duration = "30s",
        half_open_max_calls: int = 1,
        name: str | None = None,
        *,
        failure_rate: float | None = None,
        window: int = 20,
        min_calls: int = 10,
        backoff_factor: float = 1.0,
        max_reset_timeout: Duration | None = None,
    ) -> None:
        threshold = require_int("failure_threshold", failure_threshold, 1)
        reset_s = parse_duration(reset_timeout)
        max_trials = require_int("half_open_max_calls", half_open_max_calls, 1)
        if name is not None and not isinstance(name, str):
            raise TypeError(f"name must be a str or None, got {name!r}")
        rate: float | None = None
        if failure_rate is not None:
            rate = require_number("failure_rate", failure_rate)
            if not 0.0 < rate <= 1.0:
                raise ValueError(f"failure_rate must be in (0, 1], got {failure_rate!r}")
        window_n = require_int("window", window, 1)
        min_n = require_int("min_calls", min_calls, 1)
        if min_n > window_n:
            raise ValueError(f"min_calls ({min_n}) must be <= window ({window_n})")
        factor = require_number("backoff_factor", backoff_factor)
        if factor < 1.0:
            raise ValueError(f"backoff_factor must be >= 1.0, got {backoff_factor!r}")
        max_reset_s: float | None = None
        if max_reset_timeout is not None:
            max_reset_s = parse_duration(max_reset_timeout)
            if max_reset_s < reset_s:
                raise ValueError(
                    f"max_reset_timeout ({max_reset_s}s) must be >= reset_timeout ({reset_s}s)"
                )
        for attr, value in (
            ("failure_threshold", threshold),
            ("reset_timeout", reset_s),
            ("half_open_max_calls", max_trials),
            ("name", name),
            ("failure_rate", rate),
            ("window", window_n),
            ("min_calls", min_n),
            ("backoff_factor", factor),
            ("max_reset_timeout", max_reset_s),
        ):
            object.__setattr__(self, attr, value)


@dataclass(frozen=True, slots=True)
class Admission:
    """The answer to ``BreakerMachine.acquire``.

    ``trial`` is True when the call holds a half-open slot; pass it back to
    ``record_success``, ``record_failure`` or ``release``.
    """

    allowed: bool
    retry_after: float | None
    trial: bool


class BreakerMachine:
    """Runtime state of one named circuit breaker, guarded by a single lock.

    ``on_change(name, old, new)`` is called after every state transition,
    outside the lock; exceptions it raises are logged and suppressed.
    Outcomes reported while open, and non-trial outcomes reported while
    half-open, come from calls admitted earlier and do not change state.
    A trial slot is held from ``acquire`` until its outcome or ``release`` is
    recorded, across state changes, so at most ``half_open_max_calls`` trials
    are ever in flight.
    """

    def __init__(
        self,
        config: CircuitBreaker,
        name: str,
        clock: Clock | None = None,
        on_change: StateListener | None = None,
    ) -> None:
        if not isinstance(config, CircuitBreaker):
            raise TypeError(f"config must be a CircuitBreaker, got {config!r}")
        self._config = config
        self._name = name
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._on_change = on_change
        self._lock = threading.Lock()
        self._state = CircuitState.CLOSED
        self._opened_at: float | None = None
        self._consecutive_failures = 0
        self._outcomes: deque[bool] = deque(maxlen=config.window)
        self._trials_in_flight = 0
        self._reset_timeout = config.reset_timeout
        self._open_reason: str | None = None

    @property
    def name(self) -> str:
        """The breaker's name."""
        return self._name

    @property
    def config(self) -> CircuitBreaker:
        """The configuration this machine enforces."""
        return self._config

    @property
    def state(self) -> CircuitState:
        """The current state (an elapsed open breaker half-opens on the next acquire)."""
        return self._state

    @property
    def opened_at(self) -> float | None:
        """Clock time at which the breaker last opened, or None when closed."""
        return self._opened_at

    @property
    def consecutive_failures(self) -> int:
        """Failures since the last success while closed."""
        return self._consecutive_failures

    @property
    def reset_timeout(self) -> float:
        """The current reset timeout in seconds, including any back-off growth."""
        return self._reset_timeout

    def acquire(self) -> Admission:
        """Ask whether a call may proceed now."""
        changes: list[tuple[CircuitState, CircuitState]] = []
        with self._lock:
            if self._state is CircuitState.CLOSED:
                return Admission(allowed=True, retry_after=None, trial=False)
            if self._state is CircuitState.OPEN:
                remaining = self._remaining(self._clock.now())
                if remaining > 0:
                    return Admission(allowed=False, retry_after=remaining, trial=False)
                self._move(CircuitState.HALF_OPEN, changes)
            if self._trials_in_flight < self._config.half_open_max_calls:
                self._trials_in_flight += 1
                admission = Admission(allowed=True, retry_after=None, trial=True)
            else:
                admission = Admission(allowed=False, retry_after=0.0, trial=False)
        self._notify(changes)
        return admission

    def record_success(self, trial: bool = False) -> None:
        """Report that an admitted call succeeded."""
        changes: list[tuple[CircuitState, CircuitState]] = []
        with self._lock:
            if trial:
                self._release_slot()
            if self._state is CircuitState.CLOSED:
                self._consecutive_failures = 0
                self._outcomes.append(True)
            elif self._state is CircuitState.HALF_OPEN and trial:
                self._close(changes)
        self._notify(changes)

    def record_failure(self, trial: bool = False) -> None:
        """Report that an admitted call failed."""
        changes: list[tuple[CircuitState, CircuitState]] = []
        with self._lock:
            if trial:
                self._release_slot()
            if self._state is CircuitState.CLOSED:
                self._consecutive_failures += 1
                self._outcomes.append(False)
                reason = self._trip_reason()
                if reason is not None:
                    self._open(reason, changes)
            elif self._state is CircuitState.HALF_OPEN and trial:
                self._reset_timeout = self._grown_timeout()
                self._open("half-open trial failed", changes)
        self._notify(changes)

    def release(self, trial: bool) -> None:
        """Give back a half-open slot without reporting an outcome (e.g. cancellation)."""
        if not trial:
            return
        with self._lock:
            self._release_slot()

    def force_open(self, reason: str = "") -> None:
        """Open the breaker now for the current reset timeout."""
        changes: list[tuple[CircuitState, CircuitState]] = []
        with self._lock:
            self._open(reason or "forced open", changes)
        self._notify(changes)

    def info(self) -> dict[str, object]:
        """A JSON-serialisable snapshot for display."""
        with self._lock:
            retry_after = (
                self._remaining(self._clock.now()) if self._state is CircuitState.OPEN else None
            )
            return {
                "name": self._name,
                "state": self._state.value,
                "failures": self._consecutive_failures,
                "opened_at": self._opened_at,
                "retry_after": retry_after,
                "reset_timeout": self._reset_timeout,
                "half_open_calls": self._trials_in_flight,
                "reason": self._open_reason,
            }

    def __repr__(self) -> str:
        return f"BreakerMachine(name={self._name!r}, state={self._state.value})"

    def _remaining(self, now: float) -> float:
        assert self._opened_at is not None
        remaining = self._opened_at + self._reset_timeout - now
        return max(0.0, min(self._reset_timeout, remaining))

    def _trip_reason(self) -> str | None:
        config = self._config
        if self._consecutive_failures >= config.failure_threshold:
            return f"{self._consecutive_failures} consecutive failures"
        if config.failure_rate is not None and len(self._outcomes) >= config.min_calls:
            failures = self._outcomes.count(False)
            if failures / len(self._outcomes) >= config.failure_rate:
                return f"{failures} of the last {len(self._outcomes)} calls failed"
        return None

    def _grown_timeout(self) -> float:
        cap = self._config.max_reset_timeout
        grown = self._reset_timeout * self._config.backoff_factor
        if not math.isfinite(grown):
            grown = self._reset_timeout
        return grown if cap is None else min(grown, cap)

    def _release_slot(self) -> None:
        self._trials_in_flight = max(0, self._trials_in_flight - 1)

    def _open(self, reason: str, changes: list[tuple[CircuitState, CircuitState]]) -> None:
        self._opened_at = self._clock.now()
        self._open_reason = reason
        self._outcomes.clear()
        self._move(CircuitState.OPEN, changes)

    def _close(self, changes: list[tuple[CircuitState, CircuitState]]) -> None:
        self._opened_at = None
        self._open_reason = None
        self._consecutive_failures = 0
        self._outcomes.clear()
        self._reset_timeout = self._config.reset_timeout
        self._move(CircuitState.CLOSED, changes)

    def _move(self, new: CircuitState, changes: list[tuple[CircuitState, CircuitState]]) -> None:
        old = self._state
        self._state = new
        if old is not new:
            changes.append((old, new))

    def _notify(self, changes: list[tuple[CircuitState, CircuitState]]) -> None:
        if self._on_change is None:
            return
        for old, new in changes:
            try:
                self._on_change(self._name, old, new)
            except Exception:
                _log.exception("on_change listener failed for breaker %r", self._name)
