"""``WorkflowMachine``: the interpreter of a code-first workflow, as the runtime drives it.

It implements ``actors.protocols.Interpreter`` like ``FlowMachine`` does, so the
engine runs code-first executions unchanged: one coordinator each, steps
dispatched to the same supervisors, every event journaled before its effects.

``handle(message)`` decides the events the message causes (``Decide``), folds
each into the state (``apply``), then lets the code react on its own event loop
(``CodeRunner``, in ``run``): it runs until it waits again, and the durable calls
it made become effects (steps to dispatch, timers to arm, children to start) or
events (a timer's wake time, a drawn value, a patch marker, the end).

The state holds the suspended coroutine, so it lives in memory only: a
checkpoint holds the public view, and ``restore`` replays the whole history,
re-running the code and answering its calls from the journal (``replay``).
An execution that only waits drops its code (``finally`` blocks run then) and
replays it when something happens, exactly as after a passivation.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Hashable, Set
from typing import TYPE_CHECKING, Any

from actors.effects import ArmTimer, Dispatch, Effect, Forward, Status, StopRuns
from actors.jobs import SupervisorSpec
from actors.messages import CommandRejected, Start
from actors.protocols import Stored
from supervision import RetryPolicy
from water import events as ev
from water import nesting
from water.definition import Definition
from water.snapshot import Snapshot
from water.status import TERMINAL, ExecutionStatus, runtime_status
from water.storage.base import ExecutionRecord, TaskResult
from water.task import Task
from water.workflow.decide import Decide
from water.workflow.definition import WorkflowDefinition
from water.workflow.fold import apply
from water.workflow.jobs import step_job
from water.workflow.replay import replay, revive
from water.workflow.run import CodeRunner
from water.workflow.state import WfState, has_active_work
from water.workflow.view import build_view, index_record, task_results

if TYPE_CHECKING:
    from water.tracing import Tracing


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
        self.rng = rng or random.Random()
        self.decide = Decide(definition, default_retry, self.rng)
        self.code = CodeRunner(definition, self.rng, on_child)

    # -- state -------------------------------------------------------------------------
    def restore(self, execution_id: str, stored: Stored | None) -> WfState:
        """A new state, or the whole history replayed (checkpoints hold no code state)."""
        state = WfState(execution_id)
        if stored is not None:
            replay(self.code, state, list(stored.events))
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
        if events and events[0].type == "execution_retried":
            return pending + self._retried(state, events[0], now)
        if (
            events
            and state.run is None
            and state.status not in (ExecutionStatus.PENDING, *TERMINAL)
        ):
            revive(self.code, state)
            pending.extend(state.unjournaled)
            state.unjournaled = []
        state.now = now
        state.out = pending
        for event in events:
            self._fold(state, event)
        out, state.out = state.out, []
        if state.terminal or self._idle(state):
            self.code.stop(state)
        return out

    def _retried(self, state: WfState, event: ev.ExecutionRetried, now: float) -> list[Any]:
        """Replay the history with the retry in it: the code runs again, past the failure."""
        event.seq = state.seq + 1
        history = [*state.history, event]
        self.code.stop(state)
        state.__init__(state.execution_id)  # type: ignore[misc]
        replay(self.code, state, history)
        out, state.unjournaled = [event, *state.unjournaled], []
        if state.terminal or self._idle(state):
            self.code.stop(state)
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
            self.code.start(state)
        self.code.advance(state)

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
                # a retry replays the steps it runs again from their first run and attempt
                ident = ("run", key, step.attempt, step.runs, state.retries)
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

    def step_rows(
        self, state: WfState, written: int, completed_only: bool = False
    ) -> tuple[list[TaskResult], int]:
        return task_results(state, written, completed_only), len(state.completed_order)

    def completed(self, state: WfState) -> int:
        return len(state.completed_order)

    def size(self, state: WfState) -> int:
        return len(state.steps)

    def index_row(self, state: WfState) -> ExecutionRecord:
        return index_record(state, self.definition.id)
