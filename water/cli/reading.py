"""An execution as its database holds it, read while another process may be running it.

The journal gets every commit; the step rows (``task_results``) and the summary view
are written with checkpoints only (when the execution settles, and every so many
events). So the steps are the last checkpoint's rows brought up to date with the
events after it: a step that ended since shows its outcome, one that started since
shows when it ends (no event marks a start).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from water.events import (
    ChildUpdated,
    Event,
    StepCompleted,
    StepFailed,
    StepResumed,
    StepSuspended,
    TimerFired,
)
from water.snapshot import Snapshot
from water.storage import ExecutionRecord, Storage, TaskResult
from water.timers import TimerKind, parse_timer

_SUFFIX = re.compile(r"(\[\d+\]|#\d+)$")  # a for_ item, a while_ iteration
_STEP_EVENTS = (StepCompleted, StepFailed, StepSuspended, StepResumed, ChildUpdated)


@dataclass
class Reading:
    record: ExecutionRecord
    snapshot: Snapshot | None
    """The last checkpoint's summary view (None before the first)."""
    rows: list[TaskResult]
    """The last checkpoint's step rows."""
    events: list[Event]

    @property
    def seq(self) -> int:
        """The sequence number of the last event read."""
        return self.events[-1].seq if self.events else 0

    @property
    def steps(self) -> list[TaskResult]:
        """The step rows as of the last event."""
        after = self.snapshot.seq if self.snapshot is not None else 0
        return steps_now(self.record.execution_id, self.rows, self.events, after)


async def read_execution(
    storage: Storage, execution_id: str, before: Reading | None = None
) -> Reading | None:
    """The execution now (None if unknown); with ``before``, only what changed is read."""
    record = await storage.get_execution(execution_id)
    if record is None:
        return None
    snapshot = await storage.load_snapshot(execution_id)
    if before is not None and _seq(before.snapshot) == _seq(snapshot):
        rows = before.rows
    else:
        rows = await storage.load_task_results(execution_id)
    # the events last: they may run ahead of the rows (folded onto them), never behind
    known = [] if before is None else before.events
    events = known + await storage.load_events(execution_id, known[-1].seq if known else 0)
    return Reading(record, snapshot, rows, events)


def _seq(snapshot: Snapshot | None) -> int | None:
    return None if snapshot is None else snapshot.seq


def _task_of(key: str) -> str:
    """The task id in a step key (``3.charge``, ``2.item[7]``, ``welcome.1.charge``)."""
    return _SUFFIX.sub("", key.rsplit(".", 1)[-1])


def steps_now(
    execution_id: str, rows: list[TaskResult], events: list[Event], after: int
) -> list[TaskResult]:
    """Step rows written after event ``after``, brought up to date by the later events."""
    steps = {r.key: r for r in rows}
    for e in events:
        if e.seq <= after:
            continue
        if isinstance(e, TimerFired):  # a retry's back-off is over: the step runs again
            kind, key = parse_timer(e.timer)
            if kind is TimerKind.RETRY and key in steps:
                steps[key] = steps[key].model_copy(update={"status": "running"})
            continue
        if not isinstance(e, _STEP_EVENTS) or "/" in e.key:
            continue
        step = steps.get(e.key) or TaskResult(key=e.key, task_id=_task_of(e.key), status="running")
        at = datetime.fromtimestamp(e.ts, UTC)
        update: dict[str, Any] = {}
        if isinstance(e, StepCompleted):
            update.update(status="completed", attempts=e.attempt, finished_at=at)
        elif isinstance(e, StepFailed):
            if e.retry_at is None:
                update.update(status="failed", attempts=e.attempt, error=e.error, finished_at=at)
            else:
                update.update(status="backoff", attempts=e.attempt, error=e.error)
        elif isinstance(e, StepSuspended):
            update.update(status="suspended", attempts=e.attempt)
        elif isinstance(e, StepResumed):
            update["status"] = "running"
        else:  # a child execution reports
            update["child_execution_id"] = step.child_execution_id or f"{execution_id}/{e.key}"
        steps[e.key] = step.model_copy(update=update)
    return list(steps.values())
