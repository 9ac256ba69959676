"""``apply(state, event)``: fold one event into a code-first execution's state.

It updates the bookkeeping (steps, timers, signals, status) and resolves the
future the workflow code awaits for it, if any; the code itself runs later,
when the interpreter steps the loop. Live and replay share this path: replaying
is applying the recorded events in order.
"""

from __future__ import annotations

import asyncio
from typing import Any

from pydantic import ValidationError

from water import events as ev
from water import nesting
from water.definition import as_definition
from water.errors import StepError
from water.status import ExecutionStatus
from water.task import Task
from water.timers import TimerKind, parse_timer, timer_name
from water.types import validate
from water.workflow.state import (
    BACKOFF,
    CANCELLED,
    COMPLETED,
    FAILED,
    HELD,
    READY,
    RUNNING,
    SUSPENDED,
    WfState,
    WfStep,
    refresh_status,
)

ENDS = frozenset({"execution_completed", "execution_failed", ExecutionStatus.CANCELLED})
"""The events that end an execution (until a retry)."""


def position_of(key: str) -> str:
    """The position part of a step key ``"{position}.{id}"`` (ids have no dots)."""
    return key.rsplit(".", 1)[0]


def output_of(target: Any, output: Any) -> Any:
    """A step's journaled output as its declared type."""
    if isinstance(target, Task):
        return validate(target.output_model, output)
    definition = as_definition(target)
    return output if definition is None else validate(definition.output_type, output)


def _future(state: WfState, name: str) -> asyncio.Future[Any] | None:
    run = state.run
    if run is None:
        return None
    future = run.futures.pop(name, None)
    return None if future is None or future.done() else future


def resolve_step(state: WfState, step: WfStep, future: asyncio.Future[Any] | None) -> None:
    """Answer the code awaiting a step that finished."""
    if future is None:
        return
    if step.status == COMPLETED:
        try:
            future.set_result(output_of(state.targets.get(step.key), step.output))
        except ValidationError as exc:
            future.set_exception(exc)
    elif step.error is not None:
        future.set_exception(StepError(step.error))


def _step(state: WfState, key: str, ts: float) -> WfStep | None:
    """The step of an event; a replay meets steps its code has not called (yet)."""
    step = state.steps.get(key)
    if step is None and state.replay is not None:
        position = position_of(key)
        step = WfStep(key, key[len(position) + 1 :], "task", position, started_at=ts)
        state.steps[key] = step
        state.running[key] = None
    return step


def _step_of(event: Any) -> str | None:
    """The key of the step an event is about (a retry's timer included), if any."""
    key = getattr(event, "key", None)
    if isinstance(key, str):
        return key
    timer = getattr(event, "timer", None)
    if isinstance(timer, str):
        kind, rest = parse_timer(timer)
        if kind is TimerKind.RETRY:
            return rest
    return None


def unretried(events: list[Any]) -> list[Any]:
    """The history as replay follows it: what each retry undid left out.

    A retry (``execution_retried``) undoes the end before it and everything about the
    steps it runs again (their failures, back-offs, suspensions, a child's reports),
    so replayed code calls those steps afresh; completed steps stay.
    """
    if not any(e.type == "execution_retried" for e in events):
        return events
    kept: list[Any] = []
    for e in events:
        if e.type == "execution_retried":
            again = set(e.keys)
            kept = [k for k in kept if k.type not in ENDS and _step_of(k) not in again]
        kept.append(e)
    return kept


def apply(state: WfState, event: Any) -> None:
    """Apply ``event`` to ``state`` in place (``seq`` and ``updated_at`` are the caller's)."""
    handler = _HANDLERS.get(event.type)
    if handler is not None:
        handler(state, event)
    refresh_status(state)


# -- handlers -----------------------------------------------------------------------
def _started(state: WfState, e: ev.ExecutionStarted) -> None:
    state.flow_id = e.flow_id
    state.version = e.fingerprint
    state.input = e.input
    state.metadata = dict(e.metadata)
    state.parent_id = e.parent_id
    state.parent_step = e.parent_step
    state.trace = e.trace
    state.forked_from = e.forked_from
    state.carried = {c.key: c.output for c in e.carried}
    state.created_at = e.ts
    state.status = ExecutionStatus.RUNNING


def _step_completed(state: WfState, e: ev.StepCompleted) -> None:
    step = _step(state, e.key, e.ts)
    if step is None or step.status != RUNNING:
        return
    step.status = COMPLETED
    step.output = e.output
    step.finished_at = e.ts
    step.input = None  # nothing needs it any more: keep memory down
    step.child_status = None
    step.child_suspended = {}
    state.running.pop(e.key, None)
    state.parked.pop(e.key, None)
    _drop_child_suspended(state, e.key)
    state.carried.pop(e.key, None)
    state.completed_order.append(e.key)
    resolve_step(state, step, _future(state, e.key))


def _step_failed(state: WfState, e: ev.StepFailed) -> None:
    step = _step(state, e.key, e.ts)
    if step is None or step.status != RUNNING:
        return
    step.error = e.error if e.error.step is not None else e.error.model_copy(update={"step": e.key})
    state.running.pop(e.key, None)
    state.parked.pop(e.key, None)
    _drop_child_suspended(state, e.key)
    if e.retry_at is not None:
        step.status = BACKOFF
        step.retry_at = e.retry_at
        state.timers[timer_name(TimerKind.RETRY, e.key)] = e.retry_at
        return
    step.status = FAILED
    step.finished_at = e.ts
    resolve_step(state, step, _future(state, e.key))


def _step_suspended(state: WfState, e: ev.StepSuspended) -> None:
    step = _step(state, e.key, e.ts)
    if step is None or step.status != RUNNING:
        return
    step.status = SUSPENDED
    step.suspend_payload = e.payload
    step.resume_data = None
    state.running.pop(e.key, None)
    state.suspended[e.key] = e.payload


def _step_resumed(state: WfState, e: ev.StepResumed) -> None:
    step = state.steps.get(e.key)
    if step is None or step.status != SUSPENDED:
        return
    step.status = RUNNING
    step.runs += 1
    step.resume_data = e.data
    step.started_at = e.ts
    state.suspended.pop(e.key, None)
    state.running[e.key] = None


def _drop_child_suspended(state: WfState, key: str) -> None:
    prefix = key + "/"
    for k in [k for k in state.suspended if k.startswith(prefix)]:
        del state.suspended[k]


def _child_updated(state: WfState, e: ev.ChildUpdated) -> None:
    step = _step(state, e.key, e.ts)
    if step is None or step.status != RUNNING:
        return
    step.kind = "workflow"
    step.child_id = step.child_id or f"{state.execution_id}/{e.key}"
    step.child_status = e.status
    step.child_suspended = dict(e.suspended)
    nesting.reported(state, step, e.status)
    if e.status in (ExecutionStatus.WAITING, ExecutionStatus.PAUSED):
        state.parked[e.key] = None
    else:
        state.parked.pop(e.key, None)
    _drop_child_suspended(state, e.key)
    for k, payload in e.suspended.items():
        state.suspended[f"{e.key}/{k}"] = payload


def restart(state: WfState, step: WfStep) -> None:
    """Run a step again (a retry whose back-off elapsed, or one held by a pause)."""
    state.ready.pop(step.key, None)
    state.held.pop(step.key, None)
    if step.status != HELD:
        step.attempt += 1
        step.runs += 1
    step.status = RUNNING
    step.retry_at = None
    step.started_at = state.updated_at
    state.running[step.key] = None


def _timer_armed(state: WfState, e: ev.TimerArmed) -> None:
    state.timers[e.timer] = e.fire_at


def _timer_fired(state: WfState, e: ev.TimerFired) -> None:
    if state.timers.pop(e.timer, None) is None:
        return
    kind, rest = parse_timer(e.timer)
    if kind is TimerKind.RETRY:
        step = state.steps.get(rest)
        if step is not None and step.status == BACKOFF:
            if state.status in (ExecutionStatus.RUNNING, ExecutionStatus.WAITING):
                restart(state, step)
            else:
                step.status = READY
                state.ready[step.key] = None
    elif kind is TimerKind.SLEEP:
        future = _future(state, e.timer)
        if future is not None:
            future.set_result(None)
    elif kind is TimerKind.SIGNAL:
        state.waits.pop(rest, None)
        future = _future(state, e.timer)
        if future is not None:
            future.set_result(("timeout", None))


def _signal_received(state: WfState, e: ev.SignalReceived) -> None:
    for position, wait in state.waits.items():
        if wait.name == e.name:
            del state.waits[position]
            if wait.timer is not None:
                state.timers.pop(wait.timer, None)
            future = _future(state, timer_name(TimerKind.SIGNAL, position))
            if future is not None:
                future.set_result(("signal", e.payload))
            return
    state.signals.setdefault(e.name, []).append(e.payload)


def _pause_requested(state: WfState, e: ev.PauseRequested) -> None:
    state.status = ExecutionStatus.PAUSING
    state.epoch += 1
    nesting.pausing(state.steps[k] for k in state.running)


def _paused(state: WfState, e: ev.Paused) -> None:
    state.status = ExecutionStatus.PAUSED


def _resumed(state: WfState, e: ev.Resumed) -> None:
    state.status = ExecutionStatus.RUNNING
    state.epoch += 1
    for key in [*state.ready, *state.held]:
        restart(state, state.steps[key])


def _retried(state: WfState, e: ev.ExecutionRetried) -> None:
    """Replayed: the end before it is left out (``unretried``), so the code goes on."""
    state.retries += 1
    if e.parent_retry is not None:
        state.parent_retry = e.parent_retry
    if state.status in (ExecutionStatus.PAUSING, ExecutionStatus.PAUSED):
        _resumed(state, ev.Resumed(ts=e.ts))  # a retry runs: it is not paused any more


def stop_everything(state: WfState) -> None:
    """Cancel what is in flight or waiting (the execution is over)."""
    for key in state.running:
        step = state.steps[key]
        step.status = CANCELLED
        step.finished_at = state.updated_at
    for step in state.steps.values():
        if step.status in (BACKOFF, READY, SUSPENDED, HELD):
            step.status = CANCELLED
    state.running.clear()
    state.ready.clear()
    state.held.clear()
    state.parked.clear()
    state.timers.clear()
    state.suspended.clear()
    state.waits.clear()


def _cancelled(state: WfState, e: ev.Cancelled) -> None:
    stop_everything(state)
    state.cancel_reason = e.reason
    state.status = ExecutionStatus.CANCELLED


def _completed(state: WfState, e: ev.ExecutionCompleted) -> None:
    stop_everything(state)
    state.output = e.output
    state.status = ExecutionStatus.COMPLETED


def _failed(state: WfState, e: ev.ExecutionFailed) -> None:
    stop_everything(state)
    state.error = e.error
    state.status = ExecutionStatus.FAILED


def _patch_marked(state: WfState, e: ev.PatchMarked) -> None:
    state.patches.add(e.name)


_HANDLERS: dict[str, Any] = {
    "execution_started": _started,
    "step_completed": _step_completed,
    "step_failed": _step_failed,
    "step_suspended": _step_suspended,
    "step_resumed": _step_resumed,
    "child_updated": _child_updated,
    "timer_armed": _timer_armed,
    "timer_fired": _timer_fired,
    "signal_received": _signal_received,
    "pause_requested": _pause_requested,
    ExecutionStatus.PAUSED: _paused,
    "resumed": _resumed,
    ExecutionStatus.CANCELLED: _cancelled,
    "execution_completed": _completed,
    "execution_failed": _failed,
    "patch_marked": _patch_marked,
    "execution_retried": _retried,
}
