"""The asyncio reactor: one event loop on one thread, shared by the whole engine.

Async step bodies, the journal's storage calls and the timers all run here.
Other threads hand work to it with ``submit`` / ``call_soon`` and never block
the loop; code on the loop never blocks on a pykka future.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from supervision import WaterError

T = TypeVar("T")


class ReactorError(WaterError, RuntimeError):
    pass


class Reactor:
    """An event loop running on its own (daemon) thread."""

    def __init__(self, name: str = "water-reactor") -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._started = threading.Event()
        self._closed = False

    def start(self) -> Reactor:
        self._thread.start()
        self._started.wait()
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(self._started.set)
        try:
            self.loop.run_forever()
        finally:
            try:
                pending = asyncio.all_tasks(self.loop)
                for task in pending:
                    task.cancel()
                if pending:
                    self.loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                self.loop.run_until_complete(self.loop.shutdown_asyncgens())
            finally:
                self.loop.close()

    @property
    def thread(self) -> threading.Thread:
        return self._thread

    @property
    def running(self) -> bool:
        return self._thread.is_alive() and not self._closed

    def in_loop_thread(self) -> bool:
        return threading.current_thread() is self._thread

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Schedule a coroutine on the loop; the returned future is thread-safe."""
        if self._closed:
            coro.close()
            raise ReactorError("the engine is shut down")
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def run(self, coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
        """Run a coroutine on the loop and block this (non-loop) thread for its result."""
        if self.in_loop_thread():
            coro.close()
            raise ReactorError(
                "blocking call made on the engine's event loop; use the async variant"
            )
        return self.submit(coro).result(timeout)

    def call_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run ``fn(*args)`` on the loop soon (cheaply when already on the loop thread)."""
        if self._closed:
            return
        if threading.current_thread() is self._thread:
            self.loop.call_soon(fn, *args)
            return
        try:
            self.loop.call_soon_threadsafe(fn, *args)
        except RuntimeError:  # the loop closed in between
            pass

    def call_at_wall(self, when: float, fn: Callable[..., Any], *args: Any) -> asyncio.TimerHandle:
        """On the loop thread: call ``fn`` at wall-clock time ``when`` (unix seconds)."""
        delay = max(0.0, when - time.time())
        return self.loop.call_later(delay, fn, *args)

    def stop(self, timeout: float = 10.0) -> None:
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive():
            self.loop.call_soon_threadsafe(self.loop.stop)
            self._thread.join(timeout)
