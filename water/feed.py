"""Subscribing, and the events that other engines on the same store commit.

An engine's own commits reach its subscribers at once (``Subscriptions`` is one of
its runtime observers). An execution may also be run by another engine on the same
database (another process, another host): its events are in the store, never
committed here. So ``StoreFeed`` reads them: for each execution followed by id (a
subscription with ``execution_id``), every ``interval`` seconds, the events after
the last one published. ``Subscriptions.publish`` drops what was already published
(by the commits here or an earlier read), so each event reaches each subscriber
once and in order, whichever source saw it first. An execution is no longer read
once its last event (``TERMINAL_TYPES``) is published.

Everything here that touches the store or ``Subscriptions.last_seq`` runs on the
engine's reactor loop.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from actors.reactor import Reactor
from water.storage import Storage
from water.subscriptions import TERMINAL_TYPES, Subscription, Subscriptions

__all__ = ["POLL_INTERVAL", "StoreFeed"]

log = logging.getLogger("water.subscriptions")

POLL_INTERVAL = 0.5
"""Seconds between two reads of the store for the executions followed by id."""


@dataclass
class _Followed:
    """An execution followed by id: its flow (once known) and its subscribers."""

    flow_id: str | None
    subscribers: set[Subscription] = field(default_factory=set)
    done: bool = False


class StoreFeed:
    """Registers subscriptions, and reads the store for the executions followed by id."""

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
        self._task: asyncio.Task[None] | None = None
        self._starting: set[asyncio.Task[None]] = set()

    # -- any thread -------------------------------------------------------------------
    def subscribe(self, subscription: Subscription) -> None:
        """Start delivering to ``subscription`` (the events committed from now on)."""
        if subscription.execution_id is None:
            self.subscriptions.add(subscription)
            return
        if self.reactor.in_loop_thread():  # cannot wait here: the cursor is read soon after
            self.subscriptions.add(subscription)
            task = self.reactor.loop.create_task(self._follow(subscription, added=True))
            self._starting.add(task)
            task.add_done_callback(self._starting.discard)
            return
        try:
            self.reactor.run(self._follow(subscription, added=False), timeout=30)
        except BaseException:
            subscription.unsubscribe()
            raise

    def unsubscribe(self, subscription: Subscription) -> None:
        """Stop delivering to ``subscription`` (called when it ends)."""
        self.subscriptions.remove(subscription)
        if subscription.execution_id is not None:
            self.reactor.call_soon(self._unfollow, subscription)

    def close(self) -> None:
        """End every subscription and stop reading the store (the engine shuts down)."""
        self.subscriptions.close()
        task = self._task
        if task is not None:
            self.reactor.call_soon(task.cancel)

    # -- on the loop --------------------------------------------------------------------
    async def _follow(self, subscription: Subscription, *, added: bool) -> None:
        """Follow the subscription's execution from its last stored event on.

        The cursor is read before the subscription is added (in the same step of the
        loop as setting it): events up to it were committed before, and every later
        one is published after it, by the commits here or by the next read.
        """
        execution_id = subscription.execution_id
        assert execution_id is not None
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

    def _unfollow(self, subscription: Subscription) -> None:
        execution_id = subscription.execution_id
        assert execution_id is not None
        followed = self._followed.get(execution_id)
        if followed is None:
            return
        followed.subscribers.discard(subscription)
        if not followed.subscribers:
            del self._followed[execution_id]
            self.subscriptions.last_seq.pop(execution_id, None)

    async def _poll(self) -> None:
        """Read the followed executions' new events while one may have more."""
        while any(not followed.done for followed in self._followed.values()):
            await asyncio.sleep(self.interval)
            for execution_id, followed in list(self._followed.items()):
                if followed.done or self._followed.get(execution_id) is not followed:
                    continue
                try:
                    await self._read(execution_id, followed)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # the store is down: the next round tries again
                    log.warning("reading the events of %s failed: %s", execution_id, exc)

    async def _read(self, execution_id: str, followed: _Followed) -> None:
        after = self.subscriptions.last_seq.get(execution_id, 0)
        events = await self.storage.load_events(execution_id, after)
        if not events or self._followed.get(execution_id) is not followed:
            return
        if followed.flow_id is None:
            first = events[0]
            if first.type == "execution_started":
                followed.flow_id = first.flow_id
            else:
                record = await self.storage.get_execution(execution_id)
                followed.flow_id = "" if record is None else record.flow_id
        self.subscriptions.publish(execution_id, followed.flow_id, events)
        if events[-1].type in TERMINAL_TYPES:
            followed.done = True  # nothing is journaled after its last event
