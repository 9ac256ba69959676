"""The decisions a flow's execution awaits once its events are folded: a branch, a
loop's condition, a timer's wake time, a signal's timeout, the end, a pause that
settles, the failure (and its compensations). Conditions and ``sleep_until``
functions are user code, called here once: their outcome is recorded as an event.
"""

from __future__ import annotations

import inspect
from typing import Any

from water import events as ev
from water.events import ErrorInfo
from water.flow import Flow, callable_name, output_type
from water.interpreter.failures import error_info
from water.interpreter.plan import has_active_work, value_type
from water.interpreter.state import ExecState
from water.status import ExecutionStatus
from water.task import Task
from water.timers import TimerKind, timer_name
from water.types import validate


def decide(flow: Flow, state: ExecState, now: float) -> list[Any]:
    """The events of the decision the state awaits (none if it awaits nothing)."""
    awaiting = state.awaiting
    if awaiting == "fail":
        return _failing(flow, state, now)
    if awaiting == "compensated":
        assert state.compensation is not None
        return [ev.ExecutionFailed(error=state.compensation.error, ts=now)]
    if state.status == ExecutionStatus.PAUSING and not has_active_work(state):
        return [ev.Paused(ts=now)]
    if state.status not in (ExecutionStatus.RUNNING, ExecutionStatus.WAITING) or awaiting is None:
        return []
    index = state.node
    if awaiting == "end":
        return [ev.ExecutionCompleted(output=state.value, ts=now)]
    node = flow.nodes[index]
    try:
        if awaiting == "branch":
            value = revive(flow, state.value_ref, state.value)
            case = next(
                (i for i, c in enumerate(node.conditions) if _holds(flow, index, c, value)),
                None,
            )
            return [ev.BranchDecided(node=index, case=case, ts=now)]
        if awaiting == "loop":
            assert state.stage is not None and node.max_iterations is not None
            iteration = state.stage.iteration
            value = revive(flow, state.value_ref, state.value)
            proceed = _holds(flow, index, node.conditions[0], value)
            if proceed and iteration >= node.max_iterations:
                return [
                    _decision_error(
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
                    value = revive(flow, state.value_ref, state.value)
                    when = _call(flow, index, "sleep_until function", when, value)
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


def revive(flow: Flow, ref: list[Any], value: Any) -> Any:
    """The typed form of a JSON value (for conditions)."""
    kind = ref[0]
    if kind == "list":
        node = flow.nodes[ref[1]]
        if node.kind == "parallel":
            return [
                validate(output_type(r), v) for r, v in zip(node.runnables, value, strict=False)
            ]
        out = output_type(node.runnables[0])
        return [validate(out, v) for v in value]
    return validate(value_type(flow, ref), value)


def _holds(flow: Flow, index: int, condition: Any, value: Any) -> bool:
    """The truth of a condition; an awaitable is refused (it would always be true)."""
    return bool(_call(flow, index, "condition", condition, value))


def _call(flow: Flow, index: int, what: str, fn: Any, value: Any) -> Any:
    """Call a user function of the value; the decider is synchronous: no awaitables."""
    result = fn(value)
    if inspect.isawaitable(result):
        if inspect.iscoroutine(result):
            result.close()  # never awaited: close it rather than leak a warning
        raise TypeError(
            f"flow {flow.id!r} step {index} ({flow.nodes[index].label()}): "
            f"{what} {callable_name(fn)!r} returned an awaitable "
            f"({type(result).__name__}); it must be a plain (not async) function"
        )
    return result


def _decision_error(index: int, message: str, kind: str, now: float) -> Any:
    info = ErrorInfo(type=kind, message=message, step=f"{index}.while", retryable=False)
    return ev.DecisionFailed(node=index, error=info, ts=now)


def _failing(flow: Flow, state: ExecState, now: float) -> list[Any]:
    """Roll back the completed steps that can be compensated (newest first), or fail."""
    error = state.failure
    assert error is not None
    keys = []
    for key in reversed(state.completed_order):
        step = state.steps[key]
        task = flow.nodes[step.node].runnables[step.slot]
        if isinstance(task, Task) and task.has_compensation:
            keys.append(key)
    if keys:
        return [ev.CompensationStarted(keys=keys, error=error, ts=now)]
    return [ev.ExecutionFailed(error=error, ts=now)]
