"""The journal: group commit of many coordinators' appends.

Coordinators hand in append requests from their own threads; the journal, on
the reactor loop, writes everything that has accumulated in one call to the
store (one transaction), then completes each request's future. While a commit
is in flight, new requests pile up and form the next batch, so the batch size
adapts to the load by itself.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from actors.protocols import JournalStore
from actors.reactor import Reactor

log = logging.getLogger("water.journal")

CommitObserver = Callable[[int, float], None]
"""Called after each commit with (batch size, seconds)."""


class Journal:
    def __init__(
        self,
        reactor: Reactor,
        store: JournalStore,
        *,
        max_batch: int = 1024,
        on_commit: CommitObserver | None = None,
    ) -> None:
        self._reactor = reactor
        self._store = store
        self._max_batch = max_batch
        self._on_commit = on_commit
        self._pending: deque[tuple[Any, concurrent.futures.Future[None]]] = deque()
        self._lock = threading.Lock()
        self._scheduled = False
        self.commits = 0
        self.appends = 0

    def append(self, request: Any) -> concurrent.futures.Future[None]:
        """Queue a request; the future completes once it is durable (or failed)."""
        future: concurrent.futures.Future[None] = concurrent.futures.Future()
        with self._lock:
            self._pending.append((request, future))
            schedule = not self._scheduled
            self._scheduled = True
        if schedule:
            self._reactor.call_soon(self._start_flush)
        return future

    def _start_flush(self) -> None:
        self._reactor.loop.create_task(self._flush())

    async def _flush(self) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    self._scheduled = False
                    return
                count = min(len(self._pending), self._max_batch)
                batch = [self._pending.popleft() for _ in range(count)]
            started = time.perf_counter()
            try:
                results = await self._store.commit([req for req, _ in batch])
            except Exception as exc:  # noqa: BLE001 - the whole batch failed
                log.exception("journal commit of %d requests failed", len(batch))
                results = [exc] * len(batch)
            elapsed = time.perf_counter() - started
            self.commits += 1
            self.appends += len(batch)
            if self._on_commit is not None:
                self._on_commit(len(batch), elapsed)
            for (_, future), result in zip(batch, results, strict=True):
                if result is None:
                    future.set_result(None)
                else:
                    future.set_exception(result)
