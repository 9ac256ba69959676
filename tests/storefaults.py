"""Storages whose journal commits the tests break, hold and inspect (events, no sleeps)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from typing import Any

from water.storage import AppendRequest, MemoryStorage, SQLiteStorage

Match = Callable[[AppendRequest], bool]


def has_event(kind: str, key: str | None = None) -> Match:
    """Matches a request that appends an event of type ``kind`` (of step ``key``)."""

    def match(req: AppendRequest) -> bool:
        return any(
            e.type == kind and (key is None or getattr(e, "key", None) == key) for e in req.events
        )

    return match


class Faults:
    """Switches on the commits of a storage (mixed in before the storage class).

    * ``fail(error, reads=False)``: every commit (and with ``reads``, every load of an
      execution's journal) raises ``error`` until ``heal()``; ``failed`` is set at the
      first failure and ``failures`` counts them.
    * ``hold(match)``: the next commit with a request that matches waits (``holding``
      is set) until ``release()``.
    * ``reject(match, error)``: the next request that matches is answered with
      ``error`` and not written (the rest of its batch is).
    * ``requests``: every request handed to a commit, in order.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requests: list[AppendRequest] = []
        self.failed = threading.Event()
        self.failures = 0
        self.holding = threading.Event()
        self._fault: BaseException | None = None
        self._reads = False
        self._hold: Match | None = None
        self._released = threading.Event()
        self._reject: tuple[Match, BaseException] | None = None

    def fail(self, error: BaseException, *, reads: bool = False) -> None:
        self._reads = reads
        self._fault = error

    def _maybe_fail(self) -> None:
        fault = self._fault
        if fault is not None:
            self.failures += 1
            self.failed.set()
            raise fault

    async def load_checkpoint(self, execution_id: str) -> Any:
        if self._reads:
            self._maybe_fail()
        return await super().load_checkpoint(execution_id)  # type: ignore[misc]

    async def load_events(self, execution_id: str, after_seq: int = 0) -> Any:
        if self._reads:
            self._maybe_fail()
        return await super().load_events(execution_id, after_seq)  # type: ignore[misc]

    def heal(self) -> None:
        self._fault = None

    def hold(self, match: Match) -> None:
        self.holding.clear()
        self._released.clear()
        self._hold = match

    def release(self) -> None:
        self._hold = None
        self._released.set()

    def reject(self, match: Match, error: BaseException) -> None:
        self._reject = (match, error)

    async def commit(self, batch: Sequence[AppendRequest]) -> list[BaseException | None]:
        self.requests.extend(batch)
        hold = self._hold
        if hold is not None and any(hold(req) for req in batch):
            self.holding.set()
            await asyncio.to_thread(self._released.wait, 30)
        self._maybe_fail()
        rejected: dict[int, BaseException] = {}
        if self._reject is not None:
            match, error = self._reject
            for index, req in enumerate(batch):
                if match(req):
                    rejected[index] = error
                    self._reject = None
                    break
        kept = [req for index, req in enumerate(batch) if index not in rejected]
        results = iter(await super().commit(kept))  # type: ignore[misc]
        return [rejected[i] if i in rejected else next(results) for i in range(len(batch))]


class FaultySQLite(Faults, SQLiteStorage):
    pass


class FaultyMemory(Faults, MemoryStorage):
    pass


def faulty(kind: str, tmp_path: Any) -> Faults:
    """A faulty storage of ``kind`` ("memory" or "sqlite")."""
    if kind == "memory":
        return FaultyMemory()
    return FaultySQLite(tmp_path / "water.db")
