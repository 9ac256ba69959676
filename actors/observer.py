"""Hooks through which the runtime reports what it does (metrics live above)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


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
