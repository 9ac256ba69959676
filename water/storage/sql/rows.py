"""Records, checkpoints, step rows and events to and from the rows of a SQL storage.

Every value is stored as JSON text (events through ``encode_event``, snapshots
through pydantic, step outputs and interpreter state through pydantic's JSON
encoder); nothing is ever pickled. Datetimes are stored as unix seconds and read
back as timezone-aware UTC datetimes (a naive datetime is taken to be UTC).

A row's values come in the order of its ``*_COLUMNS`` below.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, TypeAlias

import pydantic_core

from water.events import ErrorInfo, Event, decode_event, encode_event
from water.snapshot import Snapshot
from water.status import ExecutionStatus
from water.storage.base import Checkpoint, ExecutionRecord, Fence, JSONText, TaskResult
from water.storage.sql.dialect import Kind

__all__ = [
    "CHECKPOINT_COLUMNS",
    "EVENT_CHECKS",
    "EVENT_COLUMNS",
    "EVENT_ROW",
    "RECORD_COLUMNS",
    "TASK_COLUMNS",
    "CheckpointRow",
    "EventRow",
    "RecordRow",
    "RowCodec",
    "TaskRow",
    "checkpoint_from_row",
    "events_from_rows",
    "record_from_row",
    "task_from_row",
]

EVENT_COLUMNS = ("execution_id", "seq", "type", "ts", "data")
"""The columns of ``events`` an ``EventRow`` fills."""
EVENT_CHECKS: tuple[tuple[str, Kind], ...] = (
    ("expected", "seq"),
    ("owner", "id"),
    ("epoch", "int"),
)
"""The values of an ``EventRow`` after those of ``EVENT_COLUMNS``, by name and kind:
what the insert checks before it stores a row (``insert_events``), stored nowhere."""
EVENT_ROW = (*EVENT_COLUMNS, *(name for name, _ in EVENT_CHECKS))
"""The names of an ``EventRow``'s values, in order."""
RECORD_COLUMNS = (
    "execution_id",
    "flow_id",
    "status",
    "parent_id",
    "created_at",
    "updated_at",
    "wake_at",
    "error",
    "owner",
    "epoch",
)
CHECKPOINT_COLUMNS = ("execution_id", "seq", "state", "view", "created_at")
TASK_COLUMNS = (
    "execution_id",
    "key",
    "task_id",
    "status",
    "attempts",
    "output",
    "error",
    "started_at",
    "finished_at",
    "child_execution_id",
)

EventRow: TypeAlias = tuple[str, int, str, float, str, int | None, str | None, int | None]
"""An event and its checks (``EVENT_ROW``): ``expected``, the ``expected_seq`` of its
request on a request's first event (None on the others, and on the first event of a
new stream); ``owner`` and ``epoch``, the fence of its request (None: not fenced)."""
RecordRow: TypeAlias = tuple[
    str, str, str, str | None, float, float, float | None, str | None, str | None, int | None
]
"""An index row; its ``owner`` and ``epoch`` are written only when the row is new."""
CheckpointRow: TypeAlias = tuple[str, int, str, str, float]
TaskRow: TypeAlias = tuple[
    str, str, str, str, int, str, str | None, float | None, float | None, str | None
]


def _to_ts(value: datetime) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _opt_ts(value: datetime | None) -> float | None:
    return None if value is None else _to_ts(value)


def _to_dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def _opt_dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _dumps(value: Any) -> str:
    return pydantic_core.to_json(value).decode()


def _dumps_state(state: dict[str, Any] | JSONText) -> str:
    """A checkpoint's state as JSON; ``JSONText`` is written as it is."""
    if isinstance(state, JSONText):
        return state.text
    if not any(isinstance(v, JSONText) for v in state.values()):
        return _dumps(state)
    parts = ["{"]
    for key, value in state.items():
        if len(parts) > 1:
            parts.append(",")
        parts += (
            json.dumps(key),
            ":",
            value.text if isinstance(value, JSONText) else _dumps(value),
        )
    parts.append("}")
    return "".join(parts)


class RowCodec:
    """Turns what a storage is handed into rows.

    A dialect whose text cannot hold every character overrides ``ident`` (an
    identifier as stored, or a ``ValueError``) and ``summary`` (an error summary as
    stored, never refused).
    """

    def ident(self, value: str, what: str) -> str:
        return value

    def summary(self, value: str) -> str:
        return value

    def event_rows(
        self,
        execution_id: str,
        events: Iterable[Event],
        expected_seq: int,
        fence: Fence | None = None,
    ) -> list[EventRow]:
        rows: list[EventRow] = []
        seq = expected_seq
        check: int | None = expected_seq if expected_seq > 0 else None
        execution_id = self.ident(execution_id, "execution id")
        owner, epoch = (None, None) if fence is None else fence
        for event in events:
            seq += 1
            rows.append(
                (execution_id, seq, event.type, event.ts, encode_event(event), check, owner, epoch)
            )
            check = None
        return rows

    def record_row(self, record: ExecutionRecord, fence: Fence | None = None) -> RecordRow:
        parent_id = record.parent_id
        error = record.error
        return (
            self.ident(record.execution_id, "execution id"),
            self.ident(record.flow_id, "flow id"),
            record.status.value,
            None if parent_id is None else self.ident(parent_id, "parent id"),
            _to_ts(record.created_at),
            _to_ts(record.updated_at),
            record.wake_at,
            # a summary of the error (the journal keeps it exactly, as JSON): nothing
            # in an exception's message may make the execution's row unwritable
            None if error is None else self.summary(error),
            None if fence is None else fence[0],
            None if fence is None else fence[1],
        )

    def checkpoint_row(self, checkpoint: Checkpoint) -> CheckpointRow:
        return (
            self.ident(checkpoint.execution_id, "execution id"),
            checkpoint.seq,
            _dumps_state(checkpoint.state),
            checkpoint.view.model_dump_json(),
            time.time(),
        )

    def task_row(self, execution_id: str, task_id: str, result: TaskResult) -> TaskRow:
        child = result.child_execution_id
        return (
            self.ident(execution_id, "execution id"),
            self.ident(result.key, "step key"),
            self.ident(task_id, "task id"),
            self.ident(result.status, "step status"),
            result.attempts,
            _dumps(result.output),
            None if result.error is None else result.error.model_dump_json(),
            _opt_ts(result.started_at),
            _opt_ts(result.finished_at),
            None if child is None else self.ident(child, "id"),
        )


def events_from_rows(rows: Iterable[Sequence[Any]]) -> list[Event]:
    """Events from ``(seq, data)`` rows."""
    return [decode_event(data, seq) for seq, data in rows]


def record_from_row(row: Sequence[Any]) -> ExecutionRecord:
    """An index row from the values of ``RECORD_COLUMNS``."""
    return ExecutionRecord(
        execution_id=row[0],
        flow_id=row[1],
        status=ExecutionStatus(row[2]),
        parent_id=row[3],
        created_at=_to_dt(row[4]),
        updated_at=_to_dt(row[5]),
        wake_at=row[6],
        error=row[7],
        owner=row[8],
        epoch=row[9] or 0,
    )


def checkpoint_from_row(execution_id: str, row: Sequence[Any]) -> Checkpoint:
    """A checkpoint from ``(seq, state, view)``."""
    seq, state, view = row
    return Checkpoint(
        execution_id=execution_id,
        seq=seq,
        state=json.loads(state),
        view=Snapshot.model_validate_json(view),
    )


def task_from_row(row: Sequence[Any]) -> TaskResult:
    """A step row from the values of ``TASK_COLUMNS`` after ``execution_id``."""
    return TaskResult(
        key=row[0],
        task_id=row[1],
        status=row[2],
        attempts=row[3],
        output=None if row[4] is None else json.loads(row[4]),
        error=None if row[5] is None else ErrorInfo.model_validate_json(row[5]),
        started_at=_opt_dt(row[6]),
        finished_at=_opt_dt(row[7]),
        child_execution_id=row[8],
    )
