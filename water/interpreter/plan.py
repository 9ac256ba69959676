"""Walking a flow's plan: starting steps, entering and leaving nodes, deriving the status.

Structural progress that needs no decision (starting the next task, filling
``for_`` slots, moving past a finished stage) happens here, as part of folding an
event; where a decision is needed (a branch, a loop condition, a timer's wake
time, the end), ``state.awaiting`` names it and the decider records it next.
"""

from __future__ import annotations

import bisect
from typing import Any

from pydantic import BaseModel

from water.compatibility import list_fields
from water.events import ErrorInfo
from water.flow import Flow, Node, output_type, signal_type
from water.interpreter.state import (
    BACKOFF,
    CANCELLED,
    COMPLETED,
    READY,
    RUNNING,
    SUSPENDED,
    ExecState,
    Stage,
    StepState,
)
from water.status import ACTIVE, ExecutionStatus
from water.task import Task
from water.timers import is_backoff


# -- status -------------------------------------------------------------------
def parked(step: StepState) -> bool:
    """A running child-flow step whose child waits or is paused: not active work."""
    return step.kind == "flow" and step.child_status in (
        ExecutionStatus.WAITING,
        ExecutionStatus.PAUSED,
    )


def has_active_work(state: ExecState) -> bool:
    if state.compensation is not None and state.compensation.running:
        return True
    return len(state.running) > len(state.parked)


def refresh_status(state: ExecState) -> None:
    """Derive running/waiting from what is in flight (other statuses are explicit).

    ``waiting`` means waiting for the world: a sleep, a signal, a person
    (suspended steps), or a child that waits. A retry back-off is not waiting:
    the execution goes on by itself (it is still idle, and may be passivated).
    """
    if state.status not in ACTIVE:
        return
    if state.awaiting is not None or has_active_work(state):
        state.status = ExecutionStatus.RUNNING
    elif (
        state.suspended
        or state.waiting_signal is not None
        or state.parked
        or any(not is_backoff(t) for t in state.timers)
    ):
        state.status = ExecutionStatus.WAITING
    else:
        state.status = ExecutionStatus.RUNNING


# -- starting steps -------------------------------------------------------------
def step_key(
    node: Node, index: int, slot: int, *, item: int | None = None, iteration: int | None = None
) -> str:
    rid = node.runnables[slot].id
    if item is not None:
        return f"{index}.{rid}[{item}]"
    if iteration is not None:
        return f"{index}.{rid}#{iteration}"
    return f"{index}.{rid}"


def start_step(
    flow: Flow, state: ExecState, index: int, slot: int, key: str, value: Any, item: int = -1
) -> None:
    node = flow.nodes[index]
    runnable = node.runnables[slot]
    is_task = isinstance(runnable, Task)
    carried = key in state.carried
    step = StepState(
        key=key,
        task_id=runnable.id,
        node=index,
        slot=slot,
        kind="task" if is_task else "flow",
        input=value,
        item=item,
        started_at=state.updated_at,
        child_id=None if is_task or carried else f"{state.execution_id}/{key}",
    )
    state.steps[key] = step
    state.running[key] = None
    state.started.append(key)
    if carried:  # a fork: the original's output completes it (the decider journals it)
        state.due[key] = None


def rerun(flow: Flow, state: ExecState, keys: list[str]) -> None:
    """Run these steps of the current stage again, from their first attempt (a retry).

    A stage that waits (a sleep, a signal) is entered again. A nested flow's step
    retries its child (``retry_child``): the child keeps its own completed steps.
    """
    for key in keys:
        step = state.steps[key]
        step.status = RUNNING
        step.attempt = 1
        step.runs += 1
        step.error = None
        step.retry_at = None
        step.finished_at = None
        step.started_at = state.updated_at
        step.resume_data = None
        step.suspend_payload = None
        step.child_status = None
        step.child_suspended = {}
        step.paused_by_parent = False
        if step.kind == "flow":
            step.retry_child = state.retries
        state.running[key] = None
        state.started.append(key)
    stage = state.stage
    if stage is not None and stage.kind in ("sleep", "signal") and not stage.complete:
        state.stage = None
    pump(flow, state)


def fail(state: ExecState, error: ErrorInfo) -> None:
    """The execution fails: the decider records the rollback or the failure next."""
    if state.failure is None and state.compensation is None:
        state.failure = error
        state.awaiting = "fail"


# -- entering and leaving nodes ---------------------------------------------------
def enter(flow: Flow, state: ExecState) -> None:
    index = state.node
    if index >= len(flow.nodes):
        state.stage = None
        state.awaiting = "end"
        return
    node = flow.nodes[index]
    stage = Stage(node=index, kind=node.kind)
    state.stage = stage
    kind = node.kind
    if kind == "task":
        key = step_key(node, index, 0)
        stage.keys = [key]
        start_step(flow, state, index, 0, key, state.value)
    elif kind == "parallel":
        keys = [step_key(node, index, j) for j in range(len(node.runnables))]
        stage.keys = list(keys)
        stage.outputs = [None] * len(node.runnables)
        for j, key in enumerate(keys):
            start_step(flow, state, index, j, key, state.value)
    elif kind == "for":
        items = extract_items(flow, state)
        if isinstance(items, ErrorInfo):
            fail(state, items)
            return
        stage.items = items
        stage.outputs = [None] * len(items)
        stage.keys = [None] * len(items)
        stage.complete = not items
    elif kind == "dag":
        stage.keys = [None] * len(node.runnables)
        stage.outputs = [None] * len(node.runnables)
        stage.ready = node.roots()
        stage.complete = not node.runnables
    elif kind == "branch":
        state.awaiting = "branch"
    elif kind == "while":
        state.awaiting = "loop"
    elif kind == "sleep":
        state.awaiting = "timer"
    elif kind == "signal":
        assert node.signal is not None
        queued = state.signals.get(node.signal)
        if queued:
            state.value = queued.pop(0)
            state.value_ref = ["signal", index]
            if not queued:
                del state.signals[node.signal]
            stage.complete = True
        else:
            state.waiting_signal = node.signal
            if node.timeout is not None:
                state.awaiting = "signal_timeout"


def extract_items(flow: Flow, state: ExecState) -> list[Any] | ErrorInfo:
    """The list a ``for_`` iterates: the value, or the single list field of a model."""
    value = state.value
    if isinstance(value, list):
        return value
    where = f"step {state.node} (for_ {flow.nodes[state.node].runnables[0].id})"
    if isinstance(value, dict):
        tp = value_type(flow, state.value_ref)
        if isinstance(tp, type) and issubclass(tp, BaseModel):
            names = list_fields(tp)
        else:
            names = [k for k, v in value.items() if isinstance(v, list)]
        if len(names) == 1 and isinstance(value.get(names[0]), list):
            items: list[Any] = value[names[0]]
            return items
        return ErrorInfo(
            type="ForInputError",
            message=f"{where} needs a list or a model with exactly one list field; "
            f"got an object with list fields {names}",
            retryable=False,
        )
    return ErrorInfo(
        type="ForInputError",
        message=f"{where} needs a list, got {type(value).__name__}",
        retryable=False,
    )


def value_type(flow: Flow, ref: list[Any]) -> Any:
    """The declared type of a value from its TypeRef (None when untyped or a list)."""
    kind = ref[0]
    if kind == "input":
        return flow.input_type
    if kind == "out":
        return output_type(flow.nodes[ref[1]].runnables[ref[2]])
    if kind == "signal":
        return signal_type(flow.nodes[ref[1]])
    if kind == "dag":
        return flow.stage_output_type(ref[1])
    return None


def pump(flow: Flow, state: ExecState) -> None:
    """Make all progress that needs no decision, while the execution may start work."""
    while state.status in ACTIVE and state.awaiting is None and state.failure is None:
        stage = state.stage
        if stage is None:
            enter(flow, state)
            continue
        node = flow.nodes[stage.node]
        for key in list(state.ready):  # retries whose back-off elapsed
            _restart(state, state.steps[key])
        if stage.kind == "for" and stage.items is not None:
            _fill_slots(flow, state, stage, node)
        if stage.kind == "dag":
            _start_ready(flow, state, stage, node)
        if stage.kind == "while" and not stage.complete and not _stage_busy(state, stage):
            state.awaiting = "loop"
            return
        if not stage.complete:
            return
        _leave(flow, state, stage, node)


def _stage_busy(state: ExecState, stage: Stage) -> bool:
    return any(k is not None and state.steps[k].status != COMPLETED for k in stage.keys[-1:])


def _fill_slots(flow: Flow, state: ExecState, stage: Stage, node: Node) -> None:
    assert stage.items is not None
    limit = node.concurrency or len(stage.items)
    in_flight = stage.next_item - stage.done
    while stage.next_item < len(stage.items) and in_flight < limit:
        k = stage.next_item
        key = step_key(node, stage.node, 0, item=k)
        stage.keys[k] = key
        start_step(flow, state, stage.node, 0, key, stage.items[k], item=k)
        stage.next_item += 1
        in_flight += 1


def _start_ready(flow: Flow, state: ExecState, stage: Stage, node: Node) -> None:
    """Start the ready tasks of a dag stage (those whose dependencies all completed), in
    declared order, while fewer than ``concurrency`` of its tasks are in flight."""
    limit = node.concurrency or len(node.runnables)
    while stage.ready and stage.next_item - stage.done < limit:
        slot = stage.ready.pop(0)
        key = step_key(node, stage.node, slot)
        stage.keys[slot] = key
        deps = node.after[slot]
        start_step(flow, state, stage.node, slot, key, _dag_input(state, stage, node, deps))
        stage.next_item += 1


def dag_task_done(state: ExecState, stage: Stage, node: Node, slot: int) -> None:
    """A dag stage's task completed: its dependents whose dependencies all completed
    now are ready (they start in declared order)."""
    for user in node.dependents[slot]:
        if all(_completed(state, stage, d) for d in node.after[user]):
            bisect.insort(stage.ready, user)


def _completed(state: ExecState, stage: Stage, slot: int) -> bool:
    key = stage.keys[slot]
    return key is not None and state.steps[key].status == COMPLETED


def _dag_input(state: ExecState, stage: Stage, node: Node, deps: tuple[int, ...]) -> Any:
    """No dependency: the stage's input; one: its output; several: their outputs by id."""
    if not deps:
        return state.value
    if len(deps) == 1:
        return stage.outputs[deps[0]]
    return {node.runnables[d].id: stage.outputs[d] for d in deps}


def _leave(flow: Flow, state: ExecState, stage: Stage, node: Node) -> None:
    index = stage.node
    if stage.kind in ("parallel", "for"):
        state.value = stage.outputs
        state.value_ref = ["list", index]
    elif stage.kind == "dag":
        sinks = node.sinks()
        state.value = {node.runnables[slot].id: stage.outputs[slot] for slot in sinks}
        state.value_ref = ["dag", index]
    elif stage.kind in ("task", "branch") and stage.keys:
        last = state.steps[stage.keys[-1]]  # type: ignore[index]
        state.value = last.output
        state.value_ref = ["out", index, last.slot]
    # while: the value was fed back at each iteration; sleep/signal: set already
    state.node = index + 1
    state.stage = None


def _restart(state: ExecState, step: StepState) -> None:
    state.ready.pop(step.key, None)
    step.status = RUNNING
    step.attempt += 1
    step.runs += 1
    step.retry_at = None
    step.started_at = state.updated_at
    state.running[step.key] = None
    state.started.append(step.key)


def stop_everything(state: ExecState) -> list[str]:
    """Cancel in-flight steps and timers; return the keys that were running."""
    stopped = list(state.running)
    for key in stopped:
        state.steps[key].status = CANCELLED
        state.steps[key].finished_at = state.updated_at
    for step in state.steps.values():
        if step.status in (BACKOFF, READY, SUSPENDED):
            step.status = CANCELLED
    state.running.clear()
    state.ready.clear()
    state.parked.clear()
    state.timers.clear()
    state.suspended.clear()
    state.waiting_signal = None
    state.awaiting = None
    return stopped
