"""What an engine reads from storage: stored snapshots, journals, index rows, statistics.

Each call blocks on the engine's reactor (``run``), which refuses once the engine is
shut down. An id that no execution can have is answered without a storage read.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from typing import Any, TypeVar

from water.events import Event
from water.ids import can_exist
from water.snapshot import Snapshot, StepView
from water.stats import ExecutionStats
from water.status import ExecutionStatus
from water.storage import ExecutionRecord, Storage

T = TypeVar("T")
Run = Callable[[Coroutine[Any, Any, Any]], Any]


class Reads:
    """Storage queries of one engine."""

    def __init__(self, storage: Storage, run: Run) -> None:
        self._storage = storage
        self._run = run

    def finished(self, execution_id: str) -> Snapshot | None:
        """The stored snapshot of a finished execution, with its steps; else None."""
        stored: Snapshot | None = self._run(self._storage.load_snapshot(execution_id))
        if stored is None or not stored.status.is_terminal:
            return None
        return self.with_steps(stored)

    def with_steps(self, view: Snapshot) -> Snapshot:
        """A stored snapshot with its per-step rows (kept in ``task_results``)."""
        rows = self._run(self._storage.load_task_results(view.execution_id))
        steps = [
            StepView(
                key=r.key,
                task_id=r.task_id,
                status=r.status,
                attempts=r.attempts,
                started_at=r.started_at,
                finished_at=r.finished_at,
                error=r.error,
                child_execution_id=r.child_execution_id,
            )
            for r in rows
        ]
        return view.model_copy(update={"steps": steps})

    def execution(self, execution_id: str) -> ExecutionRecord | None:
        if not can_exist(execution_id):
            return None
        record: ExecutionRecord | None = self._run(self._storage.get_execution(execution_id))
        return record

    def events(self, execution_id: str, after_seq: int = 0) -> list[Event]:
        if not can_exist(execution_id):
            return []
        events: list[Event] = self._run(self._storage.load_events(execution_id, after_seq))
        return events

    def executions(
        self,
        flow_id: str | None,
        status: ExecutionStatus | str | Sequence[ExecutionStatus | str] | None,
        limit: int,
        offset: int,
    ) -> list[ExecutionRecord]:
        records: list[ExecutionRecord] = self._run(
            self._storage.list_executions(flow_id, status, limit, offset)
        )
        return records

    def count(
        self,
        flow_id: str | None,
        status: ExecutionStatus | str | Sequence[ExecutionStatus | str] | None,
    ) -> int:
        count: int = self._run(self._storage.count_executions(flow_id, status))
        return count

    def stats(self, flow_id: str | None) -> ExecutionStats:
        stats: ExecutionStats = self._run(self._storage.stats(flow_id))
        return stats
