"""TaskSupervisor: one per task id; owns the task's breaker, worker pool and restarts.

Sync bodies run on a bounded pool of ``TaskWorker`` actors (queued when all are
busy); async bodies run on the reactor loop. The supervisor enforces timeouts
(an async body is cancelled; a sync worker that overruns is abandoned and
replaced, and its late result is dropped), consults the circuit breaker before
every run, and replaces crashed workers within an OTP-style restart intensity;
beyond it, it escalates: opens its breaker and asks the runtime to restart it
with fresh workers. Outcomes go straight to the execution (through the
runtime's router), so a supervisor is never on a step's result path.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import threading
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

import pykka

from actors.jobs import StepJob, SupervisorSpec, SuspendStep
from actors.logsafe import describe
from actors.messages import RunFailed, RunSucceeded, RunSuspended
from actors.reactor import Reactor
from supervision import (
    BreakerMachine,
    CircuitOpenError,
    RestartIntensity,
    StepTimeoutError,
    WaterError,
)

log = logging.getLogger("water.supervisor")

Ident = tuple[str, str, int, Hashable]


class WorkerCrashedError(WaterError, RuntimeError):
    """The worker running a step died (an exception escaped the body's wrapper)."""


class SupervisorRestartedError(WaterError, RuntimeError):
    """The step's supervisor was restarted after too many worker crashes."""


class Runtime(Protocol):
    """What a supervisor needs from the runtime that owns it."""

    reactor: Reactor

    def deliver(self, execution_id: str, message: Any) -> None: ...

    def supervisor_escalated(self, spec: SupervisorSpec, queued: list[Any]) -> None: ...

    def count_restart(self, kind: str) -> None: ...


def breaker_details(breaker: BreakerMachine) -> dict[str, Any]:
    return {"breaker": breaker.name, "breaker_state": str(breaker.state)}


class _Settled(enum.Enum):
    OPEN = "open"
    SETTLED = "settled"
    REVOKED = "revoked"


class Settlement:
    """Who reports a run's outcome: the body that finished, or whoever abandoned it.

    Exactly one of ``settle`` (the body finished) and ``revoke`` (timeout,
    cancel, restart) wins; the loser's report is dropped. So a late result of an
    abandoned body is ignored, and a breaker counts each run once.
    """

    __slots__ = ("_lock", "_state")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._state = _Settled.OPEN

    def settle(self) -> bool:
        return self._close(_Settled.SETTLED)

    def revoke(self) -> bool:
        return self._close(_Settled.REVOKED)

    def _close(self, how: _Settled) -> bool:
        with self._lock:
            if self._state is not _Settled.OPEN:
                return False
            self._state = how
            return True

    @property
    def revoked(self) -> bool:
        return self._state is _Settled.REVOKED


@dataclass(slots=True)
class Run:
    """One admitted job in flight."""

    job: StepJob
    breaker: BreakerMachine | None = None
    trial: bool = False
    settlement: Settlement = field(default_factory=Settlement)
    worker: str | None = None

    @property
    def ident(self) -> Ident:
        j = self.job
        return (j.execution_id, j.key, j.attempt, j.tag)

    def report(self, runtime: Runtime, outcome: Any, ok: bool) -> None:
        """The body finished: count it on the breaker, then tell the execution."""
        if not self.settlement.settle():
            return  # abandoned meanwhile: this late outcome is dropped
        if self.breaker is not None:
            if ok:
                self.breaker.record_success(self.trial)
            else:
                self.breaker.record_failure(self.trial)
                # the failure's event carries the breaker's state it led to
                outcome.details.update(breaker_details(self.breaker))
        runtime.deliver(self.job.execution_id, outcome)

    def abandon(self, runtime: Runtime, error: BaseException | None) -> bool:
        """Give up on the run; with an error, count a failure and fail the step."""
        if not self.settlement.revoke():
            return False  # it finished just before
        details: dict[str, Any] = {}
        if self.breaker is not None:
            if error is None:
                self.breaker.release(self.trial)
            else:
                self.breaker.record_failure(self.trial)
                details = breaker_details(self.breaker)
        if error is not None:
            j = self.job
            failed = RunFailed(j.key, j.attempt, error, j.tag, details)
            runtime.deliver(j.execution_id, failed)
        return True


def admit(runtime: Runtime, breaker: BreakerMachine | None, job: StepJob) -> Run | None:
    """Ask the breaker; an open one fails the step at once, without running its body."""
    if breaker is None:
        return Run(job)
    admission = breaker.acquire()
    if not admission.allowed:
        err = CircuitOpenError(breaker.name, admission.retry_after)
        failed = RunFailed(job.key, job.attempt, err, job.tag, breaker_details(breaker))
        runtime.deliver(job.execution_id, failed)
        return None
    return Run(job, breaker, admission.trial)


# -- messages ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RunJob:
    job: StepJob


@dataclass(frozen=True, slots=True)
class JobDone:
    ident: Ident
    worker: str | None = None


@dataclass(frozen=True, slots=True)
class JobTimedOut:
    ident: Ident


@dataclass(frozen=True, slots=True)
class WorkerCrashed:
    ident: Ident
    worker: str
    error: str


@dataclass(frozen=True, slots=True)
class CancelRuns:
    execution_id: str


@dataclass(frozen=True, slots=True)
class Execute:
    run: Run


def outcome_of(job: StepJob, call: Callable[[], Any]) -> tuple[Any, bool]:
    """Run a sync body and turn what happened into the message for the execution."""
    try:
        output = call()
    except SuspendStep as s:
        return RunSuspended(job.key, job.attempt, s.payload), True
    except Exception as exc:
        return RunFailed(job.key, job.attempt, exc, job.tag), False
    return RunSucceeded(job.key, job.attempt, output, job.tag), True


class TaskWorker(pykka.ThreadingActor):
    """Runs one sync step body at a time on its own thread."""

    use_daemon_thread = True  # an abandoned worker must never keep the process alive

    def __init__(self, runtime: Runtime, supervisor: pykka.ActorRef[Any], name: str) -> None:
        super().__init__()
        self.runtime = runtime
        self.supervisor = supervisor
        self.name = name

    def on_receive(self, message: Any) -> Any:
        if not isinstance(message, Execute):
            return None
        run = message.run
        job = run.job
        try:
            outcome, ok = outcome_of(job, job.body)
        except BaseException as exc:
            err = WorkerCrashedError(f"worker of task {job.task_id!r} died: {exc!r}")
            run.report(self.runtime, RunFailed(job.key, job.attempt, err, job.tag), False)
            self.supervisor.tell(WorkerCrashed(run.ident, self.name, repr(exc)))
            self.stop()
            return None
        run.report(self.runtime, outcome, ok)
        self.supervisor.tell(JobDone(run.ident, self.name))
        return None


class TaskSupervisor(pykka.ThreadingActor):
    """Supervises the sync bodies of one task (see ``AsyncRunner`` for async ones)."""

    use_daemon_thread = True

    def __init__(
        self,
        runtime: Runtime,
        spec: SupervisorSpec,
        breaker: BreakerMachine | None,
        generation: int = 1,
    ) -> None:
        super().__init__()
        self.runtime = runtime
        self.spec = spec
        self.breaker = breaker
        self.generation = generation
        self.intensity = RestartIntensity(spec.max_restarts, spec.restart_period)
        self.idle: list[str] = []
        self.workers: dict[str, pykka.ActorRef[Any]] = {}
        self.busy: dict[str, Run] = {}  # worker name -> run
        self.sync_runs: dict[Ident, Run] = {}
        self.queue: deque[Run] = deque()
        self._serial = 0
        self.escalated = False

    # -- lifecycle ---------------------------------------------------------------
    def on_stop(self) -> None:
        for ref in self.workers.values():
            ref.stop(block=False)
        self.workers.clear()

    def _new_worker(self) -> str:
        self._serial += 1
        name = f"{self.spec.task_id}#{self.generation}.{self._serial}"
        self.workers[name] = TaskWorker.start(self.runtime, self.actor_ref, name)
        return name

    # -- messages ----------------------------------------------------------------
    def on_receive(self, message: Any) -> Any:
        try:
            if isinstance(message, RunJob):
                self._admit(message.job)
            elif isinstance(message, JobDone):
                self._done(message)
            elif isinstance(message, JobTimedOut):
                self._timed_out(message.ident)
            elif isinstance(message, WorkerCrashed):
                self._crashed(message)
            elif isinstance(message, CancelRuns):
                self._cancel(message.execution_id)
        except Exception as exc:  # a supervisor bug must not lose the supervisor
            log.exception(
                "task supervisor %r failed handling %s", self.spec.task_id, describe(message)
            )
            if isinstance(message, RunJob):  # nor leave its execution waiting for ever
                job = message.job
                run = self.sync_runs.pop((job.execution_id, job.key, job.attempt, job.tag), None)
                if run is not None:
                    run.abandon(self.runtime, exc)
                else:
                    self.runtime.deliver(
                        job.execution_id, RunFailed(job.key, job.attempt, exc, job.tag)
                    )
        return None

    def _admit(self, job: StepJob) -> None:
        run = admit(self.runtime, self.breaker, job)
        if run is None:
            return
        self.sync_runs[run.ident] = run
        self.queue.append(run)
        self._drain()

    def _drain(self) -> None:
        while self.queue:
            if not self.idle:
                if len(self.workers) >= self.spec.max_workers:
                    return
                self.idle.append(self._new_worker())
            name = self.idle.pop()
            run = self.queue.popleft()
            if run.settlement.revoked:
                self.idle.append(name)
                continue
            run.worker = name
            self.busy[name] = run
            self.workers[name].tell(Execute(run))
            if run.job.timeout is not None:
                self.runtime.reactor.call_soon(self._arm_timeout, run)

    def _arm_timeout(self, run: Run) -> None:  # loop thread
        assert run.job.timeout is not None
        me = self.actor_ref
        self.runtime.reactor.loop.call_later(
            run.job.timeout, lambda: me.tell(JobTimedOut(run.ident)) if me.is_alive() else None
        )

    def _done(self, msg: JobDone) -> None:
        worker = msg.worker
        run = self.busy.get(worker) if worker is not None else None
        if worker is None or run is None or run.ident != msg.ident:
            return  # an abandoned worker finished late; it was already replaced
        del self.busy[worker]
        self.sync_runs.pop(msg.ident, None)
        self.idle.append(worker)
        self._drain()

    def _timed_out(self, ident: Ident) -> None:
        run = self.sync_runs.get(ident)
        if run is None or run.worker is None or self.busy.get(run.worker) is not run:
            return
        job = run.job
        if not run.abandon(self.runtime, StepTimeoutError(job.task_id, job.timeout or 0.0)):
            return  # it finished just in time; JobDone is on its way
        # the body overran: abandon its worker (its thread cannot be killed) and replace it
        worker = run.worker
        del self.busy[worker]
        del self.sync_runs[ident]
        self.workers.pop(worker).stop(block=False)
        log.warning("task %r step %r timed out; replacing its worker", job.task_id, job.key)
        self.runtime.count_restart("worker")
        self._drain()

    def _crashed(self, msg: WorkerCrashed) -> None:
        self.busy.pop(msg.worker, None)
        self.workers.pop(msg.worker, None)
        self.sync_runs.pop(msg.ident, None)
        log.error("worker %s of task %r crashed: %s", msg.worker, self.spec.task_id, msg.error)
        self.runtime.count_restart("worker")
        if not self.intensity.record_restart():
            self._escalate()
            return
        self._drain()

    def _escalate(self) -> None:
        log.error(
            "task %r: more than %d worker restarts within %ss; restarting its supervisor",
            self.spec.task_id,
            self.spec.max_restarts,
            self.spec.restart_period,
        )
        if self.breaker is not None:
            self.breaker.force_open("supervisor restart intensity exceeded")
        self.escalated = True
        # runs still on workers are failed (retryable); queued ones move to the new supervisor
        for run in list(self.busy.values()):
            error = SupervisorRestartedError(f"supervisor of task {run.job.task_id!r} restarted")
            run.abandon(self.runtime, error)
        queued = [r.job for r in self.queue if not r.settlement.revoked]
        self.queue.clear()
        self.busy.clear()
        self.sync_runs.clear()
        self.runtime.supervisor_escalated(self.spec, queued)

    def _cancel(self, execution_id: str) -> None:
        for ident, run in list(self.sync_runs.items()):
            if ident[0] == execution_id:
                run.abandon(self.runtime, None)
                if run.worker is None:
                    del self.sync_runs[ident]


class AsyncRunner:
    """Runs the async bodies of one task on the reactor loop.

    Every method runs on the loop thread, so it needs no lock. It shares the
    task's breaker with the supervisor (the breaker locks itself) and reports
    outcomes straight to the execution.
    """

    def __init__(self, runtime: Runtime, task_id: str, breaker: BreakerMachine | None) -> None:
        self.runtime = runtime
        self.task_id = task_id
        self.breaker = breaker
        self.runs: dict[Ident, tuple[Run, asyncio.Task[Any]]] = {}

    def start(self, job: StepJob) -> None:
        run = admit(self.runtime, self.breaker, job)
        if run is None:
            return
        task = self.runtime.reactor.loop.create_task(self._run(run))
        self.runs[run.ident] = (run, task)

    def cancel(self, execution_id: str) -> None:
        for ident in [i for i in self.runs if i[0] == execution_id]:
            run, task = self.runs.pop(ident)
            if run.abandon(self.runtime, None):
                task.cancel()

    async def _run(self, run: Run) -> None:
        job = run.job
        ok = False
        deadline = asyncio.timeout(job.timeout) if job.timeout is not None else None
        try:
            coro = job.body()
            if deadline is not None:
                async with deadline:
                    output = await coro
            else:
                output = await coro
            outcome: Any = RunSucceeded(job.key, job.attempt, output, job.tag)
            ok = True
        except SuspendStep as s:
            outcome = RunSuspended(job.key, job.attempt, s.payload)
            ok = True
        except asyncio.CancelledError:
            outcome = (
                None
                if run.settlement.revoked
                else RunFailed(
                    job.key, job.attempt, RuntimeError("step body was cancelled"), job.tag
                )
            )
        except TimeoutError as exc:
            err: BaseException = exc
            if deadline is not None and deadline.expired():
                err = StepTimeoutError(job.task_id, job.timeout or 0.0)
            outcome = RunFailed(job.key, job.attempt, err, job.tag)
        except Exception as exc:
            outcome = RunFailed(job.key, job.attempt, exc, job.tag)
        except BaseException as exc:
            crash = WorkerCrashedError(f"async body of task {job.task_id!r} raised {exc!r}")
            outcome = RunFailed(job.key, job.attempt, crash, job.tag)
        self.runs.pop(run.ident, None)
        if outcome is not None:
            run.report(self.runtime, outcome, ok)
