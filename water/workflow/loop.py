"""``WorkflowLoop``: an asyncio event loop stepped by hand, driven by the journal.

Workflow code runs on it, never on the engine's real loop: ``asyncio.gather``,
``asyncio.wait``, ``create_task``, futures and ``asyncio.Event`` work as usual,
but nothing happens by itself. The interpreter resolves futures when events are
folded, then calls ``run_ready()``, which runs every ready callback (in FIFO
order, so interleavings are the same on every replay) until none is left.

Its clock is the journal's: ``time()`` is the timestamp of the event being
folded. Anything that needs real time or I/O (``call_later``, executors,
sockets, subprocesses, ``asyncio.sleep`` with a delay) raises
``NotDurableError`` saying what to use instead.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import logging
from collections.abc import Callable, Coroutine, Generator
from typing import Any, NoReturn, TypeVar

from water.workflow.errors import NotDurableError

log = logging.getLogger("water.workflow")
T = TypeVar("T")

_TIME_HINT = (
    "time inside a workflow is journaled, so asyncio.sleep() with a delay and asyncio "
    "timeouts do not work there: use `await water.sleep(...)` or a signal's timeout"
)
_IO_HINT = "workflow code is replayed, so it must not do I/O: do it in a @task"


def _refuse(name: str, hint: str) -> Callable[..., NoReturn]:
    def refused(self: WorkflowLoop, *args: Any, **kwargs: Any) -> NoReturn:
        raise NotDurableError(f"loop.{name}() is not available inside a workflow: {hint}")

    refused.__name__ = name
    return refused


class WorkflowLoop(asyncio.AbstractEventLoop):
    """A deterministic loop: callbacks run only inside ``run_ready()``."""

    def __init__(self) -> None:
        self._ready: collections.deque[asyncio.Handle] = collections.deque()
        self._now = 0.0
        self._stepping = False
        self._closed = False
        self._handler: Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object] | None = None
        self.tasks: list[asyncio.Task[Any]] = []
        self._prune_at = 64

    # -- stepping ----------------------------------------------------------------
    def set_time(self, now: float) -> None:
        self._now = now

    def run_ready(self) -> None:
        """Run ready callbacks until none is left, as the thread's running loop.

        It runs inside a coordinator's handler on the engine's reactor thread, which
        has its own running loop: that one is put back before returning.
        """
        if self._stepping:
            raise RuntimeError("WorkflowLoop.run_ready() is not reentrant")
        previous = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(self)
        self._stepping = True
        try:
            ready = self._ready
            while ready:
                handle = ready.popleft()
                if not handle._cancelled:
                    handle._run()
        finally:
            self._stepping = False
            asyncio.events._set_running_loop(previous)

    def close_all(self, context: contextvars.Context) -> None:
        """Close every unfinished coroutine of this loop, inside ``context``.

        ``finally`` blocks of workflow code run now, in the workflow's context (where
        durable calls are refused), instead of whenever the garbage collector gets to
        them, in whatever context is current then.
        """
        self._ready.clear()
        previous = asyncio.events._get_running_loop()
        asyncio.events._set_running_loop(self)
        self._stepping = True
        try:
            for task in self.tasks:
                if task.done():
                    continue
                task._log_destroy_pending = False  # type: ignore[attr-defined]
                coro = task.get_coro()
                if isinstance(coro, Coroutine):
                    try:
                        context.run(coro.close)
                    except BaseException as exc:  # a finally block that insists on awaiting
                        log.debug("closing workflow code raised %s", type(exc).__name__)
        finally:
            self._stepping = False
            asyncio.events._set_running_loop(previous)
        self._ready.clear()
        self.tasks.clear()
        self._closed = True

    # -- what asyncio needs ------------------------------------------------------
    def time(self) -> float:
        return self._now

    def call_soon(  # type: ignore[override]
        self,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.Handle:
        handle = asyncio.Handle(callback, args, self, context)
        self._ready.append(handle)
        return handle

    def create_future(self) -> asyncio.Future[Any]:
        return asyncio.Future(loop=self)

    def create_task(
        self,
        coro: Coroutine[Any, Any, T] | Generator[Any, None, T],
        *,
        name: str | None = None,
        context: contextvars.Context | None = None,
    ) -> asyncio.Task[T]:
        if self._closed:
            coro.close()
            raise NotDurableError("this workflow's code was stopped; it starts no more tasks")
        task: asyncio.Task[T] = asyncio.Task(coro, loop=self, name=name, context=context)
        if len(self.tasks) >= self._prune_at:
            # finished tasks are dropped once the list doubles: linear in the tasks made,
            # however many stay unfinished (a gather over thousands of items)
            self.tasks = [t for t in self.tasks if not t.done()]
            self._prune_at = max(64, 2 * len(self.tasks))
        self.tasks.append(task)
        return task

    def get_debug(self) -> bool:
        return False

    def is_running(self) -> bool:
        return self._stepping

    def is_closed(self) -> bool:
        return self._closed

    def close(self) -> None:
        self._closed = True

    def call_exception_handler(self, context: dict[str, Any]) -> None:
        if self._handler is not None:
            self._handler(self, context)
            return
        self.default_exception_handler(context)

    def default_exception_handler(self, context: dict[str, Any]) -> None:
        exc = context.get("exception")  # its text may quote data: only its type is logged
        log.debug("workflow loop: %s (%s)", context.get("message"), type(exc).__name__)

    def get_exception_handler(
        self,
    ) -> Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object] | None:
        return self._handler

    def set_exception_handler(
        self, handler: Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object] | None
    ) -> None:
        self._handler = handler

    # -- what a workflow must not do ---------------------------------------------
    call_later = _refuse("call_later", _TIME_HINT)  # type: ignore[assignment]
    call_at = _refuse("call_at", _TIME_HINT)  # type: ignore[assignment]
    call_soon_threadsafe = _refuse("call_soon_threadsafe", _IO_HINT)  # type: ignore[assignment]
    run_in_executor = _refuse("run_in_executor", _IO_HINT)  # type: ignore[assignment]
    run_forever = _refuse("run_forever", "the engine steps workflow code")
    run_until_complete = _refuse("run_until_complete", "the engine steps workflow code")
    getaddrinfo = _refuse("getaddrinfo", _IO_HINT)
    getnameinfo = _refuse("getnameinfo", _IO_HINT)
    create_connection = _refuse("create_connection", _IO_HINT)
    create_server = _refuse("create_server", _IO_HINT)
    create_unix_connection = _refuse("create_unix_connection", _IO_HINT)
    create_unix_server = _refuse("create_unix_server", _IO_HINT)
    create_datagram_endpoint = _refuse("create_datagram_endpoint", _IO_HINT)
    connect_read_pipe = _refuse("connect_read_pipe", _IO_HINT)
    connect_write_pipe = _refuse("connect_write_pipe", _IO_HINT)
    subprocess_exec = _refuse("subprocess_exec", _IO_HINT)
    subprocess_shell = _refuse("subprocess_shell", _IO_HINT)
    sock_recv = _refuse("sock_recv", _IO_HINT)
    sock_sendall = _refuse("sock_sendall", _IO_HINT)
    sock_connect = _refuse("sock_connect", _IO_HINT)
    sock_accept = _refuse("sock_accept", _IO_HINT)
    add_reader = _refuse("add_reader", _IO_HINT)  # type: ignore[assignment]
    add_writer = _refuse("add_writer", _IO_HINT)  # type: ignore[assignment]
    add_signal_handler = _refuse("add_signal_handler", _IO_HINT)  # type: ignore[assignment]
    sendfile = _refuse("sendfile", _IO_HINT)
    start_tls = _refuse("start_tls", _IO_HINT)
    shutdown_default_executor = _refuse("shutdown_default_executor", _IO_HINT)
