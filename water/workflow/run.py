"""``CodeRunner``: the code of a code-first execution, run on its own event loop.

The code is started (from the beginning, or after the last completed ``@step`` of a
class workflow), advanced until it waits again each time something happens, and
stopped when the execution ends or only waits (its ``finally`` blocks run then; a
replay gets it back). The durable calls it makes come back here through its
``Scope``: ``schedule`` a step or a child, ``record`` a decision, ``draw`` a value of
the world. Once the code waits, ``settle`` takes the decisions that follow: the end,
a pause that settles, a dead end.
"""

from __future__ import annotations

import contextvars
import random
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError

from water import events as ev
from water.context import current_workflow
from water.definition import Definition, as_definition
from water.errors import StepError, UnstorableValueError
from water.events import ErrorInfo
from water.interpreter.failures import error_info
from water.status import ACTIVE, ExecutionStatus
from water.types import describe_validation_error, to_json, type_name, validate
from water.workflow.definition import WorkflowDefinition
from water.workflow.errors import WorkflowCodeStopped
from water.workflow.fold import apply, resolve_step
from water.workflow.loop import WorkflowLoop
from water.workflow.scope import Scope
from water.workflow.state import (
    BACKOFF,
    COMPLETED,
    FAILED,
    HELD,
    READY,
    RUNNING,
    SUSPENDED,
    Run,
    WfState,
    WfStep,
    has_active_work,
    refresh_status,
)

_PENDING_WORK = (RUNNING, HELD, BACKOFF, READY, SUSPENDED)


class CodeRunner:
    """Runs the code of one workflow's executions, each on the loop of its state's ``Run``."""

    def __init__(
        self,
        definition: WorkflowDefinition,
        rng: random.Random,
        on_child: Callable[[Definition], None] | None = None,
    ) -> None:
        self.definition = definition
        self.rng = rng
        self.on_child = on_child

    # -- the code ------------------------------------------------------------------------
    def start(self, state: WfState, restored: Any = None, start_at: int = 0) -> None:
        """Start the code on a new loop (a class workflow's from step ``start_at`` on, with the
        ``restored`` state); input that does not fit fails the execution."""
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

    @staticmethod
    def stop(state: WfState) -> None:
        """Drop the code (it is replayed when needed): its ``finally`` blocks run now."""
        run = state.run
        if run is None:
            return
        run.stopping = True
        state.run = None
        run.loop.close_all(run.context)
        run.futures.clear()

    def advance(self, state: WfState) -> None:
        """Run the code until it waits again, then settle what follows."""
        run = state.run
        if run is not None and run.main is not None and not state.terminal:
            run.loop.set_time(state.updated_at)
            run.loop.run_ready()
        self.settle(state)

    def settle(self, state: WfState) -> None:
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
                assert run is not None
                run.scope.returned()
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

    # -- the durable calls of the code (through its scope) ------------------------------
    def schedule(self, state: WfState, run: Run, position: str, target: Any, data: Any) -> Any:
        """The code calls a task or a workflow at ``position``: the future of its outcome."""
        definition = as_definition(target)
        key = f"{position}.{target.id}"
        history = state.replay
        step = state.steps.get(key)
        carried = step is None and key in state.carried  # a fork: the original's output
        if step is None:  # else a replay met its outcome before the code got here
            step = WfStep(key, target.id, "task", position, started_at=state.updated_at)
            state.steps[key] = step
            if state.status in (ExecutionStatus.PAUSING, ExecutionStatus.PAUSED) and not carried:
                step.status = HELD
                state.held[key] = None
            else:
                state.running[key] = None
        step.input = data if step.status != COMPLETED else None
        if definition is not None:
            step.kind = "workflow"
            if not carried:
                step.child_id = f"{state.execution_id}/{key}"
            if history is not None and state.seq < history.retried_at:
                step.retry_child = history.retries  # called before the failure retried
            if self.on_child is not None:
                self.on_child(definition)
        state.targets[key] = target
        if carried and (history is None or position not in history.records):
            output = state.carried[key]
            self.record(state, ev.StepCompleted(key=key, attempt=1, output=output))
        future = run.loop.create_future()
        if step.status in (COMPLETED, FAILED):
            resolve_step(state, step, future)
        else:
            run.futures[key] = future
        refresh_status(state)
        return future

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
