"""AsyncRunner: the async bodies of one task, run on the reactor loop."""

from __future__ import annotations

import asyncio
from typing import Any

from actors.jobs import StepJob, SuspendStep
from actors.messages import RunFailed, RunSucceeded, RunSuspended
from actors.runs import Ident, Run, Runtime, WorkerCrashedError, admit
from supervision import BreakerMachine, StepTimeoutError


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
