"""Riding out storage outages: the back-off between attempts, and the storage's health.

A transient storage fault (a locked, full, read-only or failing disk for a few
seconds) must neither lose acknowledged work nor strand it. The journal holds
the writes that failed and tries them again; a coordinator that cannot load its
execution tries again too. Both wait by the same capped exponential back-off,
computed with tenacity (through ``RetryPolicy``) and awaited on the reactor loop:
no thread sleeps. Which errors are transient is the store's call
(``JournalStore.is_transient``); the runtime never looks inside them.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from supervision import RetryPolicy

log = logging.getLogger("water.storage")

STORAGE_RETRY = RetryPolicy(
    max_attempts=64, backoff="exponential", delay="10ms", max_delay="2s", jitter="10ms"
)
"""10 ms after the first failure, doubling up to 2 s, plus up to 10 ms of jitter."""


def storage_delay(attempt: int, error: BaseException, policy: RetryPolicy = STORAGE_RETRY) -> float:
    """Seconds to wait after failed ``attempt`` (1-based) before the next; never gives up."""
    delay = policy.next_delay(min(attempt, policy.max_attempts - 1), error)
    return policy.max_delay if delay is None else delay


class StorageHealth:
    """Whether the store takes the journal's writes; changes are logged and reported.

    ``available`` is False after a write the store failed as a whole, until it
    takes one again. ``fault`` is the transient error the journal is riding out
    (holding and retrying its writes), None otherwise. Written on the reactor
    loop only (by the journal); read from any thread.
    """

    def __init__(self, on_change: Callable[[bool], None] | None = None) -> None:
        self._on_change = on_change
        self.available = True
        self.fault: BaseException | None = None
        self._since = 0.0
        self._failures = 0

    def failed(self, error: BaseException, *, transient: bool) -> None:
        """A write failed as a whole (if ``transient``, it is held and retried).

        A transient outage is logged here; other failures by the journal, which has
        the traceback.
        """
        self._failures += 1
        riding_out = self.fault is not None
        self.fault = error if transient else None
        if transient and riding_out:
            log.debug("storage still unavailable (attempt %d): %s", self._failures, error)
            return
        if transient:
            log.error(
                "storage unavailable: %s; the journal holds its writes and retries them "
                "with back-off, and new executions are refused until it answers again",
                error,
            )
        if self.available:
            self.available = False
            self._since = time.monotonic()
            self._changed(False)

    def succeeded(self) -> None:
        """The store took a write."""
        if self.available:
            return
        seconds = time.monotonic() - self._since
        log.warning(
            "storage available again after %.1fs (%d failed attempts)", seconds, self._failures
        )
        self.available = True
        self.fault = None
        self._failures = 0
        self._changed(True)

    def _changed(self, available: bool) -> None:
        if self._on_change is None:
            return
        try:
            self._on_change(available)
        except Exception:
            log.exception("storage health observer failed")
