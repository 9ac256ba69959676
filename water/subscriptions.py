"""Live subscriptions to the events executions commit (``Engine.subscribe``).

::

    def on_event(item: CommittedEvent) -> None:
        print(item.execution_id, item.seq, item.type)

    unsubscribe = engine.subscribe(on_event, flow_id="orders", types={"step_failed"})
    ...
    unsubscribe()

Where events come from: the runtime tells its observers about each commit on the
reactor loop (``RuntimeObserver.events_committed``), and ``Subscriptions`` is one of
the engine's observers. Events of executions that another engine runs on the same
store come from a feed that reads the store (``water.feed``). Both go through
``Subscriptions.publish``, on the loop, which hands each event to the subscribers
whose filters it matches, once, in journal order per execution.

What a subscriber can rely on:

* its callback is called on a thread of its own, one event at a time, in journal
  order per execution; never on the loop, so a slow callback never slows the
  engine or other subscribers;
* an exception raised by the callback is logged (with the execution id and the
  event type) and the next event comes as usual;
* when the callback falls behind by ``max_pending`` events, the next ones are
  dropped (counted in ``Subscription.dropped``, and logged once per overflow) until
  it catches up. A drop shows as a jump in ``seq`` for an execution; the missing
  events are in the journal: ``engine.events(execution_id, after_seq)``;
* once ``unsubscribe()`` returns, the callback is not running and is never called
  again (it waits for a call in progress; a callback may unsubscribe itself).

Treat the events as read-only: they are the objects the journal keeps.
"""

from __future__ import annotations

import collections
import itertools
import logging
import threading
from collections.abc import Callable, Collection, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict

from actors.observer import RuntimeObserver
from water.events import Event

__all__ = [
    "MAX_PENDING",
    "TERMINAL_TYPES",
    "CommittedEvent",
    "Subscription",
    "Subscriptions",
]

log = logging.getLogger("water.subscriptions")

MAX_PENDING = 10_000
"""Events a subscriber may have waiting before the next ones are dropped."""

TERMINAL_TYPES = frozenset({"execution_completed", "execution_failed", "cancelled"})
"""Types of the event that ends an execution (nothing is journaled after it)."""

Callback = Callable[["CommittedEvent"], Any]


class CommittedEvent(BaseModel):
    """An event of an execution, once it is durable."""

    model_config = ConfigDict(frozen=True)

    execution_id: str
    flow_id: str
    event: Event

    @property
    def type(self) -> str:
        """The event's type (``"step_completed"``, ...)."""
        return self.event.type

    @property
    def seq(self) -> int:
        """The event's sequence number in its execution's journal (1, 2, ...)."""
        return self.event.seq


class Subscription:
    """One subscriber: its filters, its queue and the thread that calls it.

    Calling it (or ``unsubscribe()``) ends it. ``dropped`` counts the events left
    out because it fell behind.
    """

    _ids = itertools.count(1)

    def __init__(
        self,
        callback: Callback,
        *,
        flow_id: str | None = None,
        execution_id: str | None = None,
        types: Collection[str] | None = None,
        max_pending: int = MAX_PENDING,
        on_close: Callable[[Subscription], None] | None = None,
    ) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending must be >= 1, got {max_pending}")
        if isinstance(types, str):
            types = (types,)
        self.callback = callback
        self.flow_id = flow_id
        self.execution_id = execution_id
        self.types = None if types is None else frozenset(types)
        self.max_pending = max_pending
        self.dropped = 0
        self.name = f"water-subscriber-{next(self._ids)}"
        self._on_close = on_close
        self._queue: collections.deque[CommittedEvent] = collections.deque()
        self._ready = threading.Condition(threading.Lock())
        self._calling = threading.RLock()  # held while the callback runs
        self._closed = False
        self._overflowing = False
        self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
        self._thread.start()

    def __repr__(self) -> str:
        return (
            f"Subscription({self.name}, flow_id={self.flow_id!r}, "
            f"execution_id={self.execution_id!r}, types={self.types and sorted(self.types)})"
        )

    @property
    def active(self) -> bool:
        return not self._closed

    def matches(self, execution_id: str, flow_id: str) -> bool:
        """Whether events of this execution are for this subscriber (types aside)."""
        return (self.execution_id is None or self.execution_id == execution_id) and (
            self.flow_id is None or self.flow_id == flow_id
        )

    def offer(self, item: CommittedEvent) -> None:
        """Queue an event for the callback (never blocks; drops when too far behind)."""
        if self.types is not None and item.event.type not in self.types:
            return
        with self._ready:
            if self._closed:
                return
            if len(self._queue) >= self.max_pending:
                self.dropped += 1
                if not self._overflowing:
                    self._overflowing = True
                    log.warning(
                        "%s is %d events behind: dropping events until it catches up "
                        "(first dropped: execution %s, seq %d)",
                        self.name,
                        len(self._queue),
                        item.execution_id,
                        item.seq,
                    )
                return
            self._queue.append(item)
            self._ready.notify()

    def unsubscribe(self) -> None:
        """Stop: once this returns, the callback is not running and is not called again."""
        self.close(wait=True)

    __call__ = unsubscribe

    def close(self, *, wait: bool) -> None:
        """Stop calling the callback; with ``wait``, wait for a call in progress to return
        (reentrant: a callback may unsubscribe itself)."""
        with self._ready:
            if self._closed:
                return
            self._closed = True
            self._queue.clear()
            self._ready.notify()
        if wait:
            with self._calling:
                pass
        if self._on_close is not None:
            self._on_close(self)

    def _next(self) -> CommittedEvent | None:
        with self._ready:
            while not self._queue and not self._closed:
                self._ready.wait()
            if self._closed:
                return None
            if self._overflowing and len(self._queue) < self.max_pending // 2:
                self._overflowing = False
                log.warning("%s caught up; %d events dropped so far", self.name, self.dropped)
            return self._queue.popleft()

    def _run(self) -> None:
        while True:
            item = self._next()
            if item is None:
                return
            with self._calling:
                if self._closed:
                    return
                try:
                    self.callback(item)
                except Exception:
                    log.exception(
                        "%s failed on event %d (%s) of execution %s",
                        self.name,
                        item.seq,
                        item.type,
                        item.execution_id,
                    )


class Subscriptions(RuntimeObserver):
    """The subscribers of one engine, fed by its commits (and by ``water.feed``).

    ``publish`` runs on the engine's reactor loop only, so it needs no lock; the
    set of subscribers is a tuple replaced (under a lock) when it changes.
    """

    def __init__(self) -> None:
        self._subscribers: tuple[Subscription, ...] = ()
        self._lock = threading.Lock()
        self._closed = False
        # what ``water.feed`` reads the store for, and what it needs to drop duplicates:
        self.watched: set[str | None] = set()
        """Flows whose executions' events are also read from the store (None: all)."""
        self.last_seq: dict[str, int] = {}
        """The last ``seq`` published of each execution that the store is read for."""
        self.seen_at: dict[str, float] = {}
        """The time of that event."""

    @property
    def subscribers(self) -> tuple[Subscription, ...]:
        return self._subscribers

    def add(self, subscription: Subscription) -> None:
        with self._lock:
            if self._closed:
                subscription.unsubscribe()
                raise RuntimeError("the engine is shut down")
            self._subscribers = (*self._subscribers, subscription)

    def remove(self, subscription: Subscription) -> None:
        with self._lock:
            self._subscribers = tuple(s for s in self._subscribers if s is not subscription)

    def close(self) -> None:
        """End every subscription (the engine shuts down; a callback still running
        finishes on its own thread, and is not waited for)."""
        with self._lock:
            self._closed = True
            subscribers, self._subscribers = self._subscribers, ()
        for subscription in subscribers:
            subscription.close(wait=False)

    # -- on the loop ----------------------------------------------------------------
    def events_committed(self, state: Any, events: Sequence[Any]) -> None:
        if self._subscribers:
            self.publish(state.execution_id, state.flow_id, events)

    def publish(self, execution_id: str, flow_id: str, events: Sequence[Event]) -> None:
        """Hand an execution's next events to the subscribers that want them, once each."""
        last = self.last_seq.get(execution_id)
        if last is not None:
            events = [e for e in events if e.seq > last]
            if not events:
                return
        watched = self.watched
        if last is not None or (watched and (None in watched or flow_id in watched)):
            self.last_seq[execution_id] = events[-1].seq
            self.seen_at[execution_id] = events[-1].ts
        chosen = [s for s in self._subscribers if s.matches(execution_id, flow_id)]
        if not chosen:
            return
        for event in events:
            item = CommittedEvent.model_construct(
                execution_id=execution_id, flow_id=flow_id, event=event
            )
            for subscription in chosen:
                subscription.offer(item)
