"""The ``Engine`` facade: construction, starts, steering and lifecycle.

An engine owns an actor system (a coordinator per active execution, a
supervisor per task, one asyncio reactor thread, a journal that group-commits
events) over a ``Storage``. On start it resumes the executions that were
running when the previous process stopped, however it stopped. What it knows
(``catalog``), reads (``reads``), waits on (``results``) and exposes (``exposition``)
live in the modules beside this one.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import weakref
from collections.abc import Callable, Collection, Coroutine, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, overload

from actors.messages import Cancel, GetStatus, Start
from actors.observer import Observers, RuntimeObserver
from actors.system import ActorSystem
from supervision import Clock, RetryPolicy
from supervision.durations import Duration
from water.definition import Definition
from water.engine.catalog import Catalog, Runnable
from water.engine.exposition import MetricsEndpoints, make_tracing
from water.engine.reads import Reads
from water.engine.results import Results
from water.engine.starts import Starts
from water.errors import (
    ExecutionNotFoundError,
    StateConflictError,
)
from water.events import Event
from water.feed import StoreFeed
from water.fork import carried_outputs
from water.ids import can_exist, check_execution_id
from water.interpreters import Machine
from water.journal import EngineStore
from water.nodes import DEFAULT_LEASE, Node, NodeSettings
from water.ref import ExecutionRef, translate
from water.snapshot import Snapshot
from water.stats import ExecutionStats
from water.status import ExecutionStatus
from water.storage import ExecutionRecord, Storage, storage_from_url
from water.subscriptions import MAX_PENDING, CommittedEvent, Subscription, Subscriptions
from water.workflow.definition import Workflow, WorkflowFunction

if TYPE_CHECKING:
    import concurrent.futures

    from water.metrics import EngineMetrics

log = logging.getLogger("water.engine")
T = TypeVar("T")
Out = TypeVar("Out")

_ENGINES: weakref.WeakSet[Engine] = weakref.WeakSet()


@atexit.register
def _shutdown_all() -> None:
    for engine in list(_ENGINES):
        try:
            engine.shutdown()
        except Exception:
            log.exception("engine shutdown at exit failed")


class Engine:
    """Runs flows durably. Use as a context manager, or call ``shutdown()``.

    ``storage``: a ``Storage`` or a URL (``"sqlite:///path.db"``, ``"memory://"``);
    default ``sqlite:///water.db``. ``flows``: flows to register. ``retry``: the
    default retry policy of tasks that set none (default: no retries).
    ``max_workers``: threads per task for sync bodies. ``allow_flow_changes``:
    resume executions even if their flow's structure changed. ``recover``:
    resume interrupted executions at start (default True).
    ``registry``: a prometheus ``CollectorRegistry`` for this engine's metrics;
    ``metrics_port``: also serve them over HTTP on ``127.0.0.1:<port>``.
    ``node_id`` (default ``host-pid-random``) and ``lease`` (seconds, a ``timedelta``
    or ``"10s"``): this engine as a node among the engines sharing its store; it runs
    only the executions it owns, renews its lease every ``heartbeat`` (a quarter of
    the lease by default) and takes over those of nodes whose lease ran out (with
    ``recover``); see docs/nodes.md.
    With ``opentelemetry-api`` installed, executions and steps are traced through
    the global tracer provider (see ``water.tracing``).
    """

    def __init__(
        self,
        storage: Storage | str | None = None,
        *,
        flows: Iterable[Runnable] = (),
        retry: RetryPolicy | None = None,
        max_workers: int = 8,
        max_restarts: int = 3,
        restart_period: float = 5.0,
        allow_flow_changes: bool = False,
        recover: bool = True,
        clock: Clock | None = None,
        registry: Any = None,
        metrics_port: int | None = None,
        observer: RuntimeObserver | None = None,
        node_id: str | None = None,
        lease: Duration = DEFAULT_LEASE,
        heartbeat: Duration | None = None,
    ) -> None:
        settings = NodeSettings.make(node_id, lease, heartbeat)
        self.storage = storage_from_url(storage)
        self.tracing = make_tracing()
        self.catalog = Catalog(
            default_retry=retry or RetryPolicy.none(),
            max_workers=max_workers,
            max_restarts=max_restarts,
            restart_period=restart_period,
            allow_flow_changes=allow_flow_changes,
            tracing=self.tracing,
        )
        self.metrics: EngineMetrics | None = (
            _make_metrics(self, registry) if observer is None else None
        )
        self._exposition = MetricsEndpoints(self.metrics)
        self.subscriptions = Subscriptions()
        observed = [o for o in (observer or self.metrics, self.tracing) if o is not None]
        observers = Observers([*observed, self.subscriptions])
        store = EngineStore(self.storage)
        self.system = ActorSystem(self.catalog, store, clock=clock, observer=observers)
        self.node = Node(settings, self.storage, self.system, lambda: list(self.flows))
        self.system.placement = self.node
        store.fences = self.node.fence
        self.reads = Reads(self.storage, self._run)
        self.starts = Starts(
            self.catalog, self.system, self.node, self.reads, self.tracing, self._check_open
        )
        self.results = Results(self.system, self.storage)
        self._feed = StoreFeed(self.subscriptions, self.storage, self.system.reactor)
        self._closed = False
        try:
            self.system.reactor.run(self.storage.initialize())
            for flow in flows:
                self.register(flow)
            self.node.start(claims=recover)
        except BaseException:
            self.system.shutdown()
            raise
        _ENGINES.add(self)
        if metrics_port is not None:
            self.serve_metrics(metrics_port)
        if recover:
            self.recover()

    # -- flows ---------------------------------------------------------------------
    def register(self, flow: Runnable) -> Runnable:
        """Register a flow or a workflow, and every definition nested in it, so that
        they can run and resume.

        A flow is validated first (``FlowValidationError``). A code-first workflow
        comes with the workflows its code names, its children. An id names one
        definition: another one under a registered id is refused (``ValueError``)
        unless it has the same kind and fingerprint, and then replaces it.
        """
        self.catalog.register(flow)
        return flow

    @property
    def flows(self) -> dict[str, Definition]:
        """The registered definitions (flows and workflows) by id."""
        return self.catalog.registry.all()

    def flow(self, flow_id: str) -> Definition:
        """The registered flow or workflow of that id (``FlowNotFoundError`` if none)."""
        return self.catalog.registry.require(flow_id)

    def interpreter(self, flow_id: str) -> Machine:
        """The interpreter that runs the definition of that id."""
        return self.catalog.interpreter(flow_id)

    # -- executions ----------------------------------------------------------------
    # A code-first workflow's output type is known statically: its ref is typed by it.
    @overload
    def start(
        self,
        flow: WorkflowFunction[..., Out] | type[Workflow[Any, Out]],
        input: Any = None,
        *,
        execution_id: str | None = None,
        timeout: float | None = 30.0,
    ) -> ExecutionRef[Out]: ...
    @overload
    def start(
        self,
        flow: Runnable | str,
        input: Any = None,
        *,
        execution_id: str | None = None,
        timeout: float | None = 30.0,
    ) -> ExecutionRef[Any]: ...
    def start(
        self,
        flow: Runnable | str,
        input: Any = None,
        *,
        execution_id: str | None = None,
        timeout: float | None = 30.0,
    ) -> ExecutionRef[Any]:
        """Start an execution and return its ref once its start is durable.

        The input is validated against the flow's input model first (pydantic's
        ``ValidationError`` names the fields); an input the journal cannot store
        exactly raises ``UnstorableValueError``. With an ``execution_id`` that already
        exists, nothing new starts: the existing execution's ref is returned (also when
        another engine sharing the store runs it, or starts it at the same moment). A
        chosen id follows the rule of ``water.ids`` (else ``InvalidExecutionIdError``).
        """
        start = self.starts.request(flow, input, execution_id)
        self.starts.run(start, timeout)
        return ExecutionRef(self, start.execution_id)

    @overload
    def start_many(
        self,
        flow: WorkflowFunction[..., Out] | type[Workflow[Any, Out]],
        inputs: Iterable[Any],
        *,
        timeout: float | None = 60.0,
    ) -> list[ExecutionRef[Out]]: ...
    @overload
    def start_many(
        self, flow: Runnable | str, inputs: Iterable[Any], *, timeout: float | None = 60.0
    ) -> list[ExecutionRef[Any]]: ...
    def start_many(
        self,
        flow: Runnable | str,
        inputs: Iterable[Any],
        *,
        timeout: float | None = 60.0,
    ) -> list[ExecutionRef[Any]]:
        """Start one execution per input, all at once; return once all starts are durable.

        Much faster than calling ``start`` in a loop: the starts share group commits.
        """
        return [ExecutionRef(self, eid) for eid in self.starts.many(flow, inputs, timeout)]

    @overload
    async def start_async(
        self,
        flow: WorkflowFunction[..., Out] | type[Workflow[Any, Out]],
        input: Any = None,
        *,
        execution_id: str | None = None,
        timeout: float | None = 30.0,
    ) -> ExecutionRef[Out]: ...
    @overload
    async def start_async(
        self,
        flow: Runnable | str,
        input: Any = None,
        *,
        execution_id: str | None = None,
        timeout: float | None = 30.0,
    ) -> ExecutionRef[Any]: ...
    async def start_async(
        self,
        flow: Runnable | str,
        input: Any = None,
        *,
        execution_id: str | None = None,
        timeout: float | None = 30.0,
    ) -> ExecutionRef[Any]:
        """``start`` for async code (does not block the event loop)."""
        ref, _ = await self._start_async(flow, input, execution_id=execution_id, timeout=timeout)
        return ref

    async def _start_async(
        self,
        flow: Runnable | str,
        input: Any = None,
        *,
        execution_id: str | None = None,
        timeout: float | None = 30.0,
    ) -> tuple[ExecutionRef[Any], Snapshot]:
        """``start_async``, with the execution's view once its start is durable.

        The answer is awaited on the caller's loop: no worker thread per start. A
        chosen ``execution_id`` may name an execution another engine sharing the store
        runs: finding that out reads the store, so such a start runs ``start`` in a
        worker thread.
        """
        if execution_id is not None:
            self._check_open()
            check_execution_id(execution_id)
            ref = await asyncio.to_thread(
                self.start, flow, input, execution_id=execution_id, timeout=timeout
            )
            return ref, await asyncio.to_thread(self.snapshot, execution_id, timeout)
        start = self.starts.request(flow, input, None)
        view = await self.starts.run_fresh(start, timeout)
        return ExecutionRef(self, start.execution_id), view

    def fork(
        self,
        source_id: str,
        /,
        from_step: str,
        *,
        execution_id: str | None = None,
        timeout: float | None = 30.0,
    ) -> ExecutionRef[Any]:
        """Start a new execution of the same flow and input as ``source_id``, running from
        its step ``from_step`` on; return its ref once its start is durable.

        The steps of the original that completed before ``from_step`` (in its completion
        order) are completed in the fork with the original's outputs instead of running
        again, and journaled there: the fork stands alone. The original (in any status) is
        left as it is; the fork's snapshot names it (``forked_from``). ``from_step`` must
        be a step key of the original (else ``StateConflictError``, code ``not_found``,
        listing its keys). ``execution_id``: the fork's id (an existing one is returned,
        as ``start`` does, if it is a fork of the same execution).
        """
        self._check_open()
        if execution_id is not None:
            check_execution_id(execution_id)
        original = self.snapshot(source_id, timeout)
        definition = self.flow(original.flow_id)
        message = Start(
            definition.id,
            original.input,
            forked_from=original.execution_id,
            carried=tuple(carried_outputs(original, from_step).items()),
        )
        return ExecutionRef(self, self.starts.fork(message, execution_id, timeout, self.snapshot))

    def ref(self, execution_id: str) -> ExecutionRef[Any]:
        """A ref to an execution by id (it need not be in memory)."""
        return ExecutionRef(self, execution_id)

    def snapshot(self, execution_id: str, timeout: float | None = 30.0) -> Snapshot:
        """The current snapshot; finished executions are read from storage only.

        An execution in memory answers itself (no storage read); one that is not is
        looked up in storage first, so a finished one needs no coordinator.
        """
        if not can_exist(execution_id):
            raise ExecutionNotFoundError(execution_id)
        if not self.system.is_live(execution_id):
            finished = self.reads.finished(execution_id)
            if finished is not None:
                return finished
        try:
            answer: Snapshot = self.system.ask(execution_id, GetStatus(), timeout)
        except Exception as exc:
            raise translate(exc) from None
        return answer

    def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        """The index row of an execution (status, flow, times), or None if unknown."""
        return self.reads.execution(execution_id)

    def events(self, execution_id: str, after_seq: int = 0) -> list[Event]:
        """The journal of an execution, in order."""
        return self.reads.events(execution_id, after_seq)

    def list_executions(
        self,
        flow_id: str | None = None,
        status: ExecutionStatus | str | Sequence[ExecutionStatus | str] | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[ExecutionRecord]:
        """Index rows, newest first."""
        return self.reads.executions(flow_id, status, limit, offset)

    def count_executions(
        self,
        flow_id: str | None = None,
        status: ExecutionStatus | str | Sequence[ExecutionStatus | str] | None = None,
    ) -> int:
        return self.reads.count(flow_id, status)

    def delete_execution(self, execution_id: str, *, force: bool = False) -> bool:
        """Delete a finished execution (a live one only with ``force``, after cancelling it).

        Its rows go first, then everything this engine keeps of it in memory (a
        coordinator still answering, its final view, its timers): a message that
        races the delete finds nothing to rehydrate and is answered "not found".
        """
        record = self.get_execution(execution_id)
        if record is None:
            return False
        if not record.status.is_terminal:
            if not force:
                raise StateConflictError(
                    f"execution {execution_id!r} is {record.status}; cancel it first or force"
                )
            try:
                self.ref(execution_id).ask(Cancel("deleted"), timeout=10)
            except (StateConflictError, ExecutionNotFoundError):
                pass  # it finished (or was deleted) meanwhile: nothing runs any more
            except Exception as exc:
                raise StateConflictError(
                    f"execution {execution_id!r} could not be cancelled ({exc}); it was not deleted"
                ) from exc
        deleted = self._run(self.storage.delete_execution(execution_id))
        self.system.forget(execution_id, ExecutionNotFoundError(execution_id))
        return deleted

    # -- events and statistics ---------------------------------------------------------
    def subscribe(
        self,
        callback: Callable[[CommittedEvent], Any],
        *,
        flow_id: str | None = None,
        execution_id: str | None = None,
        types: Collection[str] | None = None,
        max_pending: int = MAX_PENDING,
    ) -> Subscription:
        """Call ``callback`` with each event committed from now on; returns ``unsubscribe``.

        Only the events of ``flow_id``, of ``execution_id``, and of these ``types``
        (event type names such as ``"step_failed"``) when given. The callback runs on a
        thread of its own, in journal order per execution, and never slows the engine:
        an exception it raises is logged, and past ``max_pending`` events behind, events
        are dropped (``Subscription.dropped``) until it catches up. Calling the returned
        ``Subscription`` (or its ``unsubscribe()``) ends it. See ``water.subscriptions``.
        """
        self._check_open()
        subscription = Subscription(
            callback,
            flow_id=flow_id,
            execution_id=execution_id,
            types=types,
            max_pending=max_pending,
            on_close=self._feed.unsubscribe,
        )
        self._feed.subscribe(subscription)
        return subscription

    def stats(self, flow_id: str | None = None) -> ExecutionStats:
        """Executions by status and steps by task over the stored history (``water.stats``)."""
        return self.reads.stats(flow_id)

    # -- metrics ---------------------------------------------------------------------
    @property
    def registry(self) -> Any:
        """This engine's prometheus ``CollectorRegistry``."""
        return self._exposition.registry

    def metrics_text(self) -> bytes:
        """The metrics in the Prometheus text format."""
        return self._exposition.text()

    def metrics_app(self) -> Any:
        """An ASGI app serving this engine's metrics (mount it at ``/metrics``)."""
        return self._exposition.app()

    def serve_metrics(self, port: int, addr: str = "127.0.0.1") -> None:
        """Serve this engine's metrics over HTTP on ``addr:port`` (until ``shutdown``)."""
        self._exposition.serve(port, addr)

    def circuit_breakers(self) -> dict[str, dict[str, object]]:
        """State of every circuit breaker in use, by name."""
        return {name: b.info() for name, b in self.system.supervisors.breakers().items()}

    # -- results (for ExecutionRef) ------------------------------------------------------
    def _final_view_future(self, execution_id: str) -> concurrent.futures.Future[Snapshot]:
        return self.results.final_view(execution_id)

    def _typed_output(self, view: Snapshot) -> Any:
        return self.catalog.typed_output(view.flow_id, view.output)

    # -- recovery ----------------------------------------------------------------------
    def recover(self) -> int:
        """Resume every execution of a registered flow that no live engine owns: wake
        those that were running, re-arm the wake-ups of waiting ones; how many woke.

        Each is claimed first (``water.nodes``), so that engines sharing the store never
        resume the same execution twice.
        """
        self._check_open()
        return self.node.recover()

    # -- lifecycle -----------------------------------------------------------------------
    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        self._check_open()
        return self.system.reactor.run(coro)

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the engine is shut down")

    def shutdown(self) -> None:
        """Stop every actor and close storage. In-flight work resumes on the next start."""
        if self._closed:
            return
        self._closed = True
        _ENGINES.discard(self)
        self._exposition.close()
        reactor = self.system.reactor
        self._feed.close()
        self.node.stop()
        self.system.shutdown_actors()
        try:
            reactor.run(self.system.journal.drain(), timeout=10)
        except Exception:
            log.exception("journal did not drain")
        try:  # what it owned is free for other engines at once
            reactor.run(self.node.leave(), timeout=10)
        except Exception:
            log.exception("leaving the store failed")
        try:
            reactor.run(self.storage.close(), timeout=10)
        except Exception:
            log.exception("closing storage failed")
        reactor.stop()
        if self.tracing is not None:
            self.tracing.close()

    async def shutdown_async(self) -> None:
        await asyncio.to_thread(self.shutdown)

    def __enter__(self) -> Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def __repr__(self) -> str:
        return f"Engine(storage={self.storage.url!r}, flows={sorted(self.flows)})"


def _make_metrics(engine: Engine, registry: Any) -> EngineMetrics:
    from water.metrics import EngineMetrics

    return EngineMetrics(engine, registry)
