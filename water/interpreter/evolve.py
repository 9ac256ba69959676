"""``evolve(state, event)``: fold one event into an execution's state.

Deterministic and free of user code: replaying the same events always rebuilds
the same state. Structural progress that needs no decision (starting the next
task, filling ``for_`` slots, moving past a finished stage) happens here; where a
decision is needed (a branch, a loop condition, a timer's wake time, the end),
``state.awaiting`` names it and the decider records it as the next event.
"""

from __future__ import annotations

from typing import Any

from water import events as ev
from water import nesting
from water.events import ErrorInfo
from water.flow import Flow
from water.interpreter.compensation import (
    compensation_completed,
    compensation_failed,
    compensation_started,
)
from water.interpreter.plan import (
    dag_task_done,
    fail,
    parked,
    pump,
    refresh_status,
    rerun,
    start_step,
    step_key,
    stop_everything,
)
from water.interpreter.state import (
    BACKOFF,
    COMPLETED,
    FAILED,
    READY,
    RUNNING,
    SUSPENDED,
    ExecState,
)
from water.status import ExecutionStatus
from water.task import Task
from water.timers import TimerKind, parse_timer, timer_name

__all__ = ["evolve"]


def evolve(flow: Flow, state: ExecState, event: Any) -> ExecState:
    """Apply ``event`` to ``state`` in place and return it."""
    state.seq = event.seq if event.seq else state.seq + 1
    state.updated_at = event.ts
    handler = _HANDLERS.get(event.type)
    if handler is not None:
        handler(flow, state, event)
    refresh_status(state)
    return state


# -- event handlers ------------------------------------------------------------------
def _started(flow: Flow, state: ExecState, e: ev.ExecutionStarted) -> None:
    state.flow_id = e.flow_id
    state.fingerprint = e.fingerprint
    state.input = e.input
    state.variables = dict(e.variables)
    state.metadata = dict(e.metadata)
    state.parent_id = e.parent_id
    state.parent_step = e.parent_step
    state.trace = e.trace
    state.forked_from = e.forked_from
    state.carried = {c.key: c.output for c in e.carried}
    state.created_at = e.ts
    state.status = ExecutionStatus.RUNNING
    state.node = 0
    state.value = e.input
    state.value_ref = ["input"]
    pump(flow, state)


def _step_completed(flow: Flow, state: ExecState, e: ev.StepCompleted) -> None:
    step = state.steps.get(e.key)
    if step is None or step.status != RUNNING:
        return
    step.status = COMPLETED
    step.output = e.output
    step.finished_at = e.ts
    runnable = flow.nodes[step.node].runnables[step.slot]
    if not (isinstance(runnable, Task) and runnable.has_compensation):
        step.input = None  # only a compensation needs it later: keep snapshots small
    step.child_status = None
    step.child_suspended = {}
    state.running.pop(e.key, None)
    state.parked.pop(e.key, None)
    if state.due:
        state.due.pop(e.key, None)
        state.carried.pop(e.key, None)
    state.completed_order.append(e.key)
    state.last_by_task[step.task_id] = e.key
    if step.kind == "flow":
        _drop_child_suspended(state, e.key)
    stage = state.stage
    if stage is None or stage.node != step.node:
        return
    if stage.kind in ("parallel", "for", "dag"):
        idx = step.item if stage.kind == "for" else step.slot
        stage.outputs[idx] = e.output
        stage.done += 1
        total = len(stage.outputs)
        stage.complete = stage.done == total
        if stage.kind == "dag":
            dag_task_done(state, stage, flow.nodes[stage.node], idx)
    elif stage.kind == "while":
        state.value = e.output
        state.value_ref = ["out", step.node, 0]
        stage.iteration += 1
    else:
        stage.complete = True
    pump(flow, state)


def _step_failed(flow: Flow, state: ExecState, e: ev.StepFailed) -> None:
    step = state.steps.get(e.key)
    if step is None or step.status != RUNNING:
        return
    step.error = e.error
    state.running.pop(e.key, None)
    state.parked.pop(e.key, None)
    if step.kind == "flow":
        _drop_child_suspended(state, e.key)
    if e.retry_at is not None:
        step.status = BACKOFF
        step.retry_at = e.retry_at
        state.timers[timer_name(TimerKind.RETRY, e.key)] = e.retry_at
    else:
        step.status = FAILED
        step.finished_at = e.ts
        fail(state, e.error.model_copy(update={"step": e.key}) if e.error.step is None else e.error)


def _step_suspended(flow: Flow, state: ExecState, e: ev.StepSuspended) -> None:
    step = state.steps.get(e.key)
    if step is None or step.status != RUNNING:
        return
    step.status = SUSPENDED
    step.suspend_payload = e.payload
    step.resume_data = None
    state.running.pop(e.key, None)
    state.suspended[e.key] = e.payload


def _step_resumed(flow: Flow, state: ExecState, e: ev.StepResumed) -> None:
    step = state.steps.get(e.key)
    if step is None or step.status != SUSPENDED:
        return
    step.status = RUNNING
    step.runs += 1
    step.resume_data = e.data
    step.started_at = e.ts
    state.suspended.pop(e.key, None)
    state.running[e.key] = None
    state.started.append(e.key)


def _drop_child_suspended(state: ExecState, key: str) -> None:
    prefix = key + "/"
    for k in [k for k in state.suspended if k.startswith(prefix)]:
        del state.suspended[k]


def _child_updated(flow: Flow, state: ExecState, e: ev.ChildUpdated) -> None:
    step = state.steps.get(e.key)
    if step is None or step.status != RUNNING:
        return
    step.child_status = e.status
    step.child_suspended = dict(e.suspended)
    nesting.reported(state, step, e.status)
    if parked(step):
        state.parked[e.key] = None
    else:
        state.parked.pop(e.key, None)
    _drop_child_suspended(state, e.key)
    for k, payload in e.suspended.items():
        state.suspended[f"{e.key}/{k}"] = payload


def _branch_decided(flow: Flow, state: ExecState, e: ev.BranchDecided) -> None:
    state.awaiting = None
    stage = state.stage
    assert stage is not None
    stage.case = e.case
    if e.case is None:
        stage.complete = True  # no match: the value passes through
    else:
        node = flow.nodes[e.node]
        key = step_key(node, e.node, e.case)
        stage.keys = [key]
        start_step(flow, state, e.node, e.case, key, state.value)
    pump(flow, state)


def _loop_decided(flow: Flow, state: ExecState, e: ev.LoopDecided) -> None:
    state.awaiting = None
    stage = state.stage
    assert stage is not None
    if e.proceed:
        node = flow.nodes[e.node]
        key = step_key(node, e.node, 0, iteration=e.iteration)
        stage.keys.append(key)
        start_step(flow, state, e.node, 0, key, state.value)
    else:
        stage.complete = True
    pump(flow, state)


def _decision_failed(flow: Flow, state: ExecState, e: ev.DecisionFailed) -> None:
    state.awaiting = None
    fail(state, e.error)


def _timer_armed(flow: Flow, state: ExecState, e: ev.TimerArmed) -> None:
    state.timers[e.timer] = e.fire_at
    if state.awaiting in ("timer", "signal_timeout"):
        state.awaiting = None
        if state.stage is not None:
            state.stage.timer = e.timer


def _timer_fired(flow: Flow, state: ExecState, e: ev.TimerFired) -> None:
    if state.timers.pop(e.timer, None) is None:
        return
    kind, rest = parse_timer(e.timer)
    if kind is TimerKind.RETRY:
        step = state.steps.get(rest)
        if step is not None and step.status == BACKOFF:
            step.status = READY
            state.ready[step.key] = None
    elif kind is TimerKind.UNDO:
        comp = state.compensation
        if comp is not None and comp.keys[comp.index] == rest:
            comp.retry_at = None
            comp.attempts[rest] = comp.attempts.get(rest, 0) + 1
            comp.status[rest] = RUNNING
            comp.running = True
    elif kind is TimerKind.SLEEP:
        if state.stage is not None and state.stage.timer == e.timer:
            state.stage.complete = True
    elif kind is TimerKind.SIGNAL:
        stage = state.stage
        if stage is not None and stage.timer == e.timer and state.waiting_signal is not None:
            node = flow.nodes[stage.node]
            state.waiting_signal = None
            if node.has_default:
                from water.types import to_json

                state.value = to_json(node.default)
                state.value_ref = ["signal", stage.node]
                stage.complete = True
            else:
                fail(
                    state,
                    ErrorInfo(
                        type="SignalTimeout",
                        message=f"no signal {node.signal!r} arrived within {node.timeout}s",
                        step=f"{stage.node}.signal:{node.signal}",
                        retryable=False,
                    ),
                )
    pump(flow, state)


def _signal_received(flow: Flow, state: ExecState, e: ev.SignalReceived) -> None:
    stage = state.stage
    if state.waiting_signal == e.name and stage is not None:
        state.waiting_signal = None
        state.value = e.payload
        state.value_ref = ["signal", stage.node]
        if stage.timer is not None:
            state.timers.pop(stage.timer, None)
        stage.complete = True
        pump(flow, state)
    else:
        state.signals.setdefault(e.name, []).append(e.payload)


def _pause_requested(flow: Flow, state: ExecState, e: ev.PauseRequested) -> None:
    state.status = ExecutionStatus.PAUSING
    state.epoch += 1
    nesting.pausing(state.steps[k] for k in state.running)


def _paused(flow: Flow, state: ExecState, e: ev.Paused) -> None:
    state.status = ExecutionStatus.PAUSED


def _resumed(flow: Flow, state: ExecState, e: ev.Resumed) -> None:
    state.status = ExecutionStatus.RUNNING
    state.epoch += 1
    pump(flow, state)


def _cancelled(flow: Flow, state: ExecState, e: ev.Cancelled) -> None:
    stop_everything(state)
    state.cancel_reason = e.reason
    state.status = ExecutionStatus.CANCELLED


def _execution_completed(flow: Flow, state: ExecState, e: ev.ExecutionCompleted) -> None:
    state.awaiting = None
    state.output = e.output
    state.status = ExecutionStatus.COMPLETED


def _execution_retried(flow: Flow, state: ExecState, e: ev.ExecutionRetried) -> None:
    state.status = ExecutionStatus.RUNNING
    state.error = None
    state.failure = None
    state.cancel_reason = None
    state.retries += 1
    if e.parent_retry is not None:
        state.parent_retry = e.parent_retry
    rerun(flow, state, e.keys)


def _execution_failed(flow: Flow, state: ExecState, e: ev.ExecutionFailed) -> None:
    stop_everything(state)
    state.error = e.error
    state.status = ExecutionStatus.FAILED
    if state.compensation is not None:
        state.compensation.running = False


_HANDLERS: dict[str, Any] = {
    "execution_started": _started,
    "step_completed": _step_completed,
    "step_failed": _step_failed,
    "step_suspended": _step_suspended,
    "step_resumed": _step_resumed,
    "child_updated": _child_updated,
    "branch_decided": _branch_decided,
    "loop_decided": _loop_decided,
    "decision_failed": _decision_failed,
    "timer_armed": _timer_armed,
    "timer_fired": _timer_fired,
    "signal_received": _signal_received,
    "pause_requested": _pause_requested,
    ExecutionStatus.PAUSED: _paused,
    "resumed": _resumed,
    ExecutionStatus.CANCELLED: _cancelled,
    "compensation_started": compensation_started,
    "compensation_completed": compensation_completed,
    "compensation_failed": compensation_failed,
    "execution_completed": _execution_completed,
    "execution_failed": _execution_failed,
    "execution_retried": _execution_retried,
}
