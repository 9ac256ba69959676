"""``WorkflowMachine``: the decider of a code-first workflow, as the runtime drives it.

It implements ``actors.protocols.Decider`` like ``FlowMachine`` does, so the
engine runs code-first executions unchanged: one coordinator each, steps
dispatched to the same supervisors, every event journaled before its effects.

``handle(message)`` decides the events the message causes (``Decide``), folds
each into the state (``apply``), then steps the workflow's own event loop: the
code runs until it waits again, and the durable calls it made become effects
(steps to dispatch, timers to arm, children to start) or events (a timer's wake
time, a drawn value, a patch marker, the end).

The state holds the suspended coroutine, so it lives in memory only: a
checkpoint holds the public view, and ``recover`` replays the whole history,
re-running the code and answering its calls from the journal (see ``scope``).
An execution that only waits drops its code (``finally`` blocks run then) and
replays it when something happens, exactly as after a passivation.
"""

from __future__ import annotations

import contextvars
import functools
import random
from collections.abc import Callable, Hashable, Set
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from actors.effects import ArmTimer, Dispatch, Effect, Forward, Status, StopRuns
from actors.jobs import SupervisorSpec
from actors.messages import CommandRejected, Start
from actors.protocols import Stored
from supervision import RetryPolicy
from water import events as ev
from water import nesting
from water.context import current_workflow
from water.definition import Definition, as_definition
from water.errors import StepError, UnstorableValueError
from water.events import ErrorInfo
from water.interpreter.decide import error_info
from water.snapshot import Snapshot
from water.status import ACTIVE, TERMINAL, ExecutionStatus, runtime_status
from water.storage.base import ExecutionRecord, TaskResult
from water.task import Task
from water.timers import TimerKind, parse_timer
from water.types import describe_validation_error, to_json, type_name, validate
from water.workflow.decide import Decide
from water.workflow.definition import WorkflowDefinition
from water.workflow.errors import WorkflowCodeStopped
from water.workflow.fold import apply, position_of, resolve_step
from water.workflow.jobs import step_job
from water.workflow.loop import WorkflowLoop
from water.workflow.scope import Scope, describe_record
from water.workflow.state import (
    BACKOFF,
    CANCELLED,
    COMPLETED,
    FAILED,
    HELD,
    READY,
    RUNNING,
    SUSPENDED,
    History,
    Run,
    WfState,
    WfStep,
    has_active_work,
    refresh_status,
)
from water.workflow.view import build_view, index_record, task_results

if TYPE_CHECKING:
    from water.tracing import Tracing

_ASKED_FOR = frozenset({"timer_armed", "value_recorded", "state_recorded"})
_ENDS = frozenset({"execution_completed", "execution_failed", ExecutionStatus.CANCELLED})
_PENDING_WORK = (RUNNING, HELD, BACKOFF, READY, SUSPENDED)


class WorkflowMachine:
    def __init__(
        self,
        definition: WorkflowDefinition,
        *,
        default_retry: RetryPolicy,
        spec_for: Callable[[Task[Any, Any]], SupervisorSpec],
        on_child: Callable[[Definition], None] | None = None,
        rng: random.Random | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.definition = definition
        self.tracing = tracing
        self.spec_for = spec_for
        self.on_child = on_child
        self.rng = rng or random.Random()
        self.decide = Decide(definition, default_retry, self.rng)
        self._order = {name: i for i, name in enumerate(definition.steps)}

    # -- state -------------------------------------------------------------------------
    def restore(self, execution_id: str, stored: Stored | None) -> WfState:
        """A new state, or the whole history replayed (checkpoints hold no code state)."""
        state = WfState(execution_id)
        if stored is not None:
            self._replay(state, list(stored.events))
        if self.tracing is not None:
            self.tracing.restored(state)
        return state

    def handle(self, state: WfState, message: Any, now: float) -> list[Any] | Forward:
        forward = self._forward(state, message)
        if forward is not None:
            return forward
        pending, state.unjournaled = state.unjournaled, []
        try:
            events = self.decide(state, message, now)
        except CommandRejected:
            if not pending:
                raise
            # what the recovery decided (the end, after a divergence?) is journaled first;
            # the message did not apply to the state it was decided against
            events = []
        if (
            events
            and state.run is None
            and state.status not in (ExecutionStatus.PENDING, *TERMINAL)
        ):
            self._revive(state)
            pending.extend(state.unjournaled)
            state.unjournaled = []
        state.now = now
        state.out = pending
        for event in events:
            self._fold(state, event)
        out, state.out = state.out, []
        if state.terminal or self._idle(state):
            self._stop_code(state)
        return out

    def _fold(self, state: WfState, event: Any) -> None:
        """Journal and apply an event caused by a message, then let the code react."""
        event.seq = state.seq + 1
        state.seq = event.seq
        state.updated_at = event.ts
        state.history.append(event)
        state.out.append(event)
        apply(state, event)
        if event.type == "execution_started":
            self._start_code(state)
        self._advance(state)

    def record(self, state: WfState, event: Any) -> None:
        """An event the code or the machine decided now (numbered after a replay's history)."""
        event.ts = state.now
        if state.replay is None:
            event.seq = state.seq + 1
            state.seq = event.seq
            state.updated_at = event.ts
            state.history.append(event)
        state.out.append(event)
        apply(state, event)

    def draw(self, state: WfState, kind: str) -> Any:
        """A new value of the world (``now``, ``uuid4``, ``random``), JSON-able."""
        if kind == "now":
            return state.now
        if kind == "uuid4":
            import uuid

            return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        return self.rng.random()

    # -- the code ------------------------------------------------------------------------
    def _start_code(self, state: WfState, restored: Any = None, start_at: int = 0) -> None:
        loop = WorkflowLoop()  # type: ignore[abstract]  # unused loop APIs raise
        loop.set_time(state.updated_at)
        context = contextvars.copy_context()
        run = Run(loop, context)
        run.scope = Scope(self, state, run)
        context.run(current_workflow.set, run.scope)
        state.run = run
        definition = self.definition
        try:
            data = validate(definition.input_type, state.input)
        except ValidationError as exc:
            state.failure = ErrorInfo(
                type="WorkflowInputError",
                message=f"input of workflow {definition.id!r} does not fit "
                f"{type_name(definition.input_type)}: {describe_validation_error(exc)}",
                retryable=False,
            )
            return
        run.main = loop.create_task(definition.program(data, restored, start_at), context=context)

    def _stop_code(self, state: WfState) -> None:
        """Drop the code (it is replayed when needed): its ``finally`` blocks run now."""
        run = state.run
        if run is None:
            return
        run.stopping = True
        state.run = None
        run.loop.close_all(run.context)
        run.futures.clear()

    def _advance(self, state: WfState) -> None:
        run = state.run
        if run is not None and run.main is not None and not state.terminal:
            run.loop.set_time(state.updated_at)
            run.loop.run_ready()
        self._settle(state)

    def _settle(self, state: WfState) -> None:
        """Decisions of the machine once the code waits: the end, a pause, a dead end."""
        if state.terminal or state.status == ExecutionStatus.PENDING:
            return
        history = state.replay
        if state.failure is None:
            run = state.run
            main = None if run is None else run.main
            if main is not None and main.done():
                if history is None:
                    self.record(state, self._outcome(state, main))
                    return
                # the history of a run that ended holds its end (and is not replayed)
                self._check_return(state, history)
                if state.failure is None:
                    assert run is not None
                    run.scope.diverged(
                        "end", "a run that went on waiting", "returns from the workflow"
                    )
            elif history is None:
                if state.status == ExecutionStatus.PAUSING and not has_active_work(state):
                    self.record(state, ev.Paused())
                elif state.status in ACTIVE and main is not None and self._blocked(state):
                    state.failure = ErrorInfo(
                        type="WorkflowBlocked",
                        message=f"workflow {self.definition.id!r} waits for something that is "
                        "not durable (an asyncio future, event or task nothing will complete); "
                        "it can never go on. Wait with water.sleep, wait_for_signal or a task.",
                        retryable=False,
                    )
        if state.failure is not None:
            self.record(state, ev.ExecutionFailed(error=state.failure))

    def _check_return(self, state: WfState, history: History) -> None:
        """Code that returns during a replay must have made every call the journal holds."""
        run = state.run
        assert run is not None
        last = history.last_in.get("")
        if last is not None and last >= run.counters.get("", 0) and not self.definition.steps:
            position = str(last)
            run.scope.diverged(
                position, describe_record(*history.records[position]), "returns before it"
            )

    @staticmethod
    def _blocked(state: WfState) -> bool:
        """The code waits, but for nothing durable (a step it called, a timer, a signal).

        Only the steps in flight, held, ready or suspended are looked at (a back-off has
        its timer), never every step so far: this runs after every message.
        """
        if state.timers or state.waits:
            return False
        targets, steps = state.targets, state.steps
        pending = (*state.running, *state.held, *state.ready, *state.suspended)
        return not any(k in targets and steps[k].status in _PENDING_WORK for k in pending)

    def _outcome(self, state: WfState, main: Any) -> Any:
        definition = self.definition
        if main.cancelled():
            return ev.ExecutionFailed(
                error=ErrorInfo(
                    type="WorkflowCancelled",
                    message=f"workflow {definition.id!r} code was cancelled from inside",
                    retryable=False,
                )
            )
        exc = main.exception()
        if exc is None:
            try:
                typed = validate(definition.output_type, main.result())
                output = to_json(typed, f"output of workflow {definition.id!r}")
            except (ValidationError, UnstorableValueError) as err:
                message = str(err)
                if isinstance(err, ValidationError):
                    message = (
                        f"output of workflow {definition.id!r} does not fit "
                        f"{type_name(definition.output_type)}: {describe_validation_error(err)}"
                    )
                return ev.ExecutionFailed(
                    error=ErrorInfo(type="WorkflowOutputError", message=message, retryable=False)
                )
            return ev.ExecutionCompleted(output=output)
        if isinstance(exc, StepError):
            return ev.ExecutionFailed(error=exc.info)
        if isinstance(exc, WorkflowCodeStopped):
            exc = RuntimeError("workflow code was stopped")
        return ev.ExecutionFailed(error=error_info(exc, retryable=False))

    def schedule(self, state: WfState, run: Run, position: str, target: Any, data: Any) -> Any:
        """The code calls a task or a workflow at ``position``: the future of its outcome."""
        definition = as_definition(target)
        key = f"{position}.{target.id}"
        step = state.steps.get(key)
        if step is None:  # else a replay met its outcome before the code got here
            step = WfStep(key, target.id, "task", position, started_at=state.updated_at)
            state.steps[key] = step
            if state.status in (ExecutionStatus.PAUSING, ExecutionStatus.PAUSED):
                step.status = HELD
                state.held[key] = None
            else:
                state.running[key] = None
        step.input = data if step.status != COMPLETED else None
        if definition is not None:
            step.kind = "workflow"
            step.child_id = f"{state.execution_id}/{key}"
            if self.on_child is not None:
                self.on_child(definition)
        state.targets[key] = target
        future = run.loop.create_future()
        if step.status in (COMPLETED, FAILED):
            resolve_step(state, step, future)
        else:
            run.futures[key] = future
        refresh_status(state)
        return future

    # -- replay --------------------------------------------------------------------------
    def _index(self, events: list[Any]) -> History:
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
        return history

    def _replay(self, state: WfState, events: list[Any]) -> None:
        """Rebuild the state by re-running the code over the recorded history."""
        state.history = list(events)
        if not events:
            return
        history = self._index(events)
        state.replay = history
        state.patches = set(history.markers)
        state.now = events[-1].ts
        if any(e.type in _ENDS for e in events):  # finished: the view needs no code
            for e in events:
                state.seq, state.updated_at = e.seq, e.ts
                apply(state, e)
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
                self._restore(state, e)
                self._advance(state)
            elif kind in _ASKED_FOR:
                if e.seq not in history.consumed:
                    self._unasked(state, e)
            elif kind in ("patch_marked", ExecutionStatus.PAUSED):
                apply(state, e)
            else:
                apply(state, e)
                if kind == "execution_started":
                    self._start_code(state)
                self._advance(state)
        state.seq = events[-1].seq
        # number what this replay decided (a failure), after the recorded history
        for e in state.out:
            e.seq = state.seq + 1
            state.seq = e.seq
            state.history.append(e)
        state.replay = None
        self._settle(state)
        state.unjournaled, state.out = state.out, []

    def _unasked(self, state: WfState, event: Any) -> None:
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
        self._settle(state)

    def _restore(self, state: WfState, event: ev.StateRecorded) -> None:
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
        definition = self.definition
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
        start_at = definition.steps.index(event.step) + 1 if event.step in self._order else 0
        self._start_code(state, restored, start_at)

    def _revive(self, state: WfState) -> None:
        """Replay the history in memory to get the (dropped) code of a waiting execution back."""
        history = state.history
        state.__init__(state.execution_id)  # type: ignore[misc]
        self._replay(state, history)

    # -- effects -------------------------------------------------------------------------
    def effects(self, state: WfState, performed: Set[Hashable]) -> list[Effect]:
        out: list[Effect] = []
        ident: tuple[Any, ...]
        reported = nesting.report(state, performed)
        if reported is not None:
            out.append(reported)
        if state.terminal:
            if state.status != ExecutionStatus.COMPLETED and StopRuns().ident not in performed:
                out.append(StopRuns())  # runs may still be in flight
            nesting.cancel_children(state, state.steps.values(), performed, out)
            return out
        for key in state.running:
            step = state.steps[key]
            target = state.targets.get(key)
            if step.kind == "task":
                ident = ("run", key, step.attempt, step.runs)
                if target is not None and ident not in performed:
                    out.append(
                        Dispatch(
                            ident,
                            self.spec_for(target),
                            functools.partial(step_job, state, step, target, self.tracing),
                        )
                    )
                continue
            start = None
            if target is not None:
                start = Start(target.id, step.input, state.execution_id, key, state.trace)
            nesting.steer(state, step, start, performed, out)
        for timer, fire_at in state.timers.items():
            arm = ArmTimer(timer, fire_at)
            if arm.ident not in performed:
                out.append(arm)
        return out

    def _forward(self, state: WfState, message: Any) -> Forward | None:
        """Resumes of a child's suspended steps go to the child."""
        return nesting.forward_resume(state, state.steps, message, ("workflow",))

    # -- status --------------------------------------------------------------------------
    def status(self, state: WfState) -> Status:
        return runtime_status(state.status, self._idle(state))

    @staticmethod
    def _idle(state: WfState) -> bool:
        """Nothing in flight: the execution only waits (for the world, a timer, a resume)."""
        return (
            state.status
            in (ExecutionStatus.RUNNING, ExecutionStatus.WAITING, ExecutionStatus.PAUSED)
            and not has_active_work(state)
            and not state.unjournaled
            and (state.status != ExecutionStatus.RUNNING or bool(state.timers))
        )

    def view(self, state: WfState, detail: bool = True) -> Snapshot:
        return build_view(state, self.definition.id, steps=detail)

    # -- what the journal writes beside the events (water.journal.Journaled) ------------
    def dump(self, state: WfState) -> None:
        return None  # the code cannot be stored: a recovery replays every event

    def step_rows(self, state: WfState, written: int) -> tuple[list[TaskResult], int]:
        return task_results(state, written), len(state.completed_order)

    def size(self, state: WfState) -> int:
        return len(state.steps)

    def index_row(self, state: WfState) -> ExecutionRecord:
        return index_record(state, self.definition.id)
