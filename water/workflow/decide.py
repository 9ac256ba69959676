"""Which events a message causes in a code-first execution (pure: reads the state only).

The same rules as a flow's: late or duplicate outcomes are dropped, retries are
decided here with the task's ``RetryPolicy`` (a ``StepFailed`` with ``retry_at``),
steering messages are checked against the status.
"""

from __future__ import annotations

import random
from typing import Any

from pydantic import ValidationError

from actors.messages import (
    Cancel,
    ChildUpdate,
    CommandRejected,
    GetStatus,
    Pause,
    Resume,
    Retry,
    RetryChild,
    RunFailed,
    RunSucceeded,
    RunSuspended,
    Signal,
    Start,
    TimerDue,
    Wake,
)
from supervision import RetryPolicy
from water import events as ev
from water.events import ErrorInfo
from water.interpreter.failures import error_info
from water.interpreter.steering import check_retryable, resume_target, step_resumed, storable
from water.status import TERMINAL, ExecutionStatus
from water.task import Task
from water.types import describe_validation_error, validate
from water.workflow.definition import WorkflowDefinition
from water.workflow.state import COMPLETED, FAILED, RUNNING, WfState, WfStep


class Decide:
    def __init__(
        self, definition: WorkflowDefinition, default_retry: RetryPolicy, rng: random.Random
    ) -> None:
        self.definition = definition
        self.default_retry = default_retry
        self.rng = rng

    def __call__(self, state: WfState, msg: Any, now: float) -> list[Any]:
        if isinstance(msg, RunSucceeded):
            if msg.tag is not None or self._running(state, msg.key, msg.attempt) is None:
                return []
            return [ev.StepCompleted(key=msg.key, attempt=msg.attempt, output=msg.output, ts=now)]
        if isinstance(msg, RunFailed):
            return self._failed(state, msg, now)
        if isinstance(msg, TimerDue):
            # only the arming in force: a late firing of an earlier arming has another deadline
            if state.timers.get(msg.timer) != msg.fire_at or state.status in TERMINAL:
                return []
            return [ev.TimerFired(timer=msg.timer, ts=now)]
        if isinstance(msg, RunSuspended):
            if self._running(state, msg.key, msg.attempt) is None:
                return []
            return [ev.StepSuspended(key=msg.key, attempt=msg.attempt, payload=msg.payload, ts=now)]
        if isinstance(msg, ChildUpdate):
            return self._child(state, msg, now)
        if isinstance(msg, Start):
            return self._start(state, msg, now)
        if isinstance(msg, (GetStatus, Wake)):
            return []
        if isinstance(msg, Pause):
            if state.status in (ExecutionStatus.PAUSING, ExecutionStatus.PAUSED):
                return []
            if state.status in (ExecutionStatus.RUNNING, ExecutionStatus.WAITING):
                return [ev.PauseRequested(ts=now)]
            raise CommandRejected(f"cannot pause an execution that is {state.status}")
        if isinstance(msg, Resume):
            return self._resume(state, msg, now)
        if isinstance(msg, Cancel):
            if state.status in TERMINAL:
                raise CommandRejected(f"execution is already {state.status}; nothing to cancel")
            return [ev.Cancelled(reason=storable(msg.reason, "the cancel reason"), ts=now)]
        if isinstance(msg, Signal):
            return self._signal(state, msg, now)
        if isinstance(msg, (Retry, RetryChild)):
            return self._retry(state, msg, now)
        raise CommandRejected(f"unknown message {type(msg).__name__}", code="invalid")

    def _start(self, state: WfState, msg: Start, now: float) -> list[Any]:
        if state.status != ExecutionStatus.PENDING:
            return []  # idempotent start: the execution exists
        definition = self.definition
        return [
            ev.ExecutionStarted(
                flow_id=definition.id,
                fingerprint=definition.version,
                input=msg.input,
                metadata={"version": definition.version},
                parent_id=msg.parent_id,
                parent_step=msg.parent_step,
                trace=None if msg.trace is None else dict(msg.trace),
                forked_from=msg.forked_from,
                carried=[ev.CarriedOutput(key=k, output=v) for k, v in msg.carried],
                ts=now,
            )
        ]

    @staticmethod
    def _retry(state: WfState, msg: Retry | RetryChild, now: float) -> list[Any]:
        """Replay the code with its steps that did not complete forgotten, so it calls them
        afresh; a step that failed with another error than the execution's is kept (the
        code handled that failure: replay must take the same path).
        """
        parent_retry = msg.generation if isinstance(msg, RetryChild) else None
        if parent_retry is not None and parent_retry <= state.parent_retry:
            return []  # this retry of the parent was applied already
        check_retryable(state.status, msg)
        error = state.error
        steps = state.steps.values()
        if error is not None and not any(s.status == FAILED and s.error == error for s in steps):
            raise CommandRejected(
                f"execution {state.execution_id!r} failed in its workflow code ({error.type}), "
                "not in a step: a retry runs the failed step again and replays the code "
                "around it; fix the code and start a new execution (or fork this one) instead"
            )
        keys = [
            s.key
            for s in steps
            if s.status != COMPLETED and not (s.status == FAILED and s.error != error)
        ]
        return [ev.ExecutionRetried(keys=keys, parent_retry=parent_retry, ts=now)]

    @staticmethod
    def _running(state: WfState, key: str, attempt: int) -> WfStep | None:
        step = state.steps.get(key)
        if step is None or step.status != RUNNING or step.attempt != attempt:
            return None
        return step

    def _failed(self, state: WfState, msg: RunFailed, now: float) -> list[Any]:
        if msg.tag is not None:
            return []
        step = self._running(state, msg.key, msg.attempt)
        if step is None:
            return []
        delay = None
        target = state.targets.get(msg.key)
        if isinstance(target, Task) and state.status not in TERMINAL:
            delay = self._delay(target, msg.attempt, msg.error)
        info = error_info(msg.error, step=msg.key, retryable=delay is not None, details=msg.details)
        return [
            ev.StepFailed(
                key=msg.key,
                attempt=msg.attempt,
                error=info,
                retry_at=None if delay is None else now + delay,
                ts=now,
            )
        ]

    def _delay(self, task: Task[Any, Any], attempt: int, error: BaseException) -> float | None:
        policy = task.retry if task.retry is not None else self.default_retry
        return policy.next_delay(attempt, error, self.rng)

    def _child(self, state: WfState, msg: ChildUpdate, now: float) -> list[Any]:
        step = state.steps.get(msg.key)
        if step is None or step.kind != "workflow" or step.status != RUNNING:
            return []
        if msg.status == ExecutionStatus.COMPLETED:
            return [ev.StepCompleted(key=msg.key, attempt=step.attempt, output=msg.output, ts=now)]
        if msg.status in (ExecutionStatus.FAILED, ExecutionStatus.CANCELLED):
            if isinstance(msg.error, ErrorInfo):
                info = msg.error.model_copy(update={"retryable": False})
            else:
                info = ErrorInfo(
                    type="ChildExecutionCancelled"
                    if msg.status == ExecutionStatus.CANCELLED
                    else "ChildFailed",
                    message=f"child execution {msg.child_id!r} {msg.status}"
                    + (f": {msg.error}" if msg.error else ""),
                    step=msg.key,
                    retryable=False,
                )
            return [ev.StepFailed(key=msg.key, attempt=step.attempt, error=info, ts=now)]
        if msg.status == step.child_status and msg.suspended == step.child_suspended:
            return []
        return [ev.ChildUpdated(key=msg.key, status=msg.status, suspended=msg.suspended, ts=now)]

    def _resume(self, state: WfState, msg: Resume, now: float) -> list[Any]:
        if state.status in TERMINAL or state.status == ExecutionStatus.PENDING:
            raise CommandRejected(f"cannot resume an execution that is {state.status}")
        out: list[Any] = []
        if state.status in (ExecutionStatus.PAUSING, ExecutionStatus.PAUSED):
            out.append(ev.Resumed(ts=now))
        if msg.step is not None or msg.data is not None or (not out and state.suspended):
            key = resume_target(state.suspended, msg.step)
            if key is None:
                if not out:
                    raise CommandRejected("nothing to resume: no step is suspended")
                return out
            out.append(step_resumed(key, state.targets.get(key), msg.data, now))
        elif not out:
            raise CommandRejected(f"execution is {state.status}, not paused or suspended")
        return out

    def _signal(self, state: WfState, msg: Signal, now: float) -> list[Any]:
        if state.status in TERMINAL or state.status == ExecutionStatus.PENDING:
            raise CommandRejected(f"execution is {state.status}; it takes no signals")
        payload = msg.payload
        wait = next((w for w in state.waits.values() if w.name == msg.name), None)
        if wait is not None and wait.model is not None:
            try:
                payload = validate(wait.model, payload)
            except ValidationError as exc:
                raise CommandRejected(
                    f"signal {msg.name!r} payload is invalid: {describe_validation_error(exc)}",
                    code="invalid",
                ) from None
        stored = storable(payload, f"payload of signal {msg.name!r}")
        return [ev.SignalReceived(name=msg.name, payload=stored, ts=now)]
