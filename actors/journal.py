"""The journal: group commit of many coordinators' appends.

Coordinators hand in append requests from their own threads; the journal, on
the reactor loop, writes everything that has accumulated in one call to the
store (one transaction), then completes each request's future. While a commit
is in flight, new requests pile up and form the next batch, so the batch size
adapts to the load by itself.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from actors.protocols import JournalStore
from actors.reactor import Reactor

log = logging.getLogger("water.journal")

CommitObserver = Callable[[int, float], None]
"""Called after each commit with (batch size, seconds)."""


class StreamPoisoned(RuntimeError):
    """An earlier append of this writer failed; later ones are refused."""

    def __init__(self, execution_id: str) -> None:
        super().__init__(
            f"an earlier append to execution {execution_id!r} failed; its writer must rehydrate"
        )


@dataclass(slots=True)
class _Entry:
    request: Any
    future: concurrent.futures.Future[None] | None
    writer: tuple[str, int] | None
    then: Callable[[], None] | None
    failed: Callable[[BaseException], None] | None


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
        self._pending: deque[_Entry] = deque()
        self._poisoned: set[tuple[str, int]] = set()
        self._lock = threading.Lock()
        self._scheduled = False
        self._wakeup: asyncio.Event | None = None
        self._flushing = False
        self._flusher: asyncio.Task[None] | None = None
        self.commits = 0
        self.appends = 0

    def append(
        self,
        request: Any,
        *,
        writer: tuple[str, int] | None = None,
        then: Callable[[], None] | None = None,
        failed: Callable[[BaseException], None] | None = None,
        wait: bool = True,
    ) -> concurrent.futures.Future[None] | None:
        """Queue a request; the future completes once it is durable (or failed).

        With ``wait=False`` no future is made (the callbacks report the outcome).

        ``writer`` names the stream's writer (execution id, incarnation). ``then``
        runs on the loop right after the commit (a coordinator's effects, without
        a thread hop); ``failed`` runs instead if the commit fails. After a
        failure every later request of the same writer is refused without being
        written, so a stream never gets a gap: the writer must be replaced.
        """
        future: concurrent.futures.Future[None] | None = (
            concurrent.futures.Future() if wait else None
        )
        with self._lock:
            self._pending.append(_Entry(request, future, writer, then, failed))
            schedule = not self._scheduled
            self._scheduled = True
        if schedule:
            if self._reactor.in_loop_thread():
                self._start_flush()
            else:
                self._reactor.call_soon(self._start_flush)
        return future

    def _start_flush(self) -> None:
        if self._wakeup is None:
            self._wakeup = asyncio.Event()
            self._flusher = self._reactor.loop.create_task(self._run())
        self._wakeup.set()

    async def drain(self) -> None:
        """Wait until every queued request has been written (for a clean shutdown)."""
        while True:
            with self._lock:
                idle = not self._pending and not self._scheduled and not self._flushing
            if idle:
                return
            await asyncio.sleep(0.001)

    async def _run(self) -> None:
        """The flusher: one long-lived task, woken when requests arrive."""
        assert self._wakeup is not None
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            self._flushing = True
            try:
                await self._flush()
            finally:
                self._flushing = False

    async def _flush(self) -> None:
        while True:
            with self._lock:
                if not self._pending:
                    self._scheduled = False
                    return
                count = min(len(self._pending), self._max_batch)
                taken = [self._pending.popleft() for _ in range(count)]
            batch = []
            for entry in taken:
                if entry.writer is not None and entry.writer in self._poisoned:
                    self._settle(entry, StreamPoisoned(entry.writer[0]))
                else:
                    batch.append(entry)
            if not batch:
                continue
            started = time.perf_counter()
            try:
                results = await self._store.commit([e.request for e in batch])
            except Exception as exc:
                log.exception("journal commit of %d requests failed", len(batch))
                results = [exc] * len(batch)
            elapsed = time.perf_counter() - started
            self.commits += 1
            self.appends += len(batch)
            if self._on_commit is not None:
                self._on_commit(len(batch), elapsed)
            for entry, result in zip(batch, results, strict=True):
                if result is not None and entry.writer is not None:
                    self._poisoned.add(entry.writer)
                self._settle(entry, result)

    def _settle(self, entry: _Entry, error: BaseException | None) -> None:
        try:
            if error is None:
                if entry.then is not None:
                    entry.then()
            elif entry.failed is not None:
                entry.failed(error)
        except Exception:
            log.exception("journal callback failed")
        if entry.future is None:
            return
        if error is None:
            entry.future.set_result(None)
        else:
            entry.future.set_exception(error)
