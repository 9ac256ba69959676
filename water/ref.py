"""``ExecutionRef``: a handle on one execution, valid whether or not it is in memory."""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import TYPE_CHECKING, Any, Generic, cast

from typing_extensions import TypeVar

from actors.messages import CommandRejected, ExecutionNotFound, Retry
from water.errors import (
    ExecutionCancelledError,
    ExecutionFailedError,
    ExecutionNotFoundError,
    StateConflictError,
    StepError,
)
from water.ids import can_exist
from water.snapshot import Snapshot
from water.status import ExecutionStatus

if TYPE_CHECKING:
    from water.engine import Engine

DEFAULT_ASK_TIMEOUT = 30.0

Out = TypeVar("Out", default=Any)


def translate(exc: BaseException) -> BaseException:
    """Runtime rejections as the engine's public errors."""
    if isinstance(exc, ExecutionNotFound):
        return ExecutionNotFoundError(exc.execution_id)
    if isinstance(exc, CommandRejected):
        return StateConflictError(str(exc), exc.code)
    return exc


class ExecutionRef(Generic[Out]):
    """Steer and observe one execution by message.

    ``ask(message)`` waits for the answer (a ``Snapshot``); ``tell(message)`` does
    not. Messages: ``Pause()``, ``Resume(data=None, step=None)``,
    ``Cancel(reason=None)``, ``Signal(name, payload=None)``, ``GetStatus()``,
    ``Retry()``. A passivated execution is rehydrated transparently.

    ``ExecutionRef[Out]`` is typed by its output where the engine knows it
    statically (a ``@workflow`` function, a ``Workflow`` class); elsewhere (a
    ``Flow``, a ref by id) it is ``ExecutionRef[Any]``, which a bare
    ``ExecutionRef`` means.
    """

    __slots__ = ("_engine", "execution_id")

    def __init__(self, engine: Engine, execution_id: str) -> None:
        self._engine = engine
        self.execution_id = execution_id

    def ask(self, message: Any, timeout: float | None = DEFAULT_ASK_TIMEOUT) -> Snapshot:
        """Send a message and return the execution's snapshot after handling it.

        Raises ``StateConflictError`` when the message does not apply (code
        ``"conflict"``, ``"invalid"`` or ``"not_found"``), ``ExecutionNotFoundError``
        for an unknown id, ``TimeoutError`` if no answer comes in time.
        """
        if not can_exist(self.execution_id):
            raise ExecutionNotFoundError(self.execution_id)
        try:
            answer: Snapshot = self._engine.system.ask(self.execution_id, message, timeout)
        except CommandRejected as exc:
            raise translate(exc) from None
        return answer

    def tell(self, message: Any) -> None:
        """Send a message without waiting (errors are logged, not raised)."""
        if not can_exist(self.execution_id):
            return  # no execution can have this id: nothing to tell
        self._engine.system.tell(self.execution_id, message)

    def retry(self, timeout: float | None = DEFAULT_ASK_TIMEOUT) -> Snapshot:
        """``ask(Retry())``: run a failed execution again from its failed steps.

        Its completed steps are kept; the failed ones start again from attempt 1.
        ``StateConflictError`` if it is not failed, or cannot be retried (a rollback
        ran, or it failed outside any step).
        """
        return self.ask(Retry(), timeout)

    def status(self, timeout: float | None = DEFAULT_ASK_TIMEOUT) -> Snapshot:
        """The current snapshot (read from storage when the execution is not in memory)."""
        return self._engine.snapshot(self.execution_id, timeout=timeout)

    def wait_for_status(
        self, *statuses: ExecutionStatus | str, timeout: float | None = DEFAULT_ASK_TIMEOUT
    ) -> Snapshot:
        """Block until the execution is in one of ``statuses``; return its snapshot.

        Raises ``TimeoutError`` if it does not get there in time.
        """
        wanted = frozenset(str(ExecutionStatus(s)) for s in statuses)
        system = self._engine.system
        future = system.waiters.watch(self.execution_id, wanted)
        try:
            snapshot = self.status()
            if str(snapshot.status) in wanted:
                return snapshot
            try:
                future.result(timeout)
            except concurrent.futures.TimeoutError:
                raise TimeoutError(
                    f"execution {self.execution_id!r} is still {snapshot.status}, "
                    f"not {sorted(wanted)}, after {timeout}s"
                ) from None
            return self.status()
        finally:
            system.waiters.unwatch(self.execution_id, future)

    def result(self, timeout: float | None = None) -> Out:
        """Block until the execution finishes; return its output (typed).

        Raises ``ExecutionFailedError`` (its ``__cause__`` is the step's error),
        ``ExecutionCancelledError``, or ``TimeoutError``.
        """
        future = self._engine._final_view_future(self.execution_id)
        try:
            view = future.result(timeout)
        except concurrent.futures.TimeoutError:
            self._engine.system.waiters.drop(self.execution_id, future)
            raise TimeoutError(
                f"execution {self.execution_id!r} did not finish within {timeout}s"
            ) from None
        return self._outcome(view)

    async def wait(self, timeout: float | None = None) -> Out:
        """``result()`` for async code: awaits without blocking the event loop."""
        future = self._engine._final_view_future(self.execution_id)
        try:
            view = await asyncio.wait_for(asyncio.wrap_future(future), timeout)
        except TimeoutError:
            self._engine.system.waiters.drop(self.execution_id, future)
            raise TimeoutError(
                f"execution {self.execution_id!r} did not finish within {timeout}s"
            ) from None
        return self._outcome(view)

    def _outcome(self, view: Snapshot) -> Out:
        if view.status == ExecutionStatus.COMPLETED:
            return cast(Out, self._engine._typed_output(view))
        if view.status == ExecutionStatus.CANCELLED:
            raise ExecutionCancelledError(self.execution_id)
        error = view.error
        failure = ExecutionFailedError(self.execution_id, error)
        if error is not None:
            raise failure from StepError(error)
        raise failure

    def __repr__(self) -> str:
        return f"ExecutionRef({self.execution_id!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ExecutionRef) and other.execution_id == self.execution_id

    def __hash__(self) -> int:
        return hash(self.execution_id)
