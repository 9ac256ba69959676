"""The journal: group commit of many coordinators' appends.

Coordinators hand in append requests from their own threads; the journal, on
the reactor loop, writes everything that has accumulated in one call to the
store (one transaction), then completes each request's future. While a commit
is in flight, new requests pile up and form the next batch, so the batch size
adapts to the load by itself.

A transient storage fault (``JournalStore.is_transient``) loses nothing: the
requests it failed are held, in order, and written again after a back-off (see
``actors.outage``) before anything newer, so each stream keeps its order and its
writer never learns of the fault except by waiting. Only requests that may be
refused (the first append of an execution a caller is starting) are failed
instead, at once, while the storage is down. Any other failure is final for its
writer: the stream is poisoned and the writer must rehydrate.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from actors.outage import StorageHealth, storage_delay
from actors.protocols import JournalStore
from actors.reactor import Reactor
from supervision import WaterError

log = logging.getLogger("water.journal")

CommitObserver = Callable[[int, float], None]
"""Called after each commit with (batch size, seconds)."""


class StreamPoisoned(WaterError, RuntimeError):
    """An earlier append of this writer failed; later ones are refused."""

    def __init__(self, execution_id: str) -> None:
        super().__init__(
            f"an earlier append to execution {execution_id!r} failed; its writer must rehydrate"
        )


class JournalClosed(WaterError, RuntimeError):
    """The engine shut down while a storage fault held this write: it was never durable."""

    def __init__(self) -> None:
        super().__init__("the engine shut down before this write was durable")


@dataclass(slots=True)
class _Entry:
    request: Any
    future: concurrent.futures.Future[None] | None
    writer: tuple[str, int] | None
    then: Callable[[], None] | None
    failed: Callable[[BaseException], None] | None
    refusable: bool = False


class Journal:
    def __init__(
        self,
        reactor: Reactor,
        store: JournalStore,
        *,
        max_batch: int = 1024,
        on_commit: CommitObserver | None = None,
        on_health: Callable[[bool], None] | None = None,
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
        self.health = StorageHealth(on_health)
        self._stopping = asyncio.Event()  # set on the loop: stop retrying (shutdown)
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
        refusable: bool = False,
    ) -> concurrent.futures.Future[None] | None:
        """Queue a request; the future completes once it is durable (or failed).

        With ``wait=False`` no future is made (the callbacks report the outcome).

        ``writer`` names the stream's writer (execution id, incarnation). ``then``
        runs on the loop right after the commit (a coordinator's effects, without
        a thread hop); ``failed`` runs instead if the commit fails. After a
        failure every later request of the same writer is refused without being
        written, so a stream never gets a gap: the writer must be replaced.

        Through a transient storage fault a request is held and retried until it
        is written, unless it is ``refusable`` (new work nobody was told about
        yet): that one fails with the fault, at once while the storage is down.
        Its writer must make no other request until it is settled (a caller's
        start waits for its commit), so refusing it leaves no gap to guard.
        """
        future: concurrent.futures.Future[None] | None = (
            concurrent.futures.Future() if wait else None
        )
        entry = _Entry(request, future, writer, then, failed, refusable)
        fault = self.health.fault
        with self._lock:
            if refusable and fault is not None:
                schedule = False
            else:
                fault = None
                self._pending.append(entry)
                schedule = not self._scheduled
                self._scheduled = True
        if fault is not None:
            self._reactor.call_soon(self._settle, entry, copy.copy(fault))
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

    def stop_retrying(self) -> None:
        """At shutdown: fail what a storage fault holds instead of retrying it.

        Such writes were never acknowledged; the next start resumes from what is
        durable. Writes that the storage takes are still written.
        """
        self._reactor.call_soon(self._stopping.set)

    async def drain(self) -> None:
        """Wait until every queued request has been written (for a clean shutdown).

        Returns early while the storage is down: what is held then was never
        acknowledged, and the next start resumes from what is durable.
        """
        while True:
            with self._lock:
                idle = not self._pending and not self._scheduled and not self._flushing
            if idle or self.health.fault is not None:
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
            attempt = 0
            while batch:
                batch, fault = await self._write(batch)
                if fault is None:
                    continue
                # a transient fault: hold, back off, write again (in order)
                attempt += 1
                self.health.failed(fault, transient=True)
                self._refuse_pending(fault)
                if not await self._back_off(attempt, fault):
                    for entry in batch:
                        self._poison(entry)
                        self._settle(entry, JournalClosed())
                    batch = []

    async def _back_off(self, attempt: int, fault: BaseException) -> bool:
        """Wait before the next attempt; False if the journal stops retrying."""
        if self._stopping.is_set():
            return False
        try:
            await asyncio.wait_for(self._stopping.wait(), storage_delay(attempt, fault))
        except TimeoutError:
            return True
        return False

    async def _write(self, batch: list[_Entry]) -> tuple[list[_Entry], BaseException | None]:
        """Commit a batch; settle what is done, return what a transient fault holds.

        A held request's stream stalls: its later requests in the batch are held
        too (whatever the store said of them), so they are written in order.
        """
        started = time.perf_counter()
        whole: BaseException | None = None  # the store failed the batch as a whole
        try:
            results = await self._store.commit([e.request for e in batch])
        except Exception as exc:
            if not self._store.is_transient(exc):
                log.exception("journal commit of %d requests failed", len(batch))
                whole = exc
            results = [exc] * len(batch)
        elapsed = time.perf_counter() - started
        self.commits += 1
        self.appends += len(batch)
        if self._on_commit is not None:
            self._on_commit(len(batch), elapsed)
        held: list[_Entry] = []
        stalled: set[tuple[str, int] | None] = set()
        fault: BaseException | None = None
        for entry, result in zip(batch, results, strict=True):
            if result is not None and (entry.writer in stalled or self._store.is_transient(result)):
                if entry.refusable:
                    self._settle(entry, copy.copy(result))
                    continue
                held.append(entry)
                if entry.writer is not None:
                    stalled.add(entry.writer)
                fault = fault or result
                continue
            if result is not None:
                self._poison(entry)
            self._settle(entry, result)
        if whole is not None:
            self.health.failed(whole, transient=False)
        elif fault is None:
            self.health.succeeded()
        return held, fault

    def _poison(self, entry: _Entry) -> None:
        if entry.writer is not None:
            self._poisoned.add(entry.writer)

    def _refuse_pending(self, fault: BaseException) -> None:
        """While the storage is down, fail the queued requests that may be refused."""
        with self._lock:
            refused = [e for e in self._pending if e.refusable]
            if not refused:
                return
            self._pending = deque(e for e in self._pending if not e.refusable)
        for entry in refused:
            self._settle(entry, copy.copy(fault))

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
