"""``LoopActor``: a pykka actor whose mailbox is drained on a shared asyncio loop.

pykka's ``Actor`` is written for more than one way of running actors
(``ThreadingActor`` is the one pykka ships): an implementation supplies the
inbox, the futures and the loop that drains the inbox. ``LoopActor`` supplies
an inbox drained by callbacks on the engine's reactor loop, so an actor costs
no thread of its own: starting one is a registry entry and a deque, and a
message between two loop actors is a deque append, not a thread switch.
Everything else is pykka's: ``ActorRef``, ``tell``/``ask``, proxies, the
registry, ``ThreadingFuture`` answers (so other threads can ``ask``).

Handlers run on the loop thread, one message at a time per actor, in order.
A handler (or ``on_start``) may return an awaitable: the actor then handles
nothing else until it completes, and its value is the answer to an ``ask``.
Handlers must never block: a blocking call would stall every actor on the loop.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import sys
import threading
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

import pykka
from pykka._envelope import Envelope

log = logging.getLogger("water.actors")


class LoopInbox:
    """A thread-safe mailbox that asks its actor to drain it when mail arrives."""

    __slots__ = ("_armed", "_lock", "_queue", "_wake")

    def __init__(self) -> None:
        self._queue: deque[Envelope[Any]] = deque()
        self._lock = threading.Lock()
        self._armed = False
        self._wake: Callable[[], None] | None = None

    def bind(self, wake: Callable[[], None], *, armed: bool = False) -> None:
        """Call ``wake`` when mail arrives; ``armed``: a drain is due anyway (no wake
        until the inbox has been found empty once)."""
        with self._lock:
            self._wake = wake
            if armed:
                self._armed = True
                return
            kick = bool(self._queue) and not self._armed
            if kick:
                self._armed = True
        if kick:
            wake()

    def put(self, envelope: Envelope[Any], /) -> None:
        with self._lock:
            self._queue.append(envelope)
            kick = not self._armed and self._wake is not None
            if kick:
                self._armed = True
        if kick:
            assert self._wake is not None
            self._wake()

    def take(self) -> Envelope[Any] | None:
        """The next envelope, or None (and the inbox disarms) when it is empty."""
        with self._lock:
            if self._queue:
                return self._queue.popleft()
            self._armed = False
            return None

    def refuse(self, answer_for: Callable[[Any], Any]) -> None:
        """Answer now, and take out, the queued asks ``answer_for`` has an answer for.

        ``answer_for(message)`` returns the answer, or None to leave the ask queued;
        tells always stay, in order.
        """
        answered = []
        with self._lock:
            kept: deque[Envelope[Any]] = deque()
            for envelope in self._queue:
                answer = None if envelope.reply_to is None else answer_for(envelope.message)
                if answer is None:
                    kept.append(envelope)
                else:
                    answered.append((envelope, answer))
            self._queue = kept
        for envelope, answer in answered:
            assert envelope.reply_to is not None
            envelope.reply_to.set(answer)

    def get(self) -> Envelope[Any]:
        return self._queue.popleft()

    def empty(self) -> bool:
        return not self._queue

    def qsize(self) -> int:
        return len(self._queue)


class LoopFuture(pykka.ThreadingFuture[Any]):
    """A pykka future that also calls back when it is set, so that an event loop
    can await an answer without a thread blocked on it (``Router.ask_async``)."""

    def __init__(self) -> None:
        super().__init__()
        self._done = False
        self._callbacks: list[Callable[[], None]] = []

    def set(self, value: Any | None = None) -> None:
        super().set(value)
        self._fire()

    def set_exception(self, exc_info: Any = None) -> None:
        super().set_exception(sys.exc_info() if exc_info is None else exc_info)
        self._fire()

    def add_done_callback(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once the future is set (now, if it is already)."""
        with self._condition:
            if not self._done:
                self._callbacks.append(callback)
                return
        callback()

    def _fire(self) -> None:
        with self._condition:
            self._done = True
            callbacks, self._callbacks = self._callbacks, []
        for callback in callbacks:
            try:
                callback()
            except Exception:
                log.exception("a callback of an answer failed")


class LoopActor(pykka.Actor):
    """An actor drained on ``self.loop`` (set it before ``start`` returns)."""

    loop: asyncio.AbstractEventLoop
    loop_thread: threading.Thread

    @staticmethod
    def _create_actor_inbox() -> LoopInbox:
        return LoopInbox()

    @staticmethod
    def _create_future() -> pykka.ThreadingFuture[Any]:
        return LoopFuture()

    def _start_actor_loop(self) -> None:
        self._busy = True  # until on_start is done
        # the boot drains the inbox when it is done: mail that comes before needs no
        # wake of its own (one loop wake-up for an actor started with a message)
        inbox: LoopInbox = self.actor_inbox  # type: ignore[assignment]
        inbox.bind(lambda: self._schedule(self._drain), armed=True)
        self._schedule(self._boot)

    def _schedule(self, fn: Callable[[], None]) -> None:
        if threading.current_thread() is self.loop_thread:
            self.loop.call_soon(fn)
        else:
            try:
                self.loop.call_soon_threadsafe(fn)
            except RuntimeError:  # the loop is closed: the engine is shutting down
                self.actor_stopped.set()

    # -- the loop side -----------------------------------------------------------------
    def _boot(self) -> None:
        try:
            started: Any = self.on_start()  # type: ignore[func-returns-value]
        except Exception:
            self._handle_failure(*sys.exc_info())
            self._teardown()
            return
        if inspect.isawaitable(started):
            self.loop.create_task(self._finish_boot(started))
            return
        self._busy = False
        self._drain()

    async def _finish_boot(self, started: Awaitable[Any]) -> None:
        try:
            await started
        except Exception:
            self._handle_failure(*sys.exc_info())
            self._teardown()
            return
        self._busy = False
        self._drain()

    def _drain(self) -> None:
        inbox: LoopInbox = self.actor_inbox  # type: ignore[assignment]
        while not self._busy:
            if self.actor_stopped.is_set():
                self._teardown()
                return
            envelope = inbox.take()
            if envelope is None:
                return
            try:
                response = self._handle_receive(envelope.message)
            except Exception:
                self._failed(envelope)
                continue
            except BaseException:
                log.exception("%s stopped by a BaseException", self)
                self._stop()
                continue
            if inspect.isawaitable(response):
                self._busy = True
                self.loop.create_task(self._finish(envelope, response))
                return
            if envelope.reply_to is not None:
                envelope.reply_to.set(response)
        if self.actor_stopped.is_set():
            self._teardown()

    async def _finish(self, envelope: Envelope[Any], pending: Awaitable[Any]) -> None:
        try:
            response = await pending
        except Exception:
            self._failed(envelope)
        except BaseException:
            log.exception("%s stopped by a BaseException", self)
            self._stop()
        else:
            if envelope.reply_to is not None:
                envelope.reply_to.set(response)
        self._busy = False
        self._drain()

    def _failed(self, envelope: Envelope[Any]) -> None:
        """As pykka: an ask gets the exception; a tell's exception stops the actor."""
        if envelope.reply_to is not None:
            envelope.reply_to.set_exception()
            return
        self._handle_failure(*sys.exc_info())
        try:
            self.on_failure(*sys.exc_info())
        except Exception:
            self._handle_failure(*sys.exc_info())

    def _teardown(self) -> None:
        """Answer the asks still queued after a stop, as pykka does."""
        inbox: LoopInbox = self.actor_inbox  # type: ignore[assignment]
        while (envelope := inbox.take()) is not None:
            if envelope.reply_to is None:
                continue
            if isinstance(envelope.message, pykka.messages._ActorStop):
                envelope.reply_to.set(None)
            else:
                error = pykka.ActorDeadError(
                    f"{self.actor_ref} stopped before handling the message"
                )
                envelope.reply_to.set_exception(exc_info=(pykka.ActorDeadError, error, None))
