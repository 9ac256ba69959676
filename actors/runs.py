"""One run of a step body, whoever runs it: its settlement, its admission, its outcome.

A run is one job handed to a supervisor (sync bodies, on worker threads) or to an
async runner (async bodies, on the loop). Exactly one party reports its outcome:
the body that finished, or whoever abandoned it (a timeout, a cancel, a restart);
the circuit breaker is asked before the body runs and told of the outcome once.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Protocol

from actors.jobs import StepJob, SupervisorSpec, SuspendStep
from actors.messages import RunFailed, RunSucceeded, RunSuspended
from actors.reactor import Reactor
from supervision import BreakerMachine, CircuitOpenError, WaterError

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


def outcome_of(job: StepJob, call: Callable[[], Any]) -> tuple[Any, bool]:
    """Run a sync body and turn what happened into the message for the execution."""
    try:
        output = call()
    except SuspendStep as s:
        return RunSuspended(job.key, job.attempt, s.payload), True
    except Exception as exc:
        return RunFailed(job.key, job.attempt, exc, job.tag), False
    return RunSucceeded(job.key, job.attempt, output, job.tag), True
