"""``evolve(state, event)``: fold one event into an execution's state.

Deterministic and free of user code: replaying the same events always rebuilds
the same state. Structural progress that needs no decision (starting the next
task, filling ``for_`` slots, moving past a finished stage) happens here; where a
decision is needed (a branch, a loop condition, a timer's wake time, the end),
``state.awaiting`` names it and the decider records it as the next event.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from water import events as ev
from water import nesting
from water.compatibility import list_fields
from water.events import ErrorInfo
from water.flow import Flow, Node, output_type, signal_type
from water.interpreter.state import (
    BACKOFF,
    CANCELLED,
    COMPLETED,
    FAILED,
    READY,
    RUNNING,
    SUSPENDED,
    CompensationState,
    ExecState,
    Stage,
    StepState,
)
from water.task import Task

ACTIVE = ("running", "waiting")


def evolve(flow: Flow, state: ExecState, event: Any) -> ExecState:
    """Apply ``event`` to ``state`` in place and return it."""
    state.seq = event.seq if event.seq else state.seq + 1
    state.updated_at = event.ts
    handler = _HANDLERS.get(event.type)
    if handler is not None:
        handler(flow, state, event)
    refresh_status(state)
    return state


# -- status -------------------------------------------------------------------
def parked(step: StepState) -> bool:
    """A running child-flow step whose child waits or is paused: not active work."""
    return step.kind == "flow" and step.child_status in ("waiting", "paused")


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
        state.status = "running"
    elif (
        state.suspended
        or state.waiting_signal is not None
        or state.parked
        or any(not t.startswith(("retry:", "comp:")) for t in state.timers)
    ):
        state.status = "waiting"
    else:
        state.status = "running"


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
    step = StepState(
        key=key,
        task_id=runnable.id,
        node=index,
        slot=slot,
        kind="task" if is_task else "flow",
        input=value,
        item=item,
        started_at=state.updated_at,
        child_id=None if is_task else f"{state.execution_id}/{key}",
    )
    state.steps[key] = step
    state.running[key] = None
    state.started.append(key)


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


def _leave(flow: Flow, state: ExecState, stage: Stage, node: Node) -> None:
    index = stage.node
    if stage.kind in ("parallel", "for"):
        state.value = stage.outputs
        state.value_ref = ["list", index]
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
    state.created_at = e.ts
    state.status = "running"
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
    state.completed_order.append(e.key)
    state.last_by_task[step.task_id] = e.key
    if step.kind == "flow":
        _drop_child_suspended(state, e.key)
    stage = state.stage
    if stage is None or stage.node != step.node:
        return
    if stage.kind in ("parallel", "for"):
        idx = step.slot if stage.kind == "parallel" else step.item
        stage.outputs[idx] = e.output
        stage.done += 1
        total = len(stage.outputs)
        stage.complete = stage.done == total
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
        state.timers[f"retry:{e.key}"] = e.retry_at
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
    kind, _, rest = e.timer.partition(":")
    if kind == "retry":
        step = state.steps.get(rest)
        if step is not None and step.status == BACKOFF:
            step.status = READY
            state.ready[step.key] = None
    elif kind == "comp":
        comp = state.compensation
        if comp is not None and comp.keys[comp.index] == rest:
            comp.retry_at = None
            comp.attempts[rest] = comp.attempts.get(rest, 0) + 1
            comp.status[rest] = RUNNING
            comp.running = True
    elif kind == "sleep":
        if state.stage is not None and state.stage.timer == e.timer:
            state.stage.complete = True
    elif kind == "signal":
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
    state.status = "pausing"
    state.epoch += 1
    nesting.pausing(state.steps[k] for k in state.running)


def _paused(flow: Flow, state: ExecState, e: ev.Paused) -> None:
    state.status = "paused"


def _resumed(flow: Flow, state: ExecState, e: ev.Resumed) -> None:
    state.status = "running"
    state.epoch += 1
    pump(flow, state)


def _stop_everything(state: ExecState) -> list[str]:
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


def _cancelled(flow: Flow, state: ExecState, e: ev.Cancelled) -> None:
    _stop_everything(state)
    state.cancel_reason = e.reason
    state.status = "cancelled"


def _compensation_started(flow: Flow, state: ExecState, e: ev.CompensationStarted) -> None:
    _stop_everything(state)
    if state.status not in ACTIVE:
        state.status = "running"
    state.compensation = CompensationState(keys=list(e.keys), error=e.error)
    _next_compensation(state)


def _next_compensation(state: ExecState) -> None:
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


def _compensation_completed(flow: Flow, state: ExecState, e: ev.CompensationCompleted) -> None:
    comp = state.compensation
    if comp is None or not comp.running or comp.keys[comp.index] != e.key:
        return
    comp.status[e.key] = COMPLETED
    comp.index += 1
    _next_compensation(state)


def _compensation_failed(flow: Flow, state: ExecState, e: ev.CompensationFailed) -> None:
    comp = state.compensation
    if comp is None or not comp.running or comp.keys[comp.index] != e.key:
        return
    comp.errors[e.key] = e.error
    comp.running = False
    if e.retry_at is not None:
        comp.status[e.key] = BACKOFF
        comp.retry_at = e.retry_at
        state.timers[f"comp:{e.key}"] = e.retry_at
    else:
        comp.status[e.key] = FAILED
        comp.index += 1
        _next_compensation(state)


def _execution_completed(flow: Flow, state: ExecState, e: ev.ExecutionCompleted) -> None:
    state.awaiting = None
    state.output = e.output
    state.status = "completed"


def _execution_failed(flow: Flow, state: ExecState, e: ev.ExecutionFailed) -> None:
    _stop_everything(state)
    state.error = e.error
    state.status = "failed"
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
    "paused": _paused,
    "resumed": _resumed,
    "cancelled": _cancelled,
    "compensation_started": _compensation_started,
    "compensation_completed": _compensation_completed,
    "compensation_failed": _compensation_failed,
    "execution_completed": _execution_completed,
    "execution_failed": _execution_failed,
}
