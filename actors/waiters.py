"""Who waits for executions: result waiters, status watchers, and recent final views.

A result waiter is a future completed with an execution's final view when it
finishes; a status watcher one completed with the status it reaches among those
it watches for. Executions that finished recently in this engine answer waiters
at once from memory. Thread-safe: callers are user threads and the reactor.
"""

from __future__ import annotations

import concurrent.futures
import threading
from collections import OrderedDict
from typing import Any

RECENT_FINISHED = 4096
"""How many final views are kept to answer late waiters without a storage read."""


class Waiters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._results: dict[str, list[concurrent.futures.Future[Any]]] = {}
        self._watchers: dict[str, list[tuple[frozenset[str], concurrent.futures.Future[str]]]] = {}
        # oldest first; an OrderedDict drops its oldest entry in O(1) (a dict's first
        # entry after many deletions at its front takes a scan over their slots)
        self._recent: OrderedDict[str, Any] = OrderedDict()

    # -- results ---------------------------------------------------------------------
    def result(self, execution_id: str) -> concurrent.futures.Future[Any]:
        """A future completed with the final view when the execution finishes."""
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._lock:
            view = self._recent.get(execution_id)
            if view is None:
                self._results.setdefault(execution_id, []).append(future)
        if view is not None:
            future.set_result(view)
        return future

    def drop(self, execution_id: str, future: concurrent.futures.Future[Any]) -> None:
        """Stop waiting with ``future`` (it timed out, or was answered another way)."""
        with self._lock:
            futures = self._results.get(execution_id)
            if futures and future in futures:
                futures.remove(future)
                if not futures:
                    del self._results[execution_id]

    def finished(self, execution_id: str, view: Any, *, remember: bool) -> None:
        """The execution finished with ``view``; ``remember`` it for late waiters."""
        with self._lock:
            if remember:
                self._recent[execution_id] = view
                if len(self._recent) > RECENT_FINISHED:
                    self._recent.popitem(last=False)
            futures = self._results.pop(execution_id, [])
        for future in futures:
            if not future.done():
                future.set_result(view)

    def fail(self, execution_id: str, error: BaseException) -> None:
        """The execution cannot be answered for: its result waiters get ``error``."""
        with self._lock:
            futures = self._results.pop(execution_id, [])
        for future in futures:
            if not future.done():
                future.set_exception(error)

    def forget(self, execution_id: str, error: BaseException | None = None) -> None:
        """Drop the final view kept of an execution; waiters get ``error`` (if given)."""
        with self._lock:
            self._recent.pop(execution_id, None)
        if error is not None:
            self.fail(execution_id, error)

    def watched(self) -> set[str]:
        """The executions someone waits for (their end, or a status)."""
        with self._lock:
            return set(self._results) | set(self._watchers)

    def watches(self, execution_id: str) -> bool:
        """Whether someone waits for this execution (its end, or a status)."""
        with self._lock:
            return execution_id in self._results or execution_id in self._watchers

    # -- statuses ----------------------------------------------------------------------
    def watch(self, execution_id: str, statuses: frozenset[str]) -> concurrent.futures.Future[str]:
        """A future completed with the status once the execution reaches one of ``statuses``."""
        future: concurrent.futures.Future[str] = concurrent.futures.Future()
        with self._lock:
            self._watchers.setdefault(execution_id, []).append((statuses, future))
        return future

    def unwatch(self, execution_id: str, future: concurrent.futures.Future[str]) -> None:
        with self._lock:
            watchers = self._watchers.get(execution_id)
            if watchers:
                watchers[:] = [w for w in watchers if w[1] is not future]
                if not watchers:
                    del self._watchers[execution_id]

    def status_changed(self, execution_id: str, status: str) -> None:
        """Called once a new status is durable.

        A finished execution whose status changes again was retried: the final view
        kept of it is stale (it is kept again when it finishes again).
        """
        if execution_id in self._recent:
            with self._lock:
                self._recent.pop(execution_id, None)
        if not self._watchers:
            return
        with self._lock:
            watchers = self._watchers.get(execution_id)
            if not watchers:
                return
            hit = [w for w in watchers if status in w[0]]
            watchers[:] = [w for w in watchers if status not in w[0]]
            if not watchers:
                del self._watchers[execution_id]
        for _, future in hit:
            if not future.done():
                future.set_result(status)

    # -- shutdown -----------------------------------------------------------------------
    def close(self, error: BaseException) -> None:
        """Every result waiter gets ``error`` (the engine shuts down)."""
        with self._lock:
            futures = [f for fs in self._results.values() for f in fs]
            self._results.clear()
        for future in futures:
            if not future.done():
                future.set_exception(error)
