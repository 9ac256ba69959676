"""Starting executions: the checks, owning a new id, the durable start, the flow check.

A start under an id made here (``fresh``) is this engine's at once: nobody else can
know the id. A start under a caller's id is first placed through the store: when
another engine sharing it already runs that id, the start is theirs and only the flow
is checked (``StateConflictError`` for another flow); a refused start leaves nothing
owned.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from actors.messages import Start
from actors.system import ActorSystem
from water.engine.catalog import Catalog, Runnable
from water.engine.reads import Reads
from water.errors import StateConflictError
from water.ids import check_execution_id, new_execution_id
from water.nodes import Node
from water.snapshot import Snapshot

if TYPE_CHECKING:
    from water.tracing import Tracing


@dataclasses.dataclass(frozen=True, slots=True)
class StartRequest:
    """A start about to be asked of its execution."""

    flow_id: str
    execution_id: str
    fresh: bool  # the id was made here: no stored execution to look up
    message: Start

    def traced(self, trace: dict[str, str] | None) -> Start:
        """The message, carrying the ``water.start`` span's context when there is one."""
        return self.message if trace is None else dataclasses.replace(self.message, trace=trace)


class Starts:
    """How an engine starts executions (``Engine.start``, ``start_many``, ``fork``)."""

    def __init__(
        self,
        catalog: Catalog,
        system: ActorSystem,
        node: Node,
        reads: Reads,
        tracing: Tracing | None,
        check_open: Callable[[], None],
    ) -> None:
        self._catalog = catalog
        self._system = system
        self._node = node
        self._reads = reads
        self._tracing = tracing
        self._check_open = check_open

    def request(self, flow: Runnable | str, input: Any, execution_id: str | None) -> StartRequest:
        """A start checked (its id, its input) and its message built."""
        self._check_open()
        if execution_id is not None:
            check_execution_id(execution_id)
        resolved, message = self._catalog.start_message(flow, input)
        if execution_id is None:  # an id made here: no stored execution to look up
            return StartRequest(resolved.id, new_execution_id(), True, message)
        return StartRequest(resolved.id, execution_id, False, message)

    def run(self, start: StartRequest, timeout: float | None) -> None:
        """Start it here and return once its start is durable, or learn that another
        engine runs it; either way, of the flow the request names."""
        if not self.place(start.execution_id, start.flow_id, start.fresh):
            self._check_flow_elsewhere(start.execution_id, start.flow_id)
            return
        with self.span(start.flow_id, start.execution_id) as trace:
            try:
                view: Snapshot = self._system.ask(
                    start.execution_id,
                    start.traced(trace),
                    timeout,
                    detail=False,
                    fresh=start.fresh,
                )
            except Exception as exc:
                self._refused(start, exc)
                raise
        self._check_flow(start, view)

    async def run_fresh(self, start: StartRequest, timeout: float | None) -> Snapshot:
        """``run`` of a start under an id made here, awaited on the caller's loop (no
        thread hop); the execution's view once its start is durable."""
        assert start.fresh
        self.place(start.execution_id, start.flow_id, True)
        with self.span(start.flow_id, start.execution_id) as trace:
            try:
                view: Snapshot = await self._system.ask_async(
                    start.execution_id, start.traced(trace), timeout, detail=False, fresh=True
                )
            except Exception as exc:
                self._refused(start, exc)
                raise
        self._check_flow(start, view)
        return view

    def many(self, flow: Runnable | str, inputs: Iterable[Any], timeout: float | None) -> list[str]:
        """Start one execution per input under ids made here, sharing group commits."""
        self._check_open()
        messages = []
        for value in inputs:
            _, message = self._catalog.start_message(flow, value)
            messages.append((new_execution_id(), message))
        for eid, _ in messages:
            self._node.adopt_new(eid)
        with self.span(self._catalog.resolve(flow).id, count=len(messages)) as trace:
            if trace is not None:
                messages = [(eid, dataclasses.replace(m, trace=trace)) for eid, m in messages]
            self._system.ask_many(messages, timeout, fresh=True)
        return [eid for eid, _ in messages]

    def fork(
        self,
        message: Start,
        execution_id: str | None,
        timeout: float | None,
        snapshot: Callable[[str, float | None], Snapshot],
    ) -> str:
        """Start a fork (``message`` names its original) under ``execution_id`` (checked
        by the caller) or an id made here; an existing execution of that id must be a
        fork of the same original."""
        eid = execution_id if execution_id is not None else new_execution_id()
        fresh = execution_id is None
        if self.place(eid, message.definition, fresh):
            view: Snapshot = self._system.ask(eid, message, timeout, detail=False, fresh=fresh)
        else:
            view = snapshot(eid, timeout)
        if view.flow_id != message.definition or view.forked_from != message.forked_from:
            raise StateConflictError(
                f"execution {eid!r} exists and is not a fork of {message.forked_from!r}"
            )
        return eid

    def place(self, execution_id: str, flow_id: str, fresh: bool) -> bool:
        """Own a new execution before its start (True), or learn that another engine
        sharing the store owns it (False): then its start is theirs."""
        if fresh:
            self._node.adopt_new(execution_id)
            return True
        return self._node.place(execution_id, flow_id)

    def span(
        self, flow_id: str, execution_id: str | None = None, count: int = 1
    ) -> contextlib.AbstractContextManager[dict[str, str] | None]:
        """The ``water.start`` span around a start; it gives the trace context to journal."""
        if self._tracing is None:
            return contextlib.nullcontext()
        return self._tracing.starting(flow_id, execution_id, count)

    def _refused(self, start: StartRequest, exc: Exception) -> None:
        if not isinstance(exc, TimeoutError):  # refused: nothing to own
            self._node.abandon(start.execution_id, created=start.fresh)

    @staticmethod
    def _check_flow(start: StartRequest, view: Snapshot) -> None:
        if view.flow_id != start.flow_id:
            raise StateConflictError(
                f"execution {start.execution_id!r} exists and runs flow {view.flow_id!r}, "
                f"not {start.flow_id!r}"
            )

    def _check_flow_elsewhere(self, execution_id: str, flow_id: str) -> None:
        record = self._reads.execution(execution_id)
        if record is not None and record.flow_id != flow_id:
            raise StateConflictError(
                f"execution {execution_id!r} exists and runs flow {record.flow_id!r}, "
                f"not {flow_id!r}"
            )
