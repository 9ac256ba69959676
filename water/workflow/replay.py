"""Replay: a code-first execution's state rebuilt by running its code again over the
recorded history.

``index`` says what the journal holds by position (the calls, the decisions, the
states of class workflows); the replayed code's calls are checked against it and
answered from it (see ``scope``), and a decision the code never asks for again is a
divergence. A class workflow starts again after its last completed ``@step``, with
that step's recorded state (``_restore``). ``revive`` gets the dropped code of a
waiting execution back the same way.
"""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from water import events as ev
from water.events import ErrorInfo
from water.status import ExecutionStatus
from water.timers import TimerKind, parse_timer
from water.types import describe_validation_error, type_name, validate
from water.workflow.fold import ENDS, apply, position_of, unretried
from water.workflow.run import CodeRunner
from water.workflow.scope import describe_record
from water.workflow.state import (
    CANCELLED,
    HELD,
    READY,
    RUNNING,
    History,
    WfState,
    refresh_status,
)

_ASKED_FOR = frozenset({"timer_armed", "value_recorded", "state_recorded"})


def index(events: list[Any]) -> History:
    """What the history holds, by position: the calls, the decisions, the states."""
    history = History()

    def note(position: str, kind: str, detail: str) -> None:
        history.records[position] = (kind, detail)
        ns, _, number = position.rpartition(".")
        if int(number) > history.last_in.get(ns, -1):
            history.last_in[ns] = int(number)

    for e in events:
        kind = e.type
        if kind in ("step_completed", "step_failed", "step_suspended", "child_updated"):
            position = position_of(e.key)
            note(position, "call", e.key[len(position) + 1 :])
        elif kind == "timer_armed":
            timer_kind, position = parse_timer(e.timer)
            if timer_kind in (TimerKind.SLEEP, TimerKind.SIGNAL):
                note(position, str(timer_kind), "")
                history.decisions[position] = e
        elif kind == "value_recorded":
            note(e.position, e.kind, "")
            history.decisions[e.position] = e
        elif kind == "state_recorded":
            history.states[e.step] = e
        elif kind == "patch_marked":
            history.markers.add(e.name)
        elif kind == "execution_retried":
            history.retries += 1
            history.retried_at = e.seq
    return history


def replay(code: CodeRunner, state: WfState, journal: list[Any]) -> None:
    """Rebuild the state by re-running the code over the recorded history."""
    state.history = list(journal)
    if not journal:
        return
    events = unretried(journal)
    history = index(events)
    state.replay = history
    state.patches = set(history.markers)
    state.now = events[-1].ts
    if any(e.type in ENDS for e in events):  # finished: the view needs no code
        for e in events:
            state.seq, state.updated_at = e.seq, e.ts
            apply(state, e)
        state.seq = journal[-1].seq
        state.replay = None
        return
    restart = max((i for i, e in enumerate(events) if e.type == "state_recorded"), default=0)
    for i, e in enumerate(events):
        if state.terminal:
            break
        state.seq, state.updated_at = e.seq, e.ts
        kind = e.type
        if i < restart:
            apply(state, e)  # a completed step of a class: bookkeeping only
        elif i == restart and kind == "state_recorded":
            _restore(code, state, e)
            code.advance(state)
        elif kind in _ASKED_FOR:
            if e.seq not in history.consumed:
                _unasked(code, state, e)
        elif kind in ("patch_marked", ExecutionStatus.PAUSED):
            apply(state, e)
        else:
            apply(state, e)
            if kind == "execution_started":
                code.start(state)
            code.advance(state)
    state.seq = journal[-1].seq
    # number what this replay decided (a failure), after the recorded history
    for e in state.out:
        e.seq = state.seq + 1
        state.seq = e.seq
        state.history.append(e)
    state.replay = None
    code.settle(state)
    state.unjournaled, state.out = state.out, []


def _unasked(code: CodeRunner, state: WfState, event: Any) -> None:
    """The journal holds a decision the replayed code never asked for: it diverged."""
    run = state.run
    if run is None:
        return
    scope = run.scope
    if event.type == "state_recorded":
        position, recorded = event.step, f"the end of step {event.step!r}"
    elif event.type == "value_recorded":
        position, recorded = event.position, describe_record(event.kind, "")
    else:
        kind, position = parse_timer(event.timer)
        recorded = describe_record(str(kind), "")
    scope.diverged(position, recorded, "does not get there")
    code.settle(state)


def _restore(code: CodeRunner, state: WfState, event: ev.StateRecorded) -> None:
    """Start a class workflow after its last completed ``@step``, with that state."""
    assert state.replay is not None
    state.replay.consumed.add(event.seq)
    for key in (*state.running, *state.ready, *state.held):
        step = state.steps[key]
        if step.status in (RUNNING, HELD, READY):
            step.status = CANCELLED
    for name in (ExecutionStatus.RUNNING, "ready", "held", "parked"):
        getattr(state, name).clear()
    state.timers.clear()
    state.waits.clear()
    state.suspended.clear()
    state.signals = {k: list(v) for k, v in event.signals.items()}
    refresh_status(state)
    definition = code.definition
    try:
        restored = validate(definition.state_type, event.state)
    except ValidationError as exc:
        state.failure = ErrorInfo(
            type="WorkflowStateError",
            message=f"recorded state of workflow {definition.id!r} does not fit "
            f"{type_name(definition.state_type)}: {describe_validation_error(exc)}",
            retryable=False,
        )
        return
    start_at = definition.steps.index(event.step) + 1 if event.step in definition.steps else 0
    code.start(state, restored, start_at)


def revive(code: CodeRunner, state: WfState) -> None:
    """Replay the history in memory to get the (dropped) code of a waiting execution back."""
    history = state.history
    state.__init__(state.execution_id)  # type: ignore[misc]
    replay(code, state, history)
