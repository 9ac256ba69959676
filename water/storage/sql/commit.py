"""The group commit of a SQL storage, apart from the database: requests as rows, conflicts.

A batch is written at once, with each request's first event checking that its
``expected_seq`` is its stream's last ``seq`` (``EventRow``). When that write fails
on a conflict, the storage reads the last ``seq`` of every stream and ``isolate``
picks the requests at fault; the others are written together again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import cast

from water.storage.base import AppendRequest, ConcurrencyError, Fence, OwnershipLost
from water.storage.sql.rows import (
    EVENT_ROW,
    CheckpointRow,
    EventRow,
    RecordRow,
    RowCodec,
    TaskRow,
)

__all__ = ["Prepared", "fence_refused", "isolate", "prepare_batch"]

_EXPECTED = EVENT_ROW.index("expected")


@dataclass(slots=True)
class Prepared:
    """One request of a group commit, encoded and ready to be written."""

    index: int
    execution_id: str
    expected_seq: int
    fence: Fence | None
    events: list[EventRow]
    records: list[RecordRow] = field(default_factory=list)
    checkpoints: list[CheckpointRow] = field(default_factory=list)
    tasks: list[TaskRow] = field(default_factory=list)

    @property
    def events_only(self) -> bool:
        return not (self.records or self.checkpoints or self.tasks)

    def check_first(self, expected: int | None) -> None:
        """Make the first event check ``expected`` (None: check nothing)."""
        row = list(self.events[0])
        row[_EXPECTED] = expected
        self.events[0] = cast(EventRow, tuple(row))


def _prepare(index: int, req: AppendRequest, rows: RowCodec) -> Prepared:
    return Prepared(
        index,
        req.execution_id,
        req.expected_seq,
        req.fence,
        rows.event_rows(req.execution_id, req.events, req.expected_seq, req.fence),
        [] if req.record is None else [rows.record_row(req.record, req.fence)],
        [] if req.checkpoint is None else [rows.checkpoint_row(req.checkpoint)],
        [rows.task_row(req.execution_id, r.task_id, r) for r in req.task_results],
    )


def prepare_batch(
    batch: Sequence[AppendRequest], rows: RowCodec
) -> tuple[list[Prepared], list[BaseException | None]]:
    """The requests to write, and one result per request (set for those refused already).

    A request whose values cannot be encoded is refused with that error. So is a later
    append to a stream this batch already extends that does not follow on directly
    (checked here: a statement cannot see its own earlier rows); one that does follow
    on checks nothing itself, the earlier request's check covers the stream.
    """
    results: list[BaseException | None] = [None] * len(batch)
    items: list[Prepared] = []
    last: dict[str, int] = {}  # streams already appended to by this batch
    for index, req in enumerate(batch):
        try:
            item = _prepare(index, req, rows)
        except Exception as exc:  # e.g. a value JSON cannot encode
            results[index] = exc
            continue
        if item.events:
            previous = last.get(item.execution_id)
            if previous is not None:
                if item.expected_seq != previous:
                    results[index] = ConcurrencyError(
                        item.execution_id, item.expected_seq, previous
                    )
                    continue
                item.check_first(None)
            last[item.execution_id] = item.expected_seq + len(item.events)
        items.append(item)
    return items, results


def fence_refused(
    execution_id: str, fence: Fence, owners: dict[str, Fence | None]
) -> OwnershipLost | None:
    """The error of an append fenced by ``fence`` given the executions' owners (None: it
    may be written: the execution is owned so, or has no index row yet)."""
    if execution_id not in owners:
        return None
    owner = owners[execution_id]
    if owner == fence:
        return None
    return OwnershipLost(
        execution_id, fence, None if owner is None else owner[0], 0 if owner is None else owner[1]
    )


def isolate(
    items: list[Prepared], last: dict[str, int], owners: dict[str, Fence | None] | None = None
) -> tuple[list[Prepared], list[tuple[int, ConcurrencyError | OwnershipLost]]]:
    """The requests that may be written, and the conflicts of the others.

    ``last`` is the last ``seq`` of every stream the batch appends to (a stream with
    no events may be left out); the requests are walked in order as if applied one
    by one, and each whose ``expected_seq`` is not its stream's last ``seq`` is
    refused. ``last`` is updated as the accepted requests would leave it. ``owners``
    (the owner of each fenced request's execution) refuses the requests whose fence
    no longer holds, with ``OwnershipLost``.
    """
    accepted: list[Prepared] = []
    conflicts: list[tuple[int, ConcurrencyError | OwnershipLost]] = []
    for item in items:
        if item.fence is not None and owners is not None:
            lost = fence_refused(item.execution_id, item.fence, owners)
            if lost is not None:
                conflicts.append((item.index, lost))
                continue
        if item.events:
            actual = last.get(item.execution_id, 0)
            if actual != item.expected_seq:
                conflicts.append(
                    (item.index, ConcurrencyError(item.execution_id, item.expected_seq, actual))
                )
                continue
            last[item.execution_id] = actual + len(item.events)
        accepted.append(item)
    return accepted, conflicts
