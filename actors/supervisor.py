"""TaskSupervisor: one per task id; owns the task's worker pool, timeouts and restarts.

Sync bodies run on a bounded pool of ``TaskWorker`` actors (queued when all are
busy); async bodies run on the reactor loop (``actors.async_runner``). The
supervisor enforces timeouts (a sync worker that overruns is abandoned and
replaced, and its late result is dropped), consults the circuit breaker before
every run, and replaces crashed workers within an OTP-style restart intensity;
beyond it, it escalates: opens its breaker and asks the runtime to restart it
with fresh workers. Outcomes go straight to the execution (through the
runtime's router), so a supervisor is never on a step's result path.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass
from typing import Any

import pykka

from actors.jobs import StepJob, SupervisorSpec
from actors.logsafe import describe
from actors.messages import RunFailed
from actors.runs import (
    Ident,
    Run,
    Runtime,
    SupervisorRestartedError,
    WorkerCrashedError,
    admit,
    outcome_of,
)
from supervision import BreakerMachine, RestartIntensity, StepTimeoutError

log = logging.getLogger("water.supervisor")


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
