"""``decide(state, message)``: which events a message causes.

Pure with respect to the state (it reads, never writes it). Decisions that
depend on user code or on the world are made here and recorded as events:
branch conditions, loop conditions, timer wake times, retry delays (with their
jitter drawn from the given random source).

``Decider`` is the entry point: it decides the outcomes of steps (a run's result, a
failure and its retry, a nested execution's update) and the start; steering messages
go to ``steering``, the decisions the state awaits to ``awaiting``.
"""

from __future__ import annotations

import random
from typing import Any

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
from water.flow import Flow
from water.interpreter import awaiting, steering
from water.interpreter.failures import error_info
from water.interpreter.jobs import UNDO
from water.interpreter.state import RUNNING, ExecState, StepState
from water.status import TERMINAL, ExecutionStatus
from water.task import Task
from water.types import to_json


class Advance:
    """Internal message: take the decision the state is awaiting, if any."""


ADVANCE = Advance()


class Decider:
    """Decisions for executions of one flow."""

    def __init__(
        self, flow: Flow, default_retry: RetryPolicy, rng: random.Random | None = None
    ) -> None:
        self.flow = flow
        self.default_retry = default_retry
        self.rng = rng or random.Random()

    # -- policies ------------------------------------------------------------
    def retry_policy(self, task: Any) -> RetryPolicy:
        if isinstance(task, Task) and task.retry is not None:
            return task.retry
        if self.flow.retry is not None:
            return self.flow.retry
        return self.default_retry

    # -- decide --------------------------------------------------------------
    def decide(self, state: ExecState, msg: Any, now: float) -> list[Any]:
        if isinstance(msg, Advance):
            if state.due:  # steps of a fork that its original's outputs complete
                return [
                    ev.StepCompleted(
                        key=key,
                        attempt=state.steps[key].attempt,
                        output=state.carried[key],
                        ts=now,
                    )
                    for key in state.due
                ]
            return awaiting.decide(self.flow, state, now)
        if isinstance(msg, RunSucceeded):
            return self._succeeded(state, msg, now)
        if isinstance(msg, RunFailed):
            return self._failed(state, msg, now)
        if isinstance(msg, TimerDue):
            # only the arming in force: a late or repeated firing of an earlier arming
            # of this name (the previous retry's back-off) has another deadline
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
        if isinstance(msg, (GetStatus, Wake)):  # a wake-up only rebuilds: nothing to decide
            return []
        if isinstance(msg, Pause):
            return steering.pause(state, now)
        if isinstance(msg, Resume):
            return steering.resume(self.flow, state, msg, now)
        if isinstance(msg, Cancel):
            return steering.cancel(state, msg, now)
        if isinstance(msg, Signal):
            return steering.signal(self.flow, state, msg, now)
        if isinstance(msg, (Retry, RetryChild)):
            return steering.retry(state, msg, now)
        raise CommandRejected(f"unknown message {type(msg).__name__}", code="invalid")

    def _start(self, state: ExecState, msg: Start, now: float) -> list[Any]:
        if state.status != ExecutionStatus.PENDING:
            return []  # idempotent start: the execution exists
        return [
            ev.ExecutionStarted(
                flow_id=self.flow.id,
                fingerprint=self.flow.fingerprint,
                input=msg.input,
                variables=to_json(self.flow.variables, f"variables of flow {self.flow.id!r}"),
                metadata=to_json(self.flow.metadata, f"metadata of flow {self.flow.id!r}"),
                parent_id=msg.parent_id,
                parent_step=msg.parent_step,
                trace=None if msg.trace is None else dict(msg.trace),
                forked_from=msg.forked_from,
                carried=[ev.CarriedOutput(key=k, output=v) for k, v in msg.carried],
                ts=now,
            )
        ]

    @staticmethod
    def _undoing(state: ExecState, key: str, attempt: int) -> bool:
        """Is this the compensation run in flight (a late or duplicate outcome is not)?"""
        comp = state.compensation
        return (
            comp is not None
            and comp.running
            and comp.keys[comp.index] == key
            and comp.attempts.get(key) == attempt
        )

    @staticmethod
    def _running(state: ExecState, key: str, attempt: int) -> StepState | None:
        """The step if this attempt of it is in flight (a late or duplicate outcome is not)."""
        step = state.steps.get(key)
        if step is None or step.status != RUNNING or step.attempt != attempt:
            return None
        return step

    def _succeeded(self, state: ExecState, msg: RunSucceeded, now: float) -> list[Any]:
        if msg.tag == UNDO:
            if not self._undoing(state, msg.key, msg.attempt):
                return []
            return [ev.CompensationCompleted(key=msg.key, attempt=msg.attempt, ts=now)]
        if self._running(state, msg.key, msg.attempt) is None:
            return []
        return [ev.StepCompleted(key=msg.key, attempt=msg.attempt, output=msg.output, ts=now)]

    def _failed(self, state: ExecState, msg: RunFailed, now: float) -> list[Any]:
        if msg.tag == UNDO:
            if not self._undoing(state, msg.key, msg.attempt):
                return []
            step = state.steps[msg.key]
            task = self.flow.nodes[step.node].runnables[step.slot]
            delay = self._delay(task, msg.attempt, msg.error)
            info = error_info(
                msg.error, step=msg.key, retryable=delay is not None, details=msg.details
            )
            return [
                ev.CompensationFailed(
                    key=msg.key,
                    attempt=msg.attempt,
                    error=info,
                    retry_at=None if delay is None else now + delay,
                    ts=now,
                )
            ]
        current = self._running(state, msg.key, msg.attempt)
        if current is None:
            return []
        task = self.flow.nodes[current.node].runnables[current.slot]
        delay = self._delay(task, msg.attempt, msg.error)
        if state.status in TERMINAL:
            delay = None
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

    def _delay(self, task: Any, attempt: int, error: BaseException) -> float | None:
        return self.retry_policy(task).next_delay(attempt, error, self.rng)

    def _child(self, state: ExecState, msg: ChildUpdate, now: float) -> list[Any]:
        step = state.steps.get(msg.key)
        if step is None or step.kind != "flow" or step.status != RUNNING:
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
                    message=f"nested flow execution {msg.child_id!r} {msg.status}"
                    + (f": {msg.error}" if msg.error else ""),
                    step=msg.key,
                    retryable=False,
                )
            return [ev.StepFailed(key=msg.key, attempt=step.attempt, error=info, ts=now)]
        if msg.status == step.child_status and msg.suspended == step.child_suspended:
            return []
        return [ev.ChildUpdated(key=msg.key, status=msg.status, suspended=msg.suspended, ts=now)]
