"""Timers on the reactor loop: no thread per timer, no sleeping thread at all.

A timer is keyed by (execution id, timer name); arming it again replaces it.
When it fires, ``fire(execution_id, timer, fire_at)`` is called on the loop
thread with the deadline it was armed for (the runtime then routes a
``TimerFired`` message to the execution, rehydrating it if it was passivated;
the deadline lets the execution drop a firing that belongs to an earlier arming
of the same name). Durability is the journal's business: timers armed here are
re-armed from the execution's state after a restart.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from actors.reactor import Reactor


class Timers:
    def __init__(self, reactor: Reactor, fire: Callable[[str, str, float], None]) -> None:
        self._reactor = reactor
        self._fire = fire
        self._handles: dict[str, dict[str, asyncio.TimerHandle]] = {}
        self._count = 0

    def arm(self, execution_id: str, timer: str, fire_at: float) -> None:
        """Thread-safe: fire at ``fire_at`` (unix seconds; past times fire at once)."""
        self._reactor.call_soon(self._arm, execution_id, timer, fire_at)

    def disarm(self, execution_id: str, timer: str | None = None) -> None:
        """Thread-safe: disarm one timer, or every timer of the execution."""
        self._reactor.call_soon(self._disarm, execution_id, timer)

    def _arm(self, execution_id: str, timer: str, fire_at: float) -> None:
        mine = self._handles.setdefault(execution_id, {})
        old = mine.pop(timer, None)
        if old is not None:
            old.cancel()
            self._count -= 1
        mine[timer] = self._reactor.call_at_wall(fire_at, self._fired, execution_id, timer, fire_at)
        self._count += 1

    def _disarm(self, execution_id: str, timer: str | None) -> None:
        mine = self._handles.get(execution_id)
        if not mine:
            return
        names = [timer] if timer is not None else list(mine)
        for name in names:
            handle = mine.pop(name, None)
            if handle is not None:
                handle.cancel()
                self._count -= 1
        if not mine:
            del self._handles[execution_id]

    def _fired(self, execution_id: str, timer: str, fire_at: float) -> None:
        mine = self._handles.get(execution_id)
        if mine is not None and mine.pop(timer, None) is not None:
            self._count -= 1
            if not mine:
                del self._handles[execution_id]
        self._fire(execution_id, timer, fire_at)

    @property
    def armed(self) -> int:
        """How many timers are armed (read on any thread; approximate while changing)."""
        return self._count
