"""The public view of a code-first execution: ``Snapshot``, step rows, index row."""

from __future__ import annotations

from datetime import UTC, datetime

from water.snapshot import Snapshot, StepView
from water.status import ExecutionStatus
from water.storage.base import ExecutionRecord, TaskResult
from water.workflow.state import COMPLETED, FAILED, RUNNING, WfState


def _dt(ts: float | None) -> datetime | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC)


def build_view(state: WfState, flow_id: str, *, steps: bool = True) -> Snapshot:
    """The snapshot of a state; ``steps=False`` leaves out the per-step rows."""
    records = state.steps.values()
    waiting_for = [f"signal:{w.name}" for w in state.waits.values()]
    waiting_for.extend(f"timer:{t}" for t in state.timers)
    waiting_for.extend(f"resume:{k}" for k in state.suspended)
    created = state.created_at or state.updated_at
    return Snapshot(
        execution_id=state.execution_id,
        flow_id=state.flow_id or flow_id,
        status=ExecutionStatus(state.status),
        current_step=next(iter(state.running), None),
        completed_steps=list(state.completed_order),
        failed_steps=[s.key for s in records if s.status == FAILED],
        step_outputs={s.key: s.output for s in records if s.status == COMPLETED},
        suspended=dict(state.suspended),
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
    )


def task_results(state: WfState, written: int, completed_only: bool = False) -> list[TaskResult]:
    """Rows of the steps that changed since ``written`` completed rows were written."""
    steps = state.steps
    changed = [steps[k] for k in state.completed_order[written:]]
    if not completed_only:
        changed.extend(s for s in steps.values() if s.status != COMPLETED)
    return [
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
        for s in changed
    ]


def index_record(state: WfState, flow_id: str) -> ExecutionRecord:
    return ExecutionRecord(
        execution_id=state.execution_id,
        flow_id=state.flow_id or flow_id,
        status=ExecutionStatus(state.status),
        created_at=datetime.fromtimestamp(state.created_at or state.updated_at, UTC),
        updated_at=datetime.fromtimestamp(state.updated_at, UTC),
        parent_id=state.parent_id,
        wake_at=min(state.timers.values()) if state.timers else None,
        error=str(state.error) if state.error is not None else None,
    )
