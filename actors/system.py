"""The actor system of one engine: routing, passivation, supervisors, shutdown.

It keeps its own ``{execution_id: coordinator}`` map (pykka's registry scans a
list) and is the only way messages reach coordinators, which is what makes
passivation safe: a coordinator may stop only while holding the routing lock
with an empty inbox, so no message is ever sent to a coordinator that is
going away. A message for an execution without a live coordinator starts one,
which rehydrates from storage before it handles the message.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import threading
from typing import Any

import pykka

from actors.coordinator import Coordinator, Failure, Query, Ready, StatusChanged, Wake
from actors.effects import ArmTimer, Route
from actors.jobs import StepJob, SupervisorSpec
from actors.journal import Journal
from actors.logsafe import describe
from actors.messages import TimerFired
from actors.observer import RuntimeObserver
from actors.outage import storage_delay
from actors.protocols import DeciderFactory, JournalStore
from actors.reactor import Reactor
from actors.supervisor import AsyncRunner, CancelRuns, RunJob, TaskSupervisor
from actors.timers import Timers
from supervision import BreakerMachine, Clock, RestartIntensity, SystemClock

log = logging.getLogger("water.runtime")

RECENT_FINISHED = 4096


class SystemShutDown(RuntimeError):
    def __init__(self) -> None:
        super().__init__("the engine is shut down")


def _depth(ref: pykka.ActorRef[Any]) -> int:
    qsize = getattr(ref.actor_inbox, "qsize", None)
    return int(qsize()) if qsize is not None else 0


class ActorSystem:
    def __init__(
        self,
        factory: DeciderFactory,
        store: JournalStore,
        *,
        clock: Clock | None = None,
        observer: RuntimeObserver | None = None,
    ) -> None:
        self.factory = factory
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self.observer = observer or RuntimeObserver()
        self.reactor = Reactor().start()
        self.journal = Journal(
            self.reactor,
            store,
            on_commit=self.observer.journal_committed,
            on_health=self.observer.storage_changed,
        )
        self.timers = Timers(self.reactor, self._timer_fired)
        self._lock = threading.RLock()
        self._coordinators: dict[str, pykka.ActorRef[Any]] = {}
        self._supervisors: dict[str, pykka.ActorRef[Any]] = {}
        self._runners: dict[str, AsyncRunner] = {}
        self._incarnations = 0
        self._generations: dict[str, int] = {}
        self._breakers: dict[str, BreakerMachine] = {}
        self._waiters: dict[str, list[concurrent.futures.Future[Any]]] = {}
        self._watchers: dict[str, list[tuple[frozenset[str], concurrent.futures.Future[str]]]] = {}
        self._crashes: dict[str, RestartIntensity] = {}
        self._recent: dict[str, Any] = {}  # final views of recently finished executions
        self._closed = False
        self._closing = asyncio.Event()  # set on the loop when shutting down

    # -- routing -------------------------------------------------------------------
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
                ref = Coordinator.start(self, execution_id, self._incarnations, fresh)
                self._coordinators[execution_id] = ref
            return ref

    def _forget(self, execution_id: str, ref: pykka.ActorRef[Any]) -> None:
        with self._lock:
            if self._coordinators.get(execution_id) is ref:
                del self._coordinators[execution_id]

    def detach(self, execution_id: str, ref: pykka.ActorRef[Any]) -> None:
        """A coordinator that stops for good: route later messages to a new one."""
        self._forget(execution_id, ref)

    @property
    def closed(self) -> bool:
        return self._closed

    def tell(self, execution_id: str, message: Any) -> None:
        """Send a message to an execution (rehydrating its coordinator if needed).

        Looking the coordinator up and putting the message in its inbox happen
        under the routing lock, which passivation also takes: a message is never
        put into the inbox of a coordinator that has been told it may stop.
        """
        for _ in range(5):
            with self._lock:
                ref = self._coordinator(execution_id)
                try:
                    ref.tell(message)
                    return
                except pykka.ActorDeadError:
                    self._forget(execution_id, ref)
        log.error("could not deliver %s to execution %s", describe(message), execution_id)

    def deliver(self, execution_id: str, message: Any) -> None:
        """Report an outcome to an execution (dropped quietly once shut down)."""
        try:
            self.tell(execution_id, message)
        except SystemShutDown:
            pass

    def _not_on_loop(self) -> None:
        if self.reactor.in_loop_thread():
            raise RuntimeError(
                "a blocking engine call was made on the engine's event loop (from an async "
                "step body?); use the async variants (start_async, wait)"
            )

    def ask(
        self,
        execution_id: str,
        message: Any,
        timeout: float | None = None,
        *,
        brief: bool = False,
        fresh: bool = False,
    ) -> Any:
        """Send a message and wait for the execution's answer (its view; ``brief``: summary)."""
        self._not_on_loop()
        for _ in range(5):
            with self._lock:
                ref = self._coordinator(execution_id, fresh)
                try:
                    future = ref.ask(Query(message, brief), block=False)
                except pykka.ActorDeadError:
                    self._forget(execution_id, ref)
                    continue
            try:
                answer = future.get(timeout=timeout)
            except pykka.ActorDeadError:
                self._forget(execution_id, ref)
                continue
            except pykka.Timeout:
                raise TimeoutError(
                    f"execution {execution_id!r} did not answer within {timeout}s"
                ) from None
            if isinstance(answer, Failure):
                raise answer.error
            return answer
        raise RuntimeError(f"execution {execution_id!r} could not be reached")

    def ask_many(
        self, messages: list[tuple[str, Any]], timeout: float | None = None, *, fresh: bool = False
    ) -> list[Any]:
        """Send several asks at once, then collect the answers (in order).

        Sending before waiting lets their journal appends share group commits.
        """
        self._not_on_loop()
        pending = []
        for execution_id, message in messages:
            with self._lock:
                ref = self._coordinator(execution_id, fresh)
                pending.append(
                    (execution_id, message, ref.ask(Query(message, brief=True), block=False))
                )
        answers = []
        for execution_id, _message, future in pending:
            try:
                answer = future.get(timeout=timeout)
            except pykka.ActorDeadError:
                answer = Failure(RuntimeError(f"execution {execution_id!r} could not be reached"))
            except pykka.Timeout:
                raise TimeoutError(
                    f"execution {execution_id!r} did not answer within {timeout}s"
                ) from None
            if isinstance(answer, Failure):
                raise answer.error
            answers.append(answer)
        return answers

    def wake(self, execution_id: str) -> None:
        self.tell(execution_id, Wake())

    def passivate(self, execution_id: str, coordinator: Coordinator) -> bool:
        """Let an idle coordinator stop if no message is waiting for it."""
        with self._lock:
            if self._coordinators.get(execution_id) is not coordinator.actor_ref:
                return True  # already detached (e.g. replaced after a crash)
            if not coordinator.actor_inbox.empty():
                return False
            del self._coordinators[execution_id]
            return True

    def finished(self, execution_id: str, ref: pykka.ActorRef[Any], view: Any) -> None:
        with self._lock:
            # only the routed coordinator speaks for the execution: one that was
            # forgotten (its execution deleted) must not leave its view behind
            if self._coordinators.get(execution_id) is ref:
                del self._coordinators[execution_id]
                self._recent[execution_id] = view
                if len(self._recent) > RECENT_FINISHED:
                    self._recent.pop(next(iter(self._recent)))
            waiters = self._waiters.pop(execution_id, [])
            self._crashes.pop(execution_id, None)
        for future in waiters:
            if not future.done():
                future.set_result(view)

    def forget(self, execution_id: str, error: BaseException | None = None) -> None:
        """Drop every trace of an execution kept in memory (its rows were deleted).

        Its coordinator, if any, is detached and stopped, so the next message for
        the execution starts a new one, which finds nothing in storage; its final
        view and its timers are dropped; waiters for its end get ``error`` (if given).
        """
        with self._lock:
            ref = self._coordinators.pop(execution_id, None)
            self._recent.pop(execution_id, None)
            self._crashes.pop(execution_id, None)
            waiters = self._waiters.pop(execution_id, []) if error is not None else []
        self.timers.disarm(execution_id)
        if ref is not None:
            try:
                ref.stop(block=False)
            except pykka.ActorDeadError:
                pass
        for future in waiters:
            if error is not None and not future.done():
                future.set_exception(error)

    def waiter(self, execution_id: str) -> concurrent.futures.Future[Any]:
        """A future completed with the final view when the execution finishes.

        Executions that finished recently in this engine answer at once from memory.
        """
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()
        with self._lock:
            view = self._recent.get(execution_id)
            if view is None:
                self._waiters.setdefault(execution_id, []).append(future)
        if view is not None:
            future.set_result(view)
        return future

    def watch(self, execution_id: str, statuses: frozenset[str]) -> concurrent.futures.Future[str]:
        """A future completed with the status once the execution reaches one of ``statuses``."""
        future: concurrent.futures.Future[str] = concurrent.futures.Future()
        with self._lock:
            self._watchers.setdefault(execution_id, []).append((statuses, future))
        return future

    def unwatch(self, execution_id: str, future: concurrent.futures.Future[str]) -> None:
        with self._lock:
            watchers = self._watchers.get(execution_id)
            if watchers:
                watchers[:] = [w for w in watchers if w[1] is not future]
                if not watchers:
                    del self._watchers[execution_id]

    def status_changed(self, execution_id: str, status: str) -> None:
        """Called once a new status is durable."""
        if not self._watchers:
            return
        with self._lock:
            watchers = self._watchers.get(execution_id)
            if not watchers:
                return
            hit = [w for w in watchers if status in w[0]]
            watchers[:] = [w for w in watchers if status not in w[0]]
            if not watchers:
                del self._watchers[execution_id]
        for _, future in hit:
            if not future.done():
                future.set_result(status)

    def drop_waiter(self, execution_id: str, future: concurrent.futures.Future[Any]) -> None:
        with self._lock:
            waiters = self._waiters.get(execution_id)
            if waiters and future in waiters:
                waiters.remove(future)
                if not waiters:
                    del self._waiters[execution_id]

    def unloadable(self, execution_id: str, error: BaseException) -> None:
        """The store cannot give an execution back: its result waiters get the error."""
        with self._lock:
            waiters = self._waiters.pop(execution_id, [])
        for future in waiters:
            if not future.done():
                future.set_exception(error)

    async def storage_backoff(self, attempt: int, error: BaseException) -> bool:
        """On the loop: wait out the back-off after failed ``attempt`` of a storage call.

        Returns False at once if the system shuts down meanwhile.
        """
        try:
            await asyncio.wait_for(self._closing.wait(), storage_delay(attempt, error))
        except TimeoutError:
            return True
        return False

    def coordinator_crashed(self, execution_id: str, ref: pykka.ActorRef[Any]) -> None:
        """Rehydrate a crashed coordinator from its events, within a restart intensity."""
        self._forget(execution_id, ref)
        if self._closed:
            return
        self.observer.actor_restarted("coordinator")
        with self._lock:
            intensity = self._crashes.setdefault(
                execution_id, RestartIntensity(3, 10.0, self.clock)
            )
            again = intensity.record_restart()
        if again and not self._closed:
            self.reactor.call_soon(self.wake, execution_id)
        else:
            log.error("execution %s keeps crashing its coordinator; left as is", execution_id)

    # -- supervisors ---------------------------------------------------------------
    def breaker(self, spec: SupervisorSpec) -> BreakerMachine | None:
        config = spec.breaker
        if config is None:
            return None
        name = config.name or spec.task_id
        with self._lock:
            machine = self._breakers.get(name)
            if machine is None:
                machine = BreakerMachine(
                    config,
                    name,
                    self.clock,
                    on_change=self._breaker_changed,
                )
                self._breakers[name] = machine
            return machine

    def _breaker_changed(self, name: str, old: object, new: object) -> None:
        log.warning("circuit breaker %r: %s -> %s", name, old, new)
        self.observer.breaker_changed(name, str(old), str(new))

    def breakers(self) -> dict[str, BreakerMachine]:
        with self._lock:
            return dict(self._breakers)

    def _supervisor(self, spec: SupervisorSpec) -> pykka.ActorRef[Any]:
        with self._lock:
            ref = self._supervisors.get(spec.task_id)
            if ref is None:
                if self._closed:
                    raise SystemShutDown()
                generation = self._generations.get(spec.task_id, 0) + 1
                self._generations[spec.task_id] = generation
                ref = TaskSupervisor.start(self, spec, self.breaker(spec), generation)
                self._supervisors[spec.task_id] = ref
            return ref

    def _runner(self, spec: SupervisorSpec) -> AsyncRunner:
        runner = self._runners.get(spec.task_id)
        if runner is None:
            with self._lock:
                runner = self._runners.get(spec.task_id)
                if runner is None:
                    runner = AsyncRunner(self, spec.task_id, self.breaker(spec))
                    self._runners[spec.task_id] = runner
        return runner

    def dispatch(self, spec: SupervisorSpec, job: StepJob) -> None:
        """Run a job: async bodies go straight to the loop, sync ones to the supervisor."""
        if job.is_async:
            runner = self._runner(spec)
            if self.reactor.in_loop_thread():
                runner.start(job)
            else:
                self.reactor.call_soon(runner.start, job)
        else:
            self._supervisor(spec).tell(RunJob(job))

    def perform(self, execution_id: str, actions: list[Any]) -> None:
        """Carry out prepared effects (jobs already built); callable from any thread."""
        for action in actions:
            if isinstance(action, Ready):
                self.dispatch(action.spec, action.job)
            elif isinstance(action, ArmTimer):
                self.timers.arm(execution_id, action.timer, action.fire_at)
            elif isinstance(action, StatusChanged):
                self.status_changed(execution_id, action.status)
            elif isinstance(action, Route):
                try:
                    self.tell(action.execution_id, action.message)
                except SystemShutDown:
                    return

    def cancel_runs(self, execution_id: str, task_ids: set[str]) -> None:
        with self._lock:
            refs = [self._supervisors[t] for t in task_ids if t in self._supervisors]
            runners = [self._runners[t] for t in task_ids if t in self._runners]
        for ref in refs:
            ref.tell(CancelRuns(execution_id))
        for runner in runners:
            self.reactor.call_soon(runner.cancel, execution_id)

    def supervisor_escalated(self, spec: SupervisorSpec, queued: list[Any]) -> None:
        """Replace a supervisor that exceeded its restart intensity; keep its queue.

        Called on the old supervisor's thread: it is only told to stop.
        """
        self.observer.actor_restarted("supervisor")
        with self._lock:
            old = self._supervisors.pop(spec.task_id, None)
        if old is not None:
            old.stop(block=False)
        if self._closed:
            return
        new = self._supervisor(spec)
        for job in queued:
            new.tell(RunJob(job))

    def count_restart(self, kind: str) -> None:
        self.observer.actor_restarted(kind)

    # -- timers ----------------------------------------------------------------------
    def _timer_fired(self, execution_id: str, timer: str, fire_at: float) -> None:
        if self._closed:
            return
        try:
            self.tell(execution_id, TimerFired(timer, fire_at))
        except SystemShutDown:
            pass

    # -- introspection ---------------------------------------------------------------
    def is_live(self, execution_id: str) -> bool:
        """Whether the execution has a coordinator in memory right now."""
        return execution_id in self._coordinators

    def active_coordinators(self) -> int:
        return len(self._coordinators)

    def mailbox_depths(self) -> dict[str, int]:
        """Total queued messages by actor kind (read at scrape time)."""
        with self._lock:
            coords = list(self._coordinators.values())
            sups = list(self._supervisors.values())
        return {
            "coordinator": sum(_depth(r) for r in coords),
            "supervisor": sum(_depth(r) for r in sups),
        }

    def supervisor_count(self) -> int:
        return len(self._supervisors)

    # -- shutdown ----------------------------------------------------------------------
    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop every actor, then the reactor."""
        self.shutdown_actors(timeout)
        self.reactor.stop()

    def shutdown_actors(self, timeout: float = 10.0) -> None:
        """Stop every coordinator and supervisor (the reactor keeps running)."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.reactor.call_soon(self._closing.set)
            self.journal.stop_retrying()  # what a storage fault holds would block the stops
            coordinators = list(self._coordinators.values())
            supervisors = list(self._supervisors.values())
            self._coordinators.clear()
            self._supervisors.clear()
            waiters = [f for fs in self._waiters.values() for f in fs]
            self._waiters.clear()
        for ref in coordinators:
            try:
                ref.stop(block=False)
            except pykka.ActorDeadError:
                pass
        for ref in coordinators:
            if ref.is_alive():
                try:
                    ref.stop(block=True, timeout=timeout)
                except (pykka.ActorDeadError, pykka.Timeout):
                    pass
        for ref in supervisors:
            try:
                ref.stop(block=True, timeout=timeout)
            except (pykka.ActorDeadError, pykka.Timeout):
                pass
        for future in waiters:
            if not future.done():
                future.set_exception(SystemShutDown())
