"""``decide(state, message)``: which events a message causes.

Pure with respect to the state (it reads, never writes it). Decisions that
depend on user code or on the world are made here and recorded as events:
branch conditions, loop conditions, timer wake times, retry delays (with their
jitter drawn from the given random source).
"""

from __future__ import annotations

import inspect
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
from supervision import CircuitOpenError, RetryPolicy
from water import events as ev
from water.errors import UnstorableValueError
from water.events import ErrorInfo
from water.flow import Flow, callable_name, output_type
from water.interpreter.jobs import UNDO
from water.interpreter.plan import has_active_work, value_type
from water.interpreter.state import CANCELLED, FAILED, RUNNING, ExecState, StepState
from water.status import TERMINAL, ExecutionStatus
from water.task import Task
from water.timers import TimerKind, timer_name
from water.types import describe_validation_error, safe_text, to_json, validate


class Advance:
    """Internal message: take the decision the state is awaiting, if any."""


ADVANCE = Advance()


def error_info(
    exc: BaseException,
    *,
    step: str | None = None,
    retryable: bool = True,
    details: dict[str, Any] | None = None,
) -> ErrorInfo:
    """The journaled form of an exception (type name and message, never the object)."""
    info_details = dict(details or {})
    if isinstance(exc, ValidationError):
        info_details["errors"] = _validation_errors(exc)
    if isinstance(exc, CircuitOpenError):
        info_details.setdefault("breaker", exc.breaker)
    message = str(exc) or type(exc).__name__
    return ErrorInfo(
        type=type(exc).__name__,
        message=safe_text(message),  # an exception's text may hold anything
        step=step,
        retryable=retryable,
        details=info_details or None,
    )


def _validation_errors(exc: ValidationError) -> Any:
    """The field errors as JSON; without the inputs when those cannot be stored."""
    try:
        return to_json(exc.errors(include_url=False, include_context=False))
    except UnstorableValueError:
        return [
            {
                "loc": [p if isinstance(p, int) else safe_text(str(p)) for p in e["loc"]],
                "msg": safe_text(e["msg"]),
                "type": e["type"],
            }
            for e in exc.errors(include_url=False, include_context=False, include_input=False)
        ]


def storable(value: Any, what: str) -> Any:
    """The JSON form of a value a message brings; ``CommandRejected`` if it cannot be stored."""
    try:
        return to_json(value, what)
    except UnstorableValueError as exc:
        raise CommandRejected(str(exc), code="invalid") from None


def check_retryable(status: str, msg: Retry | RetryChild) -> None:
    """``CommandRejected`` unless an execution in ``status`` can be retried by ``msg``.

    A user retries a failed execution; a parent's retry also retries a cancelled child
    (a parent that fails cancels its running children).
    """
    allowed = _BY_PARENT if isinstance(msg, RetryChild) else _BY_USER
    if status not in allowed:
        raise CommandRejected(
            f"cannot retry an execution that is {status}; only a failed execution can be retried"
        )


_BY_USER = frozenset({ExecutionStatus.FAILED})
_BY_PARENT = frozenset({ExecutionStatus.FAILED, ExecutionStatus.CANCELLED})


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

    def revive(self, ref: list[Any], value: Any) -> Any:
        """The typed form of a JSON value (for conditions)."""
        kind = ref[0]
        if kind == "list":
            node = self.flow.nodes[ref[1]]
            if node.kind == "parallel":
                return [
                    validate(output_type(r), v) for r, v in zip(node.runnables, value, strict=False)
                ]
            out = output_type(node.runnables[0])
            return [validate(out, v) for v in value]
        return validate(value_type(self.flow, ref), value)

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
            return self._pending(state, now)
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
            return self._pause(state, now)
        if isinstance(msg, Resume):
            return self._resume(state, msg, now)
        if isinstance(msg, Cancel):
            if state.status == ExecutionStatus.CANCELLED:
                return []  # already holds: answered with the snapshot, as a repeated pause
            if state.status in TERMINAL:
                raise CommandRejected(f"execution is already {state.status}; nothing to cancel")
            return [ev.Cancelled(reason=storable(msg.reason, "the cancel reason"), ts=now)]
        if isinstance(msg, Signal):
            return self._signal(state, msg, now)
        if isinstance(msg, (Retry, RetryChild)):
            return self._retry(state, msg, now)
        raise CommandRejected(f"unknown message {type(msg).__name__}", code="invalid")

    def _retry(self, state: ExecState, msg: Retry | RetryChild, now: float) -> list[Any]:
        """Run the failed (or cancelled) steps of the stage the execution stopped at again.

        A rolled-back execution is not retried: its compensations undid the completed
        steps a retry would build on.
        """
        parent_retry = msg.generation if isinstance(msg, RetryChild) else None
        if parent_retry is not None and parent_retry <= state.parent_retry:
            return []  # this retry of the parent was applied already
        check_retryable(state.status, msg)
        comp = state.compensation
        if comp is not None:
            raise CommandRejected(
                f"execution {state.execution_id!r} was rolled back: the compensations of "
                f"{comp.keys} ran after it failed, so the steps a retry would build on were "
                "undone; start a new execution instead"
            )
        stage = state.stage
        keys = [] if stage is None else [k for k in stage.keys if k is not None]
        keys = [k for k in keys if state.steps[k].status in (FAILED, CANCELLED)]
        if state.status == ExecutionStatus.FAILED and not any(
            state.steps[k].status == FAILED for k in keys
        ):
            where = state.error.step if state.error is not None else None
            raise CommandRejected(
                f"execution {state.execution_id!r} failed"
                + (f" at {where!r}" if where else "")
                + (f" ({state.error.type})" if state.error is not None else "")
                + ", not in a step: a retry runs failed steps again and no step failed; "
                "start a new execution (or fork this one) instead"
            )
        return [ev.ExecutionRetried(keys=keys, parent_retry=parent_retry, ts=now)]

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

    def _pause(self, state: ExecState, now: float) -> list[Any]:
        if state.status in (ExecutionStatus.PAUSING, ExecutionStatus.PAUSED):
            return []
        if state.status in (ExecutionStatus.RUNNING, ExecutionStatus.WAITING):
            return [ev.PauseRequested(ts=now)]
        raise CommandRejected(f"cannot pause an execution that is {state.status}")

    def _resume(self, state: ExecState, msg: Resume, now: float) -> list[Any]:
        if state.status in TERMINAL or state.status == ExecutionStatus.PENDING:
            raise CommandRejected(f"cannot resume an execution that is {state.status}")
        out: list[Any] = []
        if state.status in (ExecutionStatus.PAUSING, ExecutionStatus.PAUSED):
            out.append(ev.Resumed(ts=now))
        # not paused and nothing named to resume: its effect already holds (no events)
        if msg.step is not None or msg.data is not None or (not out and state.suspended):
            key = self._resume_target(state, msg.step)
            if key is None:
                if not out:
                    raise CommandRejected("nothing to resume: no step is suspended")
                return out
            step = state.steps[key]
            task = self.flow.nodes[step.node].runnables[step.slot]
            data = msg.data
            model = task.resume_model if isinstance(task, Task) else None
            if model is not None:
                try:
                    data = validate(model, data)
                except ValidationError as exc:
                    raise CommandRejected(
                        f"resume data for step {key!r} does not fit {model.__name__}: "
                        f"{describe_validation_error(exc)}",
                        code="invalid",
                    ) from None
            stored = storable(data, f"resume data for step {key!r}")
            out.append(ev.StepResumed(key=key, data=stored, ts=now))
        return out

    def _resume_target(self, state: ExecState, step: str | None) -> str | None:
        own = [k for k in state.suspended if "/" not in k]
        if step is not None:
            if step in own:
                return step
            raise CommandRejected(
                f"step {step!r} is not suspended; suspended steps: {sorted(state.suspended)}",
                code="not_found" if not state.suspended else "conflict",
            )
        if not state.suspended:
            return None
        if len(state.suspended) > 1:
            raise CommandRejected(
                "several steps are suspended; say which with Resume(step=...): "
                f"{sorted(state.suspended)}"
            )
        return own[0] if own else None

    def _signal(self, state: ExecState, msg: Signal, now: float) -> list[Any]:
        if state.status in TERMINAL:
            raise CommandRejected(f"execution is {state.status}; it takes no more signals")
        models = [n.model for n in self.flow.nodes if n.kind == "signal" and n.signal == msg.name]
        if not models:
            raise CommandRejected(
                f"flow {self.flow.id!r} never waits for signal {msg.name!r}", code="invalid"
            )
        payload = msg.payload
        if models[0] is not None:
            try:
                payload = validate(models[0], payload)
            except ValidationError as exc:
                raise CommandRejected(
                    f"signal {msg.name!r} payload is invalid: {describe_validation_error(exc)}",
                    code="invalid",
                ) from None
        stored = storable(payload, f"payload of signal {msg.name!r}")
        return [ev.SignalReceived(name=msg.name, payload=stored, ts=now)]

    # -- decisions the state awaits -------------------------------------------
    def _pending(self, state: ExecState, now: float) -> list[Any]:
        awaiting = state.awaiting
        if awaiting == "fail":
            return self._failing(state, now)
        if awaiting == "compensated":
            assert state.compensation is not None
            return [ev.ExecutionFailed(error=state.compensation.error, ts=now)]
        if state.status == ExecutionStatus.PAUSING and not has_active_work(state):
            return [ev.Paused(ts=now)]
        if (
            state.status not in (ExecutionStatus.RUNNING, ExecutionStatus.WAITING)
            or awaiting is None
        ):
            return []
        index = state.node
        if awaiting == "end":
            return [ev.ExecutionCompleted(output=state.value, ts=now)]
        node = self.flow.nodes[index]
        try:
            if awaiting == "branch":
                value = self.revive(state.value_ref, state.value)
                case = next(
                    (i for i, c in enumerate(node.conditions) if self._holds(index, c, value)),
                    None,
                )
                return [ev.BranchDecided(node=index, case=case, ts=now)]
            if awaiting == "loop":
                assert state.stage is not None and node.max_iterations is not None
                iteration = state.stage.iteration
                value = self.revive(state.value_ref, state.value)
                proceed = self._holds(index, node.conditions[0], value)
                if proceed and iteration >= node.max_iterations:
                    return [
                        self._decision_error(
                            index,
                            f"while_ {node.runnables[0].id!r} reached max_iterations="
                            f"{node.max_iterations} and its condition still holds",
                            "LoopLimitExceeded",
                            now,
                        )
                    ]
                return [ev.LoopDecided(node=index, iteration=iteration, proceed=proceed, ts=now)]
            if awaiting == "timer":
                if node.duration is not None:
                    fire_at = now + node.duration
                else:
                    when = node.until
                    if callable(when):
                        value = self.revive(state.value_ref, state.value)
                        when = self._call(index, "sleep_until function", when, value)
                    fire_at = when.timestamp()  # type: ignore[union-attr]
                return [
                    ev.TimerArmed(timer=timer_name(TimerKind.SLEEP, index), fire_at=fire_at, ts=now)
                ]
            if awaiting == "signal_timeout":
                assert node.timeout is not None
                return [
                    ev.TimerArmed(
                        timer=timer_name(TimerKind.SIGNAL, index),
                        fire_at=now + node.timeout,
                        ts=now,
                    )
                ]
        except Exception as exc:
            return [
                ev.DecisionFailed(
                    node=index,
                    error=error_info(exc, step=f"{index}.{node.kind}", retryable=False),
                    ts=now,
                )
            ]
        return []

    def _holds(self, index: int, condition: Any, value: Any) -> bool:
        """The truth of a condition; an awaitable is refused (it would always be true)."""
        return bool(self._call(index, "condition", condition, value))

    def _call(self, index: int, what: str, fn: Any, value: Any) -> Any:
        """Call a user function of the value; the decider is synchronous: no awaitables."""
        result = fn(value)
        if inspect.isawaitable(result):
            if inspect.iscoroutine(result):
                result.close()  # never awaited: close it rather than leak a warning
            raise TypeError(
                f"flow {self.flow.id!r} step {index} ({self.flow.nodes[index].label()}): "
                f"{what} {callable_name(fn)!r} returned an awaitable "
                f"({type(result).__name__}); it must be a plain (not async) function"
            )
        return result

    def _decision_error(self, index: int, message: str, kind: str, now: float) -> Any:
        info = ErrorInfo(type=kind, message=message, step=f"{index}.while", retryable=False)
        return ev.DecisionFailed(node=index, error=info, ts=now)

    def _failing(self, state: ExecState, now: float) -> list[Any]:
        error = state.failure
        assert error is not None
        keys = []
        for key in reversed(state.completed_order):
            step = state.steps[key]
            task = self.flow.nodes[step.node].runnables[step.slot]
            if isinstance(task, Task) and task.has_compensation:
                keys.append(key)
        if keys:
            return [ev.CompensationStarted(keys=keys, error=error, ts=now)]
        return [ev.ExecutionFailed(error=error, ts=now)]
