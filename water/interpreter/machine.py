"""``FlowMachine``: the interpreter of one flow, as the runtime drives it.

It glues the pure parts together (``decide``, ``evolve``, effects, the public
view) and implements ``actors.protocols.Interpreter`` (and ``water.journal.Journaled``
for what is written beside the events). ``handle`` runs the classic loop: decide
the events a message causes, fold each into the state, then take every decision
the new state awaits (a branch, a loop condition, a timer, the end) the same way,
until nothing is pending.
"""

from __future__ import annotations

import functools
import random
from collections.abc import Callable, Hashable, Set
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from actors.effects import ArmTimer, Dispatch, Effect, Forward, Status, StopRuns
from actors.jobs import SupervisorSpec
from actors.messages import CommandRejected, Retry, RetryChild, Signal, Start
from actors.protocols import Stored
from supervision import RetryPolicy
from water import nesting
from water.errors import FlowChangedError
from water.flow import Flow
from water.interpreter.decide import ADVANCE, Decider
from water.interpreter.evolve import evolve
from water.interpreter.jobs import UNDO, compensation_job, step_job
from water.interpreter.plan import has_active_work
from water.interpreter.state import RUNNING, ExecState, encode_state, load_state
from water.interpreter.view import build_view, task_results
from water.snapshot import Snapshot
from water.status import TERMINAL, ExecutionStatus, runtime_status
from water.storage.base import ExecutionRecord, JSONText, TaskResult
from water.task import Task

if TYPE_CHECKING:
    from water.tracing import Tracing
MAX_DECISIONS = 100_000


class FlowMachine:
    def __init__(
        self,
        flow: Flow,
        *,
        default_retry: RetryPolicy,
        spec_for: Callable[[Task[Any, Any]], SupervisorSpec],
        allow_flow_changes: bool = False,
        rng: random.Random | None = None,
        tracing: Tracing | None = None,
    ) -> None:
        self.flow = flow
        self.tracing = tracing
        self.decider = Decider(flow, default_retry, rng)
        self.spec_for = spec_for
        self.allow_flow_changes = allow_flow_changes
        self._signal_names = {n.signal for n in flow.nodes if n.kind == "signal"}

    # -- state ---------------------------------------------------------------------
    def restore(self, execution_id: str, stored: Stored | None) -> ExecState:
        if stored is None:
            return ExecState(execution_id=execution_id)
        cp = stored.checkpoint
        state = load_state(cp) if cp is not None else ExecState(execution_id=execution_id)
        for event in stored.events:
            evolve(self.flow, state, event)
        if (
            state.fingerprint
            and state.fingerprint != self.flow.fingerprint
            and not self.allow_flow_changes
            and state.status not in TERMINAL
        ):
            raise FlowChangedError(
                execution_id, self.flow.id, state.fingerprint, self.flow.fingerprint
            )
        if self.tracing is not None:
            self.tracing.restored(state)
        return state

    def handle(self, state: ExecState, message: Any, now: float) -> list[Any] | Forward:
        forward = self._forward(state, message)
        if forward is not None:
            return forward
        flow = self.flow
        if isinstance(message, (Retry, RetryChild)):
            self._check_unchanged(state)
        decide = self.decider.decide
        state.started.clear()
        events = decide(state, message, now)
        for event in events:
            event.seq = state.seq + 1
            evolve(flow, state, event)
        for _ in range(MAX_DECISIONS):
            more = decide(state, ADVANCE, now)
            if not more:
                return events
            for event in more:
                event.seq = state.seq + 1
                evolve(flow, state, event)
            events.extend(more)
        raise RuntimeError(f"flow {flow.id!r}: decisions did not settle")

    def _check_unchanged(self, state: ExecState) -> None:
        """A retry goes on under the flow the execution started with (or one allowed)."""
        if (
            state.fingerprint
            and state.fingerprint != self.flow.fingerprint
            and not self.allow_flow_changes
        ):
            raise CommandRejected(
                f"flow {self.flow.id!r} changed since execution {state.execution_id!r} "
                f"started (structure {state.fingerprint} -> {self.flow.fingerprint}), so it "
                "cannot be retried; fork it to run the new flow, or allow flow changes"
            )

    # -- effects ---------------------------------------------------------------------
    def effects(self, state: ExecState, performed: Set[Hashable]) -> list[Effect]:
        out: list[Effect] = []
        ident: tuple[Any, ...]
        reported = nesting.report(state, performed)
        if reported is not None:
            out.append(reported)
        if state.status in TERMINAL:
            if state.status != ExecutionStatus.COMPLETED and StopRuns().ident not in performed:
                out.append(StopRuns())  # runs may still be in flight
            nesting.cancel_children(state, state.steps.values(), performed, out)
            return out
        flow = self.flow
        steps = state.steps
        # Usually only the steps (re)started by the last message can need a dispatch;
        # a new incarnation (nothing performed yet), steering and waiting children
        # need every running step looked at.
        everything = not performed or state.status != ExecutionStatus.RUNNING or bool(state.parked)
        for key in state.running if everything else state.started:
            step = steps.get(key)
            if step is None or step.status != RUNNING:
                continue
            if step.kind == "task":
                ident = ("run", key, step.attempt, step.runs)
                if ident not in performed:
                    task = flow.nodes[step.node].runnables[step.slot]
                    assert isinstance(task, Task)
                    out.append(
                        Dispatch(
                            ident,
                            self.spec_for(task),
                            functools.partial(step_job, flow, state, step, self.tracing),
                        )
                    )
                continue
            child_flow = flow.nodes[step.node].runnables[step.slot]
            start = Start(child_flow.id, step.input, state.execution_id, key, state.trace)
            nesting.steer(state, step, start, performed, out)
        for timer, fire_at in state.timers.items():
            arm = ArmTimer(timer, fire_at)
            if arm.ident not in performed:
                out.append(arm)
        comp = state.compensation
        if comp is not None and comp.running:
            key = comp.keys[comp.index]
            attempt = comp.attempts[key]
            ident = (UNDO, key, attempt)
            if ident not in performed:
                step = steps[key]
                task = flow.nodes[step.node].runnables[step.slot]
                assert isinstance(task, Task)
                out.append(
                    Dispatch(
                        ident,
                        self.spec_for(task),
                        functools.partial(
                            compensation_job, flow, state, step, attempt, self.tracing
                        ),
                    )
                )
        return out

    def _forward(self, state: ExecState, message: Any) -> Forward | None:
        """Resumes of a nested flow's steps and signals a child waits for go to the child."""
        forward = nesting.forward_resume(state, state.steps, message, ("flow",))
        if forward is not None:
            return forward
        if isinstance(message, Signal) and message.name not in self._signal_names:
            for key in state.running:
                step = state.steps[key]
                if step.kind == "flow" and step.child_id is not None:
                    return Forward(step.child_id, message)
        return None

    # -- status ----------------------------------------------------------------------
    def status(self, state: ExecState) -> Status:
        return runtime_status(state.status, self._idle(state))

    @staticmethod
    def _idle(state: ExecState) -> bool:
        """Nothing in flight: the execution only waits (for the world, a timer, a resume)."""
        return (
            state.status
            in (ExecutionStatus.RUNNING, ExecutionStatus.WAITING, ExecutionStatus.PAUSED)
            and state.awaiting is None
            and not has_active_work(state)
            and (state.status != ExecutionStatus.RUNNING or bool(state.timers))
        )

    def view(self, state: ExecState, detail: bool = True) -> Snapshot:
        return build_view(self.flow, state, steps=detail)

    # -- what the journal writes beside the events (water.journal.Journaled) ----------
    def dump(self, state: ExecState) -> JSONText:
        return encode_state(state)

    def step_rows(
        self, state: ExecState, written: int, completed_only: bool = False
    ) -> tuple[list[TaskResult], int]:
        return task_results(state, written, completed_only), len(state.completed_order)

    def completed(self, state: ExecState) -> int:
        return len(state.completed_order)

    def size(self, state: ExecState) -> int:
        return len(state.steps)

    def index_row(self, state: ExecState) -> ExecutionRecord:
        return ExecutionRecord(
            execution_id=state.execution_id,
            flow_id=state.flow_id or self.flow.id,
            status=ExecutionStatus(state.status),
            created_at=datetime.fromtimestamp(state.created_at or state.updated_at, UTC),
            updated_at=datetime.fromtimestamp(state.updated_at, UTC),
            parent_id=state.parent_id,
            wake_at=min(state.timers.values()) if state.timers else None,
            error=str(state.error) if state.error is not None else None,
        )
