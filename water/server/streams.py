"""Server-Sent Events: an execution's events, or a flow's, as they are committed.

Each event is sent as::

    id: <seq>                 (an execution's stream only: its journal position)
    event: <type>             (step_completed, ...)
    data: {"execution_id": ..., "flow_id": ..., "event": {...}}

with the event as ``GET /sessions/{id}/events`` shows it (times in ISO 8601). A
comment (``: keep-alive``) goes out after ``KEEPALIVE`` seconds without an event, so
that proxies keep the connection and a vanished client is noticed.

An execution's stream reads the journal from the client's position (``after_seq``,
or ``Last-Event-ID`` when a client reconnects) and is woken by a subscription to the
execution: what it sends comes from the journal, in order, whatever the subscription
dropped, and it ends after the execution's last event. A flow's stream relays the
subscription's events (live only, from the moment of the request); when a client
reads too slowly, events are dropped (``water.subscriptions``: a jump in ``seq``
shows it; the journal has them).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from pydantic import BaseModel, TypeAdapter

from water.engine import Engine
from water.events import Event
from water.server.models import ApiEvent
from water.subscriptions import TERMINAL_TYPES, CommittedEvent

__all__ = [
    "KEEPALIVE",
    "RELAY_LIMIT",
    "SSE_MEDIA_TYPE",
    "StreamedEvent",
    "flow_stream",
    "session_stream",
    "sse",
]

log = logging.getLogger("water.server")

KEEPALIVE = 15.0
"""Seconds without an event after which a keep-alive comment is sent."""

RELAY_LIMIT = 10_000
"""Events of a flow's stream waiting to be sent before the next ones are dropped."""

SSE_MEDIA_TYPE = "text/event-stream"


class StreamedEvent(BaseModel):
    """The ``data`` of one server-sent event."""

    execution_id: str
    flow_id: str
    event: ApiEvent


_API_EVENT: TypeAdapter[Any] = TypeAdapter(ApiEvent)


def sse(execution_id: str, flow_id: str, event: Event, *, with_id: bool) -> str:
    """One event in the text/event-stream format."""
    data = StreamedEvent(
        execution_id=execution_id,
        flow_id=flow_id,
        event=_API_EVENT.validate_python(event.model_dump()),
    ).model_dump_json()
    head = f"id: {event.seq}\n" if with_id else ""
    return f"{head}event: {event.type}\ndata: {data}\n\n"


class _Relay:
    """Hands a subscription's events from its thread to a stream on an asyncio loop.

    Keeps at most ``limit`` events (the next are counted in ``dropped``) and wakes the
    loop once per batch, not once per event.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, limit: int) -> None:
        self._loop = loop
        self._limit = limit
        self._items: collections.deque[CommittedEvent] = collections.deque()
        self._lock = threading.Lock()
        self._woken = False
        self._overflowing = False
        self._wake = asyncio.Event()
        self.dropped = 0

    def __call__(self, item: CommittedEvent) -> None:  # the subscription's thread
        with self._lock:
            if len(self._items) < self._limit:
                self._items.append(item)
            else:
                self.dropped += 1
                if self._limit and not self._overflowing:
                    self._overflowing = True
                    log.warning(
                        "a client of a flow's event stream reads too slowly: dropping events "
                        "(first dropped: execution %s, seq %d)",
                        item.execution_id,
                        item.seq,
                    )
            if self._woken:
                return
            self._woken = True
        try:
            self._loop.call_soon_threadsafe(self._wake.set)
        except RuntimeError:  # the server's loop is closed: nobody listens any more
            pass

    async def wait(self, timeout: float | None) -> list[CommittedEvent] | None:
        """The events received since the last call (maybe none), or None after ``timeout``."""
        try:
            await asyncio.wait_for(self._wake.wait(), timeout)
        except TimeoutError:
            return None
        self._wake.clear()
        with self._lock:
            self._woken = False
            self._overflowing = False
            items = list(self._items)
            self._items.clear()
        return items


class _Clock:
    """When a stream with a ``timeout`` ends, and how long to wait for the next event."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float | None) -> None:
        self._loop = loop
        self._end = None if timeout is None else loop.time() + timeout

    @property
    def over(self) -> bool:
        return self._end is not None and self._loop.time() >= self._end

    def wait(self) -> float:
        if self._end is None:
            return KEEPALIVE
        return max(0.0, min(KEEPALIVE, self._end - self._loop.time()))


async def _subscribed(engine: Engine, relay: _Relay, **filters: Any) -> Callable[[], None]:
    return await asyncio.to_thread(engine.subscribe, relay, **filters)


async def session_stream(
    engine: Engine, execution_id: str, flow_id: str, after_seq: int, timeout: float | None
) -> AsyncIterator[str]:
    """The execution's events after ``after_seq``, then each new one, up to its last."""
    loop = asyncio.get_running_loop()
    relay = _Relay(loop, limit=0)  # a wake-up only: the events are read from the journal
    unsubscribe = await _subscribed(engine, relay, execution_id=execution_id)
    clock = _Clock(loop, timeout)
    try:
        cursor = after_seq
        while True:
            events = await asyncio.to_thread(engine.events, execution_id, cursor)
            for event in events:
                yield sse(execution_id, flow_id, event, with_id=True)
                cursor = event.seq
                if event.type in TERMINAL_TYPES:
                    return
            if clock.over:
                return
            if await relay.wait(clock.wait()) is None and not clock.over:
                yield ": keep-alive\n\n"
    finally:
        unsubscribe()


async def flow_stream(engine: Engine, flow_id: str, timeout: float | None) -> AsyncIterator[str]:
    """Every execution's events of ``flow_id``, as they are committed."""
    loop = asyncio.get_running_loop()
    relay = _Relay(loop, limit=RELAY_LIMIT)
    unsubscribe = await _subscribed(engine, relay, flow_id=flow_id)
    clock = _Clock(loop, timeout)
    try:
        yield ": subscribed\n\n"  # the headers go out now: the client knows it is listening
        while not clock.over:
            items = await relay.wait(clock.wait())
            if items is None:
                if not clock.over:
                    yield ": keep-alive\n\n"
                continue
            for item in items:
                yield sse(item.execution_id, item.flow_id, item.event, with_id=False)
    finally:
        unsubscribe()
