"""The supervisors of an engine: one per task id, plus the async runners and the breakers.

Sync bodies go to the ``TaskSupervisor`` of their task (started on first use,
replaced when it escalates, keeping its queue); async bodies go straight to the
task's ``AsyncRunner`` on the reactor loop. Both share the task's circuit
breaker, and a named breaker is shared by every task that names it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from typing import Any

import pykka

from actors.async_runner import AsyncRunner
from actors.jobs import StepJob, SupervisorSpec
from actors.messages import SystemShutDown
from actors.observer import RuntimeObserver
from actors.reactor import Reactor
from actors.supervisor import CancelRuns, RunJob, TaskSupervisor
from supervision import BreakerMachine, Clock

log = logging.getLogger("water.runtime")


def _depth(ref: pykka.ActorRef[Any]) -> int:
    qsize = getattr(ref.actor_inbox, "qsize", None)
    return int(qsize()) if qsize is not None else 0


class Supervisors:
    """Implements the ``supervisor.Runtime`` protocol for the supervisors it starts."""

    def __init__(
        self,
        reactor: Reactor,
        clock: Clock,
        observer: RuntimeObserver,
        deliver: Callable[[str, Any], None],
    ) -> None:
        self.reactor = reactor
        self._clock = clock
        self._observer = observer
        self._deliver = deliver
        self._lock = threading.RLock()
        self._supervisors: dict[str, pykka.ActorRef[Any]] = {}
        self._runners: dict[str, AsyncRunner] = {}
        self._generations: dict[str, int] = {}
        self._breakers: dict[str, BreakerMachine] = {}
        self._closed = False

    # -- supervisor.Runtime ------------------------------------------------------------
    def deliver(self, execution_id: str, message: Any) -> None:
        self._deliver(execution_id, message)

    def supervisor_escalated(self, spec: SupervisorSpec, queued: list[Any]) -> None:
        """Replace a supervisor that exceeded its restart intensity; keep its queue.

        Called on the old supervisor's thread: it is only told to stop.
        """
        self._observer.actor_restarted("supervisor")
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
        self._observer.actor_restarted(kind)

    # -- breakers ------------------------------------------------------------------------
    def breaker(self, spec: SupervisorSpec) -> BreakerMachine | None:
        config = spec.breaker
        if config is None:
            return None
        name = config.name or spec.task_id
        with self._lock:
            machine = self._breakers.get(name)
            if machine is None:
                machine = BreakerMachine(config, name, self._clock, on_change=self._changed)
                self._breakers[name] = machine
            return machine

    def _changed(self, name: str, old: object, new: object) -> None:
        log.warning("circuit breaker %r: %s -> %s", name, old, new)
        self._observer.breaker_changed(name, str(old), str(new))

    def breakers(self) -> dict[str, BreakerMachine]:
        with self._lock:
            return dict(self._breakers)

    # -- running jobs --------------------------------------------------------------------
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

    def cancel_runs(self, execution_id: str, task_ids: Iterable[str]) -> None:
        """Abandon the runs of an execution in flight under these tasks' supervisors."""
        with self._lock:
            refs = [self._supervisors[t] for t in task_ids if t in self._supervisors]
            runners = [self._runners[t] for t in task_ids if t in self._runners]
        for ref in refs:
            ref.tell(CancelRuns(execution_id))
        for runner in runners:
            self.reactor.call_soon(runner.cancel, execution_id)

    # -- introspection and shutdown -----------------------------------------------------
    def count(self) -> int:
        return len(self._supervisors)

    def mailbox_depth(self) -> int:
        with self._lock:
            refs = list(self._supervisors.values())
        return sum(_depth(r) for r in refs)

    def stop(self, timeout: float) -> None:
        with self._lock:
            self._closed = True
            supervisors = list(self._supervisors.values())
            self._supervisors.clear()
        for ref in supervisors:
            try:
                ref.stop(block=True, timeout=timeout)
            except (pykka.ActorDeadError, pykka.Timeout):
                pass
