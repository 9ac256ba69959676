"""The public view of a state: ``Snapshot`` and the rows of ``task_results``."""

from __future__ import annotations

from datetime import UTC, datetime

from water.flow import Flow
from water.interpreter.state import COMPLETED, FAILED, RUNNING, ExecState
from water.snapshot import CompensationView, Snapshot, StepView
from water.status import ExecutionStatus
from water.storage.base import TaskResult


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def build_view(flow: Flow, state: ExecState, *, steps: bool = True) -> Snapshot:
    """The snapshot of a state; ``steps=False`` leaves out the per-step rows.

    Stored snapshots leave them out (``task_results`` holds those rows), which keeps
    a checkpoint's cost down; live answers include them.
    """
    records = state.steps.values()
    waiting_for: list[str] = []
    if state.waiting_signal is not None:
        waiting_for.append(f"signal:{state.waiting_signal}")
    waiting_for.extend(f"timer:{t}" for t in state.timers)
    waiting_for.extend(f"resume:{k}" for k in state.suspended)
    comp = state.compensation
    compensation = []
    if comp is not None:
        for key in comp.keys:
            step = state.steps[key]
            compensation.append(
                CompensationView(
                    key=key,
                    task_id=step.task_id,
                    status=comp.status.get(key, ExecutionStatus.PENDING),
                    attempts=comp.attempts.get(key, 0),
                    error=comp.errors.get(key),
                )
            )
    created = state.created_at or state.updated_at
    return Snapshot(
        execution_id=state.execution_id,
        flow_id=state.flow_id or flow.id,
        status=ExecutionStatus(state.status),
        current_step=next(iter(state.running), None),
        completed_steps=list(state.completed_order),
        failed_steps=[s.key for s in records if s.status == FAILED],
        step_outputs={s.key: s.output for s in records if s.status == COMPLETED},
        suspended=dict(state.suspended),
        variables=dict(state.variables),
        metadata=dict(state.metadata),
        input=state.input,
        output=state.output,
        error=state.error,
        created_at=datetime.fromtimestamp(created, UTC),
        updated_at=datetime.fromtimestamp(state.updated_at, UTC),
        seq=state.seq,
        parent_id=state.parent_id,
        forked_from=state.forked_from,
        running_steps=list(state.running),
        waiting_for=waiting_for,
        wake_at=_dt(min(state.timers.values())) if state.timers else None,
        steps=[
            StepView(
                key=s.key,
                task_id=s.task_id,
                status=s.status,
                attempts=s.attempt,
                started_at=_dt(s.started_at),
                finished_at=_dt(s.finished_at),
                error=s.error,
                child_execution_id=s.child_id,
            )
            for s in records
        ]
        if steps
        else [],
        compensation=compensation,
    )


def task_results(state: ExecState, written: int, completed_only: bool = False) -> list[TaskResult]:
    """Rows of the steps that changed since ``written`` completed rows were written.

    Completed steps are written once (those after ``written`` in completion order);
    steps that have not completed are written every time (unless ``completed_only``).
    """
    out: list[TaskResult] = []
    steps = state.steps
    changed = [steps[k] for k in state.completed_order[written:]]
    if not completed_only:
        changed.extend(s for s in steps.values() if s.status != COMPLETED)
    for s in changed:
        out.append(
            TaskResult(
                key=s.key,
                task_id=s.task_id,
                status=s.status,
                attempts=s.attempt,
                output=s.output if s.status == COMPLETED else None,
                error=s.error,
                started_at=_dt(s.started_at),
                finished_at=_dt(s.finished_at) if s.status != RUNNING else None,
                child_execution_id=s.child_id,
            )
        )
    return out
