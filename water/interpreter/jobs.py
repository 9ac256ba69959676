"""Step bodies: a task's ``execute`` (or ``compensate``) wrapped for the runtime.

The wrapper validates the input against the task's input model, builds the
``TaskContext``, runs the body, validates the output against the output model
and turns it into JSON for the journal. Validation and serialization failures
are ``FatalError`` subclasses: retrying would not help.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from actors.jobs import StepJob, SuspendStep
from water.context import OutputsView, TaskContext
from water.errors import StepInputError, StepOutputError, UnstorableValueError
from water.flow import Flow, output_type
from water.interpreter.state import ExecState, StepState
from water.task import Task
from water.types import describe_validation_error, to_json, type_name, validate

if TYPE_CHECKING:
    from water.tracing import Tracing

UNDO = "undo"
"""The tag of a compensation run (``StepJob.tag``): its outcome is a compensation's."""


def _typed_input(task: Task[Any, Any], raw: Any) -> Any:
    try:
        return validate(task.input_model, raw)
    except ValidationError as exc:
        raise StepInputError(
            f"input of task {task.id!r} does not fit {type_name(task.input_model)}: "
            f"{describe_validation_error(exc)}"
        ) from None


def _json_output(task: Task[Any, Any], result: Any) -> Any:
    try:
        typed = validate(task.output_model, result)
    except ValidationError as exc:
        raise StepOutputError(
            f"output of task {task.id!r} does not fit {type_name(task.output_model)}: "
            f"{describe_validation_error(exc)}"
        ) from None
    try:
        return to_json(typed, f"output of task {task.id!r}")
    except UnstorableValueError as exc:
        raise StepOutputError(str(exc)) from None


def _json_suspension(task: Task[Any, Any], suspension: SuspendStep) -> SuspendStep:
    """The suspension with its payload in JSON form (``StepOutputError`` if it has none)."""
    try:
        payload = to_json(suspension.payload, f"suspend payload of task {task.id!r}")
    except UnstorableValueError as exc:
        raise StepOutputError(str(exc)) from None
    return SuspendStep(payload)


def _outputs(flow: Flow, state: ExecState) -> OutputsView:
    steps = state.steps
    raw = {tid: steps[key] for tid, key in state.last_by_task.items()}

    def revive(task_id: str, step: StepState) -> Any:
        runnable = flow.nodes[step.node].runnables[step.slot]
        return validate(output_type(runnable), step.output)

    return OutputsView(raw, revive)


def context_for(
    flow: Flow, state: ExecState, step: StepState, resume_data: Any = None
) -> TaskContext:
    return TaskContext(
        flow_id=state.flow_id,
        execution_id=state.execution_id,
        task_id=step.task_id,
        step=step.key,
        attempt=step.attempt,
        outputs=_outputs(flow, state),
        variables=state.variables,
        metadata=state.metadata,
        resume_data=resume_data,
    )


def step_job(
    flow: Flow, state: ExecState, step: StepState, tracing: Tracing | None = None
) -> StepJob:
    """The job that runs one attempt of a task step (in a span of its own with ``tracing``)."""
    task = flow.nodes[step.node].runnables[step.slot]
    assert isinstance(task, Task)
    resume_data = step.resume_data
    if resume_data is not None and task.resume_model is not None:
        resume_data = validate(task.resume_model, resume_data)
    ctx = context_for(flow, state, step, resume_data)
    raw = step.input
    body: Callable[[], Any]
    if task.is_async:

        async def run_async() -> Any:
            try:
                result = await task.execute(_typed_input(task, raw), ctx)  # type: ignore[misc,unused-ignore]
            except SuspendStep as suspension:
                raise _json_suspension(task, suspension) from None
            return _json_output(task, result)

        body = run_async
    else:

        def run_sync() -> Any:
            try:
                result = task.execute(_typed_input(task, raw), ctx)
            except SuspendStep as suspension:
                raise _json_suspension(task, suspension) from None
            return _json_output(task, result)

        body = run_sync
    if tracing is not None:
        body = tracing.traced(
            body, task.is_async, state, key=step.key, attempt=step.attempt, task_id=task.id
        )
    return StepJob(
        execution_id=state.execution_id,
        key=step.key,
        attempt=step.attempt,
        task_id=task.id,
        body=body,
        is_async=task.is_async,
        timeout=task.timeout,
    )


def compensation_job(
    flow: Flow, state: ExecState, step: StepState, attempt: int, tracing: Tracing | None = None
) -> StepJob:
    """The job that undoes a completed step."""
    task = flow.nodes[step.node].runnables[step.slot]
    assert isinstance(task, Task)
    ctx = context_for(flow, state, step)
    ctx.attempt = attempt
    raw_in, raw_out = step.input, step.output
    is_async = task.compensate_is_async

    if is_async:

        async def undo_async() -> Any:
            await task.compensate(
                validate(task.input_model, raw_in), validate(task.output_model, raw_out), ctx
            )

        body: Callable[[], Any] = undo_async
    else:

        def undo_sync() -> Any:
            task.compensate(
                validate(task.input_model, raw_in), validate(task.output_model, raw_out), ctx
            )

        body = undo_sync
    if tracing is not None:
        body = tracing.traced(
            body,
            is_async,
            state,
            key=step.key,
            attempt=attempt,
            task_id=task.id,
            name="water.compensation",
        )
    return StepJob(
        execution_id=state.execution_id,
        key=step.key,
        attempt=attempt,
        task_id=task.id,
        body=body,
        is_async=is_async,
        timeout=task.timeout,
        tag=UNDO,
    )
