"""OTP-style restart intensity: too many restarts in a period means escalate."""

from __future__ import annotations

from collections import deque

from supervision._checks import require_int
from supervision.clock import Clock, SystemClock
from supervision.durations import Duration, format_seconds, parse_duration


class RestartIntensity:
    """Tracks restarts in a sliding window of ``period`` seconds.

    A restart exactly ``period`` seconds old has left the window. Not
    thread-safe; use one instance per supervisor.
    """

    def __init__(
        self, max_restarts: int = 3, period: Duration = "5s", clock: Clock | None = None
    ) -> None:
        self._max_restarts = require_int("max_restarts", max_restarts, 0)
        self._period = parse_duration(period)
        if self._period <= 0:
            raise ValueError(f"period must be positive, got {period!r}")
        self._clock: Clock = clock if clock is not None else SystemClock()
        self._restarts: deque[float] = deque()

    @property
    def max_restarts(self) -> int:
        """Restarts allowed within one period."""
        return self._max_restarts

    @property
    def period(self) -> float:
        """Window length in seconds."""
        return self._period

    @property
    def count(self) -> int:
        """Restarts recorded within the current window."""
        now = self._clock.now()
        return sum(1 for t in self._restarts if now - t < self._period)

    def record_restart(self) -> bool:
        """Record a restart; False when more than ``max_restarts`` fall in the window."""
        now = self._clock.now()
        while self._restarts and now - self._restarts[0] >= self._period:
            self._restarts.popleft()
        self._restarts.append(now)
        return len(self._restarts) <= self._max_restarts

    def reset(self) -> None:
        """Forget all recorded restarts."""
        self._restarts.clear()

    def __repr__(self) -> str:
        return (
            f"RestartIntensity(max_restarts={self._max_restarts}, "
            f"period={format_seconds(self._period)}, count={self.count})"
        )
