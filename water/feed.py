"""Subscribing, and the events that other engines on the same store commit.

An engine's own commits reach its subscribers at once (``Subscriptions`` is one of
its runtime observers). An execution may also be run by another engine on the same
database (another process, another host): its events are in the store and never
committed here, so ``StoreFeed`` reads them, every ``interval`` seconds:

* for each execution followed by id (a subscription with ``execution_id``), the
  events after the last one published (``Storage.load_events``); once its last
  event (``TERMINAL_TYPES``) is published, it is no longer read;
* for the flows followed as a whole (a subscription without ``execution_id``, with
  or without ``flow_id``), the events of the last seconds (``Storage.events_since``,
  over an index on the events' times), from ``MARGIN`` seconds before the newest
  time read: an event is found if it is committed within ``MARGIN`` seconds of its
  time (clocks of the engines included). One that is later (held through a storage
  outage) is found when a later event of its execution is, which shows the gap; the
  journal has it in any case.

``Subscriptions.publish`` drops what was already published (by the commits here or
an earlier read): it keeps the last ``seq`` of each execution read from the store,
so each event reaches each subscriber once and in order, whichever source saw it
first. Executions of a followed flow that this feed never saw publish only their
events from the time the flow was followed on.

Everything here that touches the store or ``Subscriptions``' bookkeeping runs on the
engine's reactor loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from actors.reactor import Reactor
from water.events import Event
from water.storage import Storage
from water.storage.base import FlowEvent
from water.subscriptions import TERMINAL_TYPES, Subscription, Subscriptions

__all__ = ["FORGET_AFTER", "MARGIN", "POLL_INTERVAL", "StoreFeed"]

log = logging.getLogger("water.subscriptions")

POLL_INTERVAL = 0.5
"""Seconds between two reads of the store."""

MARGIN = 2.0
"""Seconds after its time within which an event must be committed to be read by time."""

FORGET_AFTER = 600.0
"""Seconds after its last event read by time after which an execution is forgotten."""


@dataclass
class _Followed:
    """An execution followed by id: its flow (once known) and its subscribers."""

    flow_id: str | None
    subscribers: set[Subscription] = field(default_factory=set)
    done: bool = False


@dataclass
class _Watched:
    """A flow followed as a whole (None: every flow): since when, and by whom."""

    since: float
    subscribers: set[Subscription] = field(default_factory=set)


class StoreFeed:
    """Registers subscriptions, and reads the store for the events committed elsewhere."""

    def __init__(
        self,
        subscriptions: Subscriptions,
        storage: Storage,
        reactor: Reactor,
        interval: float = POLL_INTERVAL,
    ) -> None:
        self.subscriptions = subscriptions
        self.storage = storage
        self.reactor = reactor
        self.interval = interval
        self._followed: dict[str, _Followed] = {}
        self._watched: dict[str | None, _Watched] = {}
        self._newest = 0.0  # the newest event time read by time (bounded by the clock)
        self._task: asyncio.Task[None] | None = None
        self._starting: set[asyncio.Task[None]] = set()

    # -- any thread -------------------------------------------------------------------
    def subscribe(self, subscription: Subscription) -> None:
        """Start delivering to ``subscription`` (the events committed from now on)."""
        if self.reactor.in_loop_thread():  # cannot wait: registered in a moment
            self.subscriptions.add(subscription)
            task = self.reactor.loop.create_task(self._register(subscription, added=True))
            self._starting.add(task)
            task.add_done_callback(self._starting.discard)
            return
        try:
            self.reactor.run(self._register(subscription, added=False), timeout=30)
        except BaseException:
            subscription.unsubscribe()
            raise

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop delivering to ``subscription`` (called when it ends)."""
        self.subscriptions.remove(subscription)
        self.reactor.call_soon(self._unregister, subscription)

    def close(self) -> None:
        """End every subscription and stop reading the store (the engine shuts down)."""
        self.subscriptions.close()
        task = self._task
        if task is not None:
            self.reactor.call_soon(task.cancel)

    # -- on the loop --------------------------------------------------------------------
    async def _register(self, subscription: Subscription, *, added: bool) -> None:
        """Start reading the store for the subscription, then add it.

        An execution's cursor is read before the subscription is added (in the same
        step of the loop as setting it): events up to it were committed before, and
        every later one is published after it, by the commits here or by a read.
        """
        execution_id = subscription.execution_id
        if execution_id is None:
            self._watch(subscription)
        else:
            followed = self._followed.get(execution_id)
            if followed is None:
                record = await self.storage.get_execution(execution_id)
                seq = await self.storage.last_seq(execution_id)
                followed = self._followed.get(execution_id)  # another subscriber meanwhile
                if followed is None:
                    followed = _Followed(None if record is None else record.flow_id)
                    self._followed[execution_id] = followed
                    self.subscriptions.last_seq.setdefault(execution_id, seq)
            followed.subscribers.add(subscription)
        if not added:
            self.subscriptions.add(subscription)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._poll())

    def _watch(self, subscription: Subscription) -> None:
        key = subscription.flow_id
        watched = self._watched.get(key)
        if watched is None:
            now = time.time()
            if not self._watched:
                self._newest = now
            watched = self._watched[key] = _Watched(since=now)
            self.subscriptions.watched.add(key)
        watched.subscribers.add(subscription)

    def _unregister(self, subscription: Subscription) -> None:
        execution_id = subscription.execution_id
        if execution_id is None:
            watched = self._watched.get(subscription.flow_id)
            if watched is not None:
                watched.subscribers.discard(subscription)
                if not watched.subscribers:
                    del self._watched[subscription.flow_id]
                    self.subscriptions.watched.discard(subscription.flow_id)
                    if not self._watched:
                        self._forget(self.subscriptions.seen_at)
            return
        followed = self._followed.get(execution_id)
        if followed is None:
            return
        followed.subscribers.discard(subscription)
        if not followed.subscribers:
            del self._followed[execution_id]
            if not self._watched:
                self._forget([execution_id])

    def _forget(self, execution_ids: Iterable[str]) -> None:
        """Stop dropping duplicates of these executions (unless followed by id)."""
        for execution_id in list(execution_ids):
            if execution_id not in self._followed:
                self.subscriptions.last_seq.pop(execution_id, None)
                self.subscriptions.seen_at.pop(execution_id, None)

    async def _poll(self) -> None:
        """Read the store while something is followed that may have more events."""
        while self._watched or any(not f.done for f in self._followed.values()):
            await asyncio.sleep(self.interval)
            try:
                await self._read_executions()
                if self._watched:
                    await self._read_flows()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store is down: the next round tries again
                log.warning("reading the store for subscribers failed: %s", exc)

    async def _read_executions(self) -> None:
        for execution_id, followed in list(self._followed.items()):
            if followed.done or self._followed.get(execution_id) is not followed:
                continue
            after = self.subscriptions.last_seq.get(execution_id, 0)
            events = await self.storage.load_events(execution_id, after)
            if not events or self._followed.get(execution_id) is not followed:
                continue
            if followed.flow_id is None:
                followed.flow_id = await self._flow_of(execution_id, events[0])
            self.subscriptions.publish(execution_id, followed.flow_id, events)
            if events[-1].type in TERMINAL_TYPES:
                followed.done = True  # nothing is journaled after its last event

    async def _flow_of(self, execution_id: str, first: Event) -> str:
        if first.type == "execution_started":
            return first.flow_id
        record = await self.storage.get_execution(execution_id)
        return "" if record is None else record.flow_id

    async def _read_flows(self) -> None:
        """Read the followed flows' events of the last seconds; publish the new ones."""
        now = time.time()
        start = min(self._newest, now) - MARGIN
        keys = list(self._watched)
        rows: list[FlowEvent] = []
        for key in [None] if None in keys else keys:
            rows.extend(await self.storage.events_since(start, key))
        by_execution: dict[str, tuple[str, list[Event]]] = {}
        for execution_id, flow_id, event in rows:
            by_execution.setdefault(execution_id, (flow_id, []))[1].append(event)
            self._newest = max(self._newest, min(event.ts, now))
        last_seq = self.subscriptions.last_seq
        for execution_id, (flow_id, events) in by_execution.items():
            events.sort(key=lambda e: e.seq)
            last = last_seq.get(execution_id)
            if last is None:  # not seen yet: from the time its flow was followed on
                since = self._since(flow_id)
                events = [e for e in events if since is not None and e.ts >= since]
            else:
                events = [e for e in events if e.seq > last]
                if events and events[0].seq > last + 1:
                    # those between were committed too late to be read by time
                    events = await self.storage.load_events(execution_id, last)
            if events:
                self.subscriptions.publish(execution_id, flow_id, events)
        seen_at = self.subscriptions.seen_at
        self._forget([e for e, at in seen_at.items() if at < start - FORGET_AFTER])

    def _since(self, flow_id: str) -> float | None:
        """Since when the events of ``flow_id`` are followed (None: they are not)."""
        times = [w.since for key, w in self._watched.items() if key is None or key == flow_id]
        return min(times) if times else None
