"""Hooks through which the runtime reports what it does (metrics live above)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

log = logging.getLogger("water.runtime")


class RuntimeObserver:
    """No-op base: override what you want to observe. Called from runtime threads."""

    def events_committed(self, state: Any, events: Sequence[Any]) -> None:
        """An execution's ``events`` are durable (``state`` is its interpreter's state
        right after them; read it, never keep or change it). Called on the loop."""

    def journal_committed(self, batch_size: int, seconds: float) -> None:
        """A group commit of ``batch_size`` appends took ``seconds``."""

    def actor_restarted(self, kind: str) -> None:
        """A worker, supervisor or coordinator was replaced after a crash or hang."""

    def breaker_changed(self, name: str, old: str, new: str) -> None:
        """A circuit breaker moved from state ``old`` to ``new``."""

    def storage_changed(self, available: bool) -> None:
        """The storage stopped taking the journal's writes, or took them again."""


class Observers(RuntimeObserver):
    """Several observers, each told everything in turn (one that raises stops no other)."""

    def __init__(self, *observers: RuntimeObserver) -> None:
        self.observers = observers

    def _each(self, hook: str, *args: Any) -> None:
        for observer in self.observers:
            try:
                getattr(observer, hook)(*args)
            except Exception:
                log.exception("observer %s failed in %s", type(observer).__name__, hook)

    def events_committed(self, state: Any, events: Sequence[Any]) -> None:
        for observer in self.observers:
            try:
                observer.events_committed(state, events)
            except Exception:
                log.exception(
                    "observing the committed events of %s failed (%s)",
                    getattr(state, "execution_id", "?"),
                    type(observer).__name__,
                )

    def journal_committed(self, batch_size: int, seconds: float) -> None:
        self._each("journal_committed", batch_size, seconds)

    def actor_restarted(self, kind: str) -> None:
        self._each("actor_restarted", kind)

    def breaker_changed(self, name: str, old: str, new: str) -> None:
        self._each("breaker_changed", name, old, new)

    def storage_changed(self, available: bool) -> None:
        self._each("storage_changed", available)


def compose(*observers: RuntimeObserver | None) -> RuntimeObserver | None:
    """One observer for those given (None when none is)."""
    present = [o for o in observers if o is not None]
    if len(present) <= 1:
        return present[0] if present else None
    return Observers(*present)
