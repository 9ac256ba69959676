"""``Observers``: several runtime observers as one, each isolated from the others."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from actors.observer import Observers, RuntimeObserver


class Recording(RuntimeObserver):
    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []

    def events_committed(self, state: Any, events: Any) -> None:
        self.calls.append(("events_committed", (state, list(events))))

    def journal_committed(self, batch_size: int, seconds: float) -> None:
        self.calls.append(("journal_committed", (batch_size, seconds)))

    def actor_restarted(self, kind: str) -> None:
        self.calls.append(("actor_restarted", kind))

    def breaker_changed(self, name: str, old: str, new: str) -> None:
        self.calls.append(("breaker_changed", (name, old, new)))

    def storage_changed(self, available: bool) -> None:
        self.calls.append(("storage_changed", available))


class Broken(RuntimeObserver):
    def events_committed(self, state: Any, events: Any) -> None:
        raise RuntimeError("observer bug")

    def storage_changed(self, available: bool) -> None:
        raise RuntimeError("observer bug")


def test_every_hook_reaches_every_observer_even_past_one_that_raises(
    caplog: pytest.LogCaptureFixture,
) -> None:
    first, last = Recording(), Recording()
    observers = Observers([first, Broken(), last])
    with caplog.at_level(logging.ERROR, logger="water.observer"):
        observers.events_committed("state", ["e1"])
        observers.journal_committed(3, 0.5)
        observers.actor_restarted("worker")
        observers.breaker_changed("b", "closed", "open")
        observers.storage_changed(False)
    expected = [
        ("events_committed", ("state", ["e1"])),
        ("journal_committed", (3, 0.5)),
        ("actor_restarted", "worker"),
        ("breaker_changed", ("b", "closed", "open")),
        ("storage_changed", False),
    ]
    assert first.calls == expected
    assert last.calls == expected
    failures = [r.getMessage() for r in caplog.records]
    assert failures == ["Broken.events_committed failed", "Broken.storage_changed failed"]
