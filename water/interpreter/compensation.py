"""A failed execution's rollback (saga): the compensations of its completed steps.

They run in reverse completion order, one at a time, each under its task's retry
policy (a ``comp:<key>`` timer between attempts); the execution then fails with
its original error, and the view reports what ran and what failed.
"""

from __future__ import annotations

from water import events as ev
from water.flow import Flow
from water.interpreter.plan import stop_everything
from water.interpreter.state import (
    BACKOFF,
    COMPLETED,
    FAILED,
    RUNNING,
    CompensationState,
    ExecState,
)
from water.status import ACTIVE, ExecutionStatus
from water.timers import TimerKind, timer_name


def compensation_started(flow: Flow, state: ExecState, e: ev.CompensationStarted) -> None:
    stop_everything(state)
    if state.status not in ACTIVE:
        state.status = ExecutionStatus.RUNNING
    state.compensation = CompensationState(keys=list(e.keys), error=e.error)
    next_compensation(state)


def next_compensation(state: ExecState) -> None:
    comp = state.compensation
    assert comp is not None
    comp.running = False
    if comp.index >= len(comp.keys):
        state.awaiting = "compensated"
        return
    key = comp.keys[comp.index]
    comp.attempts[key] = comp.attempts.get(key, 0) + 1
    comp.status[key] = RUNNING
    comp.running = True


def compensation_completed(flow: Flow, state: ExecState, e: ev.CompensationCompleted) -> None:
    comp = state.compensation
    if comp is None or not comp.running or comp.keys[comp.index] != e.key:
        return
    comp.status[e.key] = COMPLETED
    comp.index += 1
    next_compensation(state)


def compensation_failed(flow: Flow, state: ExecState, e: ev.CompensationFailed) -> None:
    comp = state.compensation
    if comp is None or not comp.running or comp.keys[comp.index] != e.key:
        return
    comp.errors[e.key] = e.error
    comp.running = False
    if e.retry_at is not None:
        comp.status[e.key] = BACKOFF
        comp.retry_at = e.retry_at
        state.timers[timer_name(TimerKind.UNDO, e.key)] = e.retry_at
    else:
        comp.status[e.key] = FAILED
        comp.index += 1
        next_compensation(state)
