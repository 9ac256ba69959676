"""Injectable wall clocks."""

from __future__ import annotations

import time
from typing import Protocol, runtime_checkable

from supervision.durations import Duration, parse_duration


@runtime_checkable
class Clock(Protocol):
    """A source of wall-clock time in seconds since the epoch."""

    def now(self) -> float:
        """Return the current time in seconds since the epoch."""
        ...


class SystemClock:
    """The real clock, backed by ``time.time``."""

    def now(self) -> float:
        """Return ``time.time()``."""
        return time.time()

    def __repr__(self) -> str:
        return "SystemClock()"


class ManualClock:
    """A clock that only moves when told to; for tests."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = float(start)

    def now(self) -> float:
        """Return the current manual time."""
        return self._now

    def advance(self, seconds: Duration) -> float:
        """Move time forward by a non-negative duration and return the new time."""
        self._now += parse_duration(seconds)
        return self._now

    def set(self, t: float) -> None:
        """Jump to an absolute time (may move backwards)."""
        self._now = float(t)

    def __repr__(self) -> str:
        return f"ManualClock(now={self._now!r})"
