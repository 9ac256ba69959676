"""The job of one attempt of a task step called by workflow code."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from actors.jobs import StepJob
from water.context import TaskContext
from water.interpreter.jobs import _json_output, _typed_input
from water.task import Task
from water.types import validate
from water.workflow.state import WfState, WfStep

if TYPE_CHECKING:
    from water.tracing import Tracing


def step_job(
    state: WfState, step: WfStep, task: Task[Any, Any], tracing: Tracing | None = None
) -> StepJob:
    """Validate the input, run the body with its ``TaskContext``, journal the output as JSON.

    ``TaskContext.outputs`` is empty: workflow code passes values on itself. With
    ``tracing``, the body runs in a span of its own.
    """
    resume_data = step.resume_data
    if resume_data is not None and task.resume_model is not None:
        resume_data = validate(task.resume_model, resume_data)
    ctx = TaskContext(
        flow_id=state.flow_id,
        execution_id=state.execution_id,
        task_id=task.id,
        step=step.key,
        attempt=step.attempt,
        metadata=state.metadata,
        resume_data=resume_data,
    )
    raw = step.input
    body: Callable[[], Any]
    if task.is_async:

        async def run_async() -> Any:
            result = await task.execute(_typed_input(task, raw), ctx)  # type: ignore[misc,unused-ignore]
            return _json_output(task, result)

        body = run_async
    else:

        def run_sync() -> Any:
            return _json_output(task, task.execute(_typed_input(task, raw), ctx))

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
