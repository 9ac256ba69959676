"""Routing messages to executions: one live coordinator per execution, started on demand.

The router keeps its own ``{execution_id: coordinator}`` map (pykka's registry
scans a list) and is the only way messages reach coordinators, which is what
makes passivation safe: a coordinator may stop only while holding the routing
lock with an empty inbox, so no message is ever put into the inbox of a
coordinator that is going away. A message for an execution without a live
coordinator starts one, which rehydrates from storage before it handles the
message. A coordinator that crashes is started again, within a restart
intensity.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import Any

import pykka

from actors.logsafe import describe
from actors.messages import Failure, Query, SystemShutDown, Wake
from supervision import Clock, RestartIntensity, WaterError

log = logging.getLogger("water.runtime")

DELIVERY_ATTEMPTS = 5
"""How often a message is retried when its coordinator stops as it is sent."""

Spawn = Callable[[str, int, bool], pykka.ActorRef[Any]]
"""Starts a coordinator: (execution id, incarnation, fresh) -> its ref."""


class Unreachable(WaterError, RuntimeError):
    """An execution's coordinator kept stopping while a message was being put to it."""

    def __init__(self, execution_id: str) -> None:
        super().__init__(f"execution {execution_id!r} could not be reached")
        self.execution_id = execution_id


def _answer(execution_id: str, future: pykka.Future[Any], timeout: float | None) -> Any:
    """The answer to an ask (a ``Failure`` is raised as its error)."""
    try:
        answer = future.get(timeout=timeout)
    except pykka.Timeout:
        raise TimeoutError(f"execution {execution_id!r} did not answer within {timeout}s") from None
    if isinstance(answer, Failure):
        raise answer.error
    return answer


async def _answer_async(execution_id: str, future: pykka.Future[Any], timeout: float | None) -> Any:
    """``_answer`` awaited on the running loop: no thread waits for the answer."""
    add = getattr(future, "add_done_callback", None)
    if add is None:  # not a coordinator's future: wait in a worker thread
        return await asyncio.to_thread(_answer, execution_id, future, timeout)
    loop = asyncio.get_running_loop()
    done = loop.create_future()

    def wake() -> None:
        if not done.done():
            done.set_result(None)

    def notify() -> None:  # on the thread that answers
        try:
            loop.call_soon_threadsafe(wake)
        except RuntimeError:  # that loop is closed: nobody waits any more
            pass

    add(notify)
    try:
        await asyncio.wait_for(done, timeout)
    except TimeoutError:
        raise TimeoutError(f"execution {execution_id!r} did not answer within {timeout}s") from None
    return _answer(execution_id, future, 0)


class Router:
    def __init__(self, spawn: Spawn, clock: Clock, on_restart: Callable[[], None]) -> None:
        self._spawn = spawn
        self._clock = clock
        self._on_restart = on_restart
        self._lock = threading.RLock()
        self._coordinators: dict[str, pykka.ActorRef[Any]] = {}
        self._crashes: dict[str, RestartIntensity] = {}
        self._incarnations = 0
        self._closed = False
        self.on_loop: Callable[[], bool] = lambda: False
        self.call_soon: Callable[..., None] = lambda fn, *args: fn(*args)

    @property
    def closed(self) -> bool:
        return self._closed

    # -- the map -----------------------------------------------------------------------
    def _coordinator(self, execution_id: str, fresh: bool = False) -> pykka.ActorRef[Any]:
        """The live coordinator of an execution, started if needed.

        ``fresh``: the id was just made by this engine, so the execution cannot
        exist yet and the new coordinator skips loading it from storage.
        """
        with self._lock:
            if self._closed:
                raise SystemShutDown()
            ref = self._coordinators.get(execution_id)
            if ref is None:
                self._incarnations += 1
                ref = self._spawn(execution_id, self._incarnations, fresh)
                self._coordinators[execution_id] = ref
            return ref

    def detach(self, execution_id: str, ref: pykka.ActorRef[Any]) -> bool:
        """Route later messages to a new coordinator; True if ``ref`` was the routed one."""
        with self._lock:
            if self._coordinators.get(execution_id) is ref:
                del self._coordinators[execution_id]
                return True
            return False

    def passivate(self, execution_id: str, ref: pykka.ActorRef[Any], inbox_empty: bool) -> bool:
        """Let an idle coordinator stop if no message is waiting for it."""
        with self._lock:
            if self._coordinators.get(execution_id) is not ref:
                return True  # already detached (e.g. replaced after a crash)
            if not inbox_empty:
                return False
            del self._coordinators[execution_id]
            return True

    def finished(self, execution_id: str, ref: pykka.ActorRef[Any]) -> bool:
        """A coordinator's execution finished; True if it still spoke for the execution."""
        with self._lock:
            self._crashes.pop(execution_id, None)
            return self.detach(execution_id, ref)

    def forget(self, execution_id: str) -> None:
        """Detach and stop the execution's coordinator, if any (its rows were deleted)."""
        with self._lock:
            ref = self._coordinators.pop(execution_id, None)
            self._crashes.pop(execution_id, None)
        if ref is not None:
            try:
                ref.stop(block=False)
            except pykka.ActorDeadError:
                pass

    # -- sending -------------------------------------------------------------------------
    def _post(
        self, execution_id: str, message: Any, *, ask: bool = False, fresh: bool = False
    ) -> tuple[pykka.ActorRef[Any], pykka.Future[Any] | None]:
        """Put ``message`` into the inbox of the execution's coordinator (started if needed).

        Looking the coordinator up and putting the message in its inbox happen
        under the routing lock, which passivation also takes. A coordinator that
        stopped meanwhile is replaced and the message put again.
        """
        for _ in range(DELIVERY_ATTEMPTS):
            with self._lock:
                ref = self._coordinator(execution_id, fresh)
                try:
                    if ask:
                        return ref, ref.ask(message, block=False)
                    ref.tell(message)
                    return ref, None
                except pykka.ActorDeadError:
                    self.detach(execution_id, ref)
        raise Unreachable(execution_id)

    def tell(self, execution_id: str, message: Any) -> None:
        """Send a message to an execution (rehydrating its coordinator if needed)."""
        try:
            self._post(execution_id, message)
        except Unreachable:
            log.error("could not deliver %s to execution %s", describe(message), execution_id)

    def deliver(self, execution_id: str, message: Any) -> None:
        """Report an outcome to an execution (dropped quietly once shut down)."""
        try:
            self.tell(execution_id, message)
        except SystemShutDown:
            pass

    def wake(self, execution_id: str) -> None:
        self.tell(execution_id, Wake())

    def _not_on_loop(self) -> None:
        if self.on_loop():
            raise RuntimeError(
                "a blocking engine call was made on the engine's event loop (from an async "
                "step body?); use the engine's async API there"
            )

    def ask(
        self,
        execution_id: str,
        message: Any,
        timeout: float | None = None,
        *,
        detail: bool = True,
        fresh: bool = False,
    ) -> Any:
        """Send a message and wait for the execution's answer (its view)."""
        self._not_on_loop()
        for _ in range(DELIVERY_ATTEMPTS):
            ref, future = self._post(execution_id, Query(message, detail), ask=True, fresh=fresh)
            assert future is not None
            try:
                return _answer(execution_id, future, timeout)
            except pykka.ActorDeadError:  # it stopped before handling the message
                self.detach(execution_id, ref)
        raise Unreachable(execution_id)

    async def ask_async(
        self,
        execution_id: str,
        message: Any,
        timeout: float | None = None,
        *,
        detail: bool = True,
        fresh: bool = False,
    ) -> Any:
        """``ask`` for a coroutine: the answer is awaited, no thread blocks on it."""
        for _ in range(DELIVERY_ATTEMPTS):
            ref, future = self._post(execution_id, Query(message, detail), ask=True, fresh=fresh)
            assert future is not None
            try:
                return await _answer_async(execution_id, future, timeout)
            except pykka.ActorDeadError:  # it stopped before handling the message
                self.detach(execution_id, ref)
        raise Unreachable(execution_id)

    def ask_many(
        self, messages: list[tuple[str, Any]], timeout: float | None = None, *, fresh: bool = False
    ) -> list[Any]:
        """Send several asks at once, then collect the answers (in order).

        Sending before waiting lets their journal appends share group commits.
        """
        self._not_on_loop()
        pending = [
            (execution_id, self._post(execution_id, Query(message, False), ask=True, fresh=fresh))
            for execution_id, message in messages
        ]
        answers = []
        for execution_id, (_, future) in pending:
            assert future is not None
            try:
                answers.append(_answer(execution_id, future, timeout))
            except pykka.ActorDeadError:
                raise Unreachable(execution_id) from None
        return answers

    # -- crashes ---------------------------------------------------------------------------
    def crashed(self, execution_id: str, ref: pykka.ActorRef[Any]) -> None:
        """Rehydrate a crashed coordinator from its events, within a restart intensity."""
        self.detach(execution_id, ref)
        if self._closed:
            return
        self._on_restart()
        with self._lock:
            intensity = self._crashes.setdefault(
                execution_id, RestartIntensity(3, 10.0, self._clock)
            )
            again = intensity.record_restart()
        if again and not self._closed:
            self.call_soon(self.wake, execution_id)
        else:
            log.error("execution %s keeps crashing its coordinator; left as is", execution_id)

    # -- introspection and shutdown ----------------------------------------------------------
    def is_live(self, execution_id: str) -> bool:
        """Whether the execution has a coordinator in memory right now."""
        return execution_id in self._coordinators

    def count(self) -> int:
        return len(self._coordinators)

    def mailbox_depth(self) -> int:
        with self._lock:
            refs = list(self._coordinators.values())
        total = 0
        for ref in refs:
            qsize = getattr(ref.actor_inbox, "qsize", None)
            total += int(qsize()) if qsize is not None else 0
        return total

    def close(self) -> list[pykka.ActorRef[Any]]:
        """Take no more messages; return the live coordinators (for the caller to stop)."""
        with self._lock:
            self._closed = True
            refs = list(self._coordinators.values())
            self._coordinators.clear()
        return refs
