"""Hooks through which the runtime reports what it does (metrics live above)."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from typing import Any

log = logging.getLogger("water.observer")


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
    """Several observers as one: each hook is passed to every observer in turn.

    One observer raising does not keep the others from seeing the call; the error is
    logged and the runtime goes on.
    """

    def __init__(self, observers: Iterable[RuntimeObserver] = ()) -> None:
        self.observers = list(observers)

    def _each(self, hook: str, *args: Any) -> None:
        for observer in self.observers:
            try:
                getattr(observer, hook)(*args)
            except Exception:
                log.exception("%s.%s failed", type(observer).__name__, hook)

    def events_committed(self, state: Any, events: Sequence[Any]) -> None:
        for observer in self.observers:  # on every commit: no lookup by name
            try:
                observer.events_committed(state, events)
            except Exception:
                log.exception("%s.events_committed failed", type(observer).__name__)

    def journal_committed(self, batch_size: int, seconds: float) -> None:
        self._each("journal_committed", batch_size, seconds)

    def actor_restarted(self, kind: str) -> None:
        self._each("actor_restarted", kind)

    def breaker_changed(self, name: str, old: str, new: str) -> None:
        self._each("breaker_changed", name, old, new)

    def storage_changed(self, available: bool) -> None:
        self._each("storage_changed", available)
