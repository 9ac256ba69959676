"""In-process storage: dictionaries, for tests and throw-away runs.

Events are kept as the objects they are (callers treat events as immutable), so
nothing is encoded. Everything else is copied on the way in and on the way out,
so that a caller mutating an object it stored or loaded cannot change what is
stored. Ordering, paging and filtering behave exactly like ``SQLiteStorage``;
datetimes come back as timezone-aware UTC datetimes (a naive one is taken as UTC).
"""

from __future__ import annotations

import copy
import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from water.events import Event
from water.snapshot import Snapshot
from water.stats import PERCENTILES, ExecutionStats, StepStats, percentile, zero_counts
from water.status import ExecutionStatus
from water.storage.base import (
    TERMINAL,
    AppendRequest,
    Checkpoint,
    Claimed,
    ConcurrencyError,
    ExecutionRecord,
    Fence,
    FlowEvent,
    InboxMessage,
    NodeRow,
    OwnershipLost,
    StatusFilter,
    Storage,
    TaskResult,
    check_page,
    fair_share,
    is_recoverable,
    statuses,
)

__all__ = ["MemoryStorage"]

_ATOMS = frozenset({str, int, float, bool, bytes, type(None)})


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _opt_utc(value: datetime | None) -> datetime | None:
    return None if value is None else _utc(value)


def _ts(value: datetime | None) -> float:
    return 0.0 if value is None else value.timestamp()


def _record(record: ExecutionRecord, created_at: datetime | None = None) -> ExecutionRecord:
    """The record as stored: UTC datetimes, optionally an older ``created_at``."""
    created = _utc(record.created_at) if created_at is None else created_at
    updated = _utc(record.updated_at)
    if created is record.created_at and updated is record.updated_at:
        return record  # frozen, and every field is immutable: no copy needed
    return record.model_copy(update={"created_at": created, "updated_at": updated})


def _copy(value: Any) -> Any:
    """A deep copy, fast for the JSON-like data (dicts, lists, scalars) stored here."""
    kind = type(value)
    if kind in _ATOMS:
        return value
    if kind is dict:
        return {key: _copy(item) for key, item in value.items()}
    if kind is list:
        return [_copy(item) for item in value]
    return copy.deepcopy(value)


def _checkpoint(checkpoint: Checkpoint) -> Checkpoint:
    return checkpoint.model_copy(
        update={"state": _copy(checkpoint.state), "view": checkpoint.view.model_copy(deep=True)}
    )


def _task(task_id: str, result: TaskResult) -> TaskResult:
    """A copy of ``result`` sharing nothing mutable with it."""
    error = result.error
    if error is not None and error.details is not None:
        error = error.model_copy(deep=True)
    return result.model_copy(
        update={
            "task_id": task_id,
            "output": _copy(result.output),
            "error": error,
            "started_at": _opt_utc(result.started_at),
            "finished_at": _opt_utc(result.finished_at),
        }
    )


def _numbered(events: Sequence[Event], expected_seq: int) -> list[Event]:
    """The events with their sequence numbers (copied only when one is not set yet)."""
    out: list[Event] = []
    seq = expected_seq
    for event in events:
        seq += 1
        out.append(event if event.seq == seq else event.model_copy(update={"seq": seq}))
    return out


class MemoryStorage(Storage):
    """Storage in dictionaries of this process; lost when the object is."""

    url = "memory://"

    def __init__(self) -> None:
        self._events: dict[str, list[Event]] = {}
        self._records: dict[str, ExecutionRecord] = {}
        self._checkpoints: dict[str, Checkpoint] = {}
        self._tasks: dict[str, dict[str, TaskResult]] = {}
        self._nodes: dict[str, NodeRow] = {}
        self._inbox: dict[str, tuple[InboxMessage, float | None, str | None]] = {}

    def __repr__(self) -> str:
        return "MemoryStorage()"

    # -- the journal -------------------------------------------------------
    def _last_seq(self, execution_id: str) -> int:
        stream = self._events.get(execution_id)
        return len(stream) if stream else 0

    def _check(self, execution_id: str, expected_seq: int) -> None:
        actual = self._last_seq(execution_id)
        if actual != expected_seq:
            raise ConcurrencyError(execution_id, expected_seq, actual)

    async def append_events(
        self, execution_id: str, events: Sequence[Event], expected_seq: int
    ) -> int:
        if not events:
            return expected_seq
        self._check(execution_id, expected_seq)
        self._events.setdefault(execution_id, []).extend(_numbered(events, expected_seq))
        return expected_seq + len(events)

    async def last_seq(self, execution_id: str) -> int:
        return self._last_seq(execution_id)

    async def load_events(self, execution_id: str, after_seq: int = 0) -> list[Event]:
        stream = self._events.get(execution_id)
        if not stream:
            return []
        return stream[max(after_seq, 0) :]

    async def events_since(self, ts: float, flow_id: str | None = None) -> list[FlowEvent]:
        found: list[FlowEvent] = []
        for execution_id, stream in self._events.items():
            record = self._records.get(execution_id)
            if record is None or (flow_id is not None and record.flow_id != flow_id):
                continue
            found.extend((execution_id, record.flow_id, e) for e in stream if e.ts >= ts)
        found.sort(key=lambda item: (item[2].ts, item[0], item[2].seq))
        return found

    async def commit(self, batch: Sequence[AppendRequest]) -> list[BaseException | None]:
        results: list[BaseException | None] = []
        for req in batch:
            try:
                self._apply(req)
                results.append(None)
            except Exception as exc:  # reported per request
                results.append(exc)
        return results

    async def apply(self, req: AppendRequest) -> None:
        self._apply(req)

    def _apply(self, req: AppendRequest) -> None:
        """Apply one request all or nothing: check everything, then store.

        What a commit hands over is kept as is, without copies: the engine builds
        each request afresh and never touches it again (reads return copies).
        """
        events: list[Event] = []
        if req.fence is not None:
            self._check_fence(req.execution_id, req.fence)
        if req.events:
            self._check(req.execution_id, req.expected_seq)
            events = _numbered(req.events, req.expected_seq)
        record = None if req.record is None else self._merged(req.record, req.fence)
        checkpoint = req.checkpoint
        tasks = req.task_results
        if events:
            self._events.setdefault(req.execution_id, []).extend(events)
        if record is not None:
            self._records[record.execution_id] = record
        if checkpoint is not None:
            self._store_checkpoint(checkpoint)
        if tasks:
            rows = self._tasks.setdefault(req.execution_id, {})
            for task in tasks:
                rows[task.key] = task

    # -- snapshots ---------------------------------------------------------
    def _store_checkpoint(self, checkpoint: Checkpoint) -> None:
        current = self._checkpoints.get(checkpoint.execution_id)
        if current is None or checkpoint.seq >= current.seq:
            self._checkpoints[checkpoint.execution_id] = checkpoint

    async def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        self._store_checkpoint(_checkpoint(checkpoint))

    async def load_checkpoint(self, execution_id: str) -> Checkpoint | None:
        checkpoint = self._checkpoints.get(execution_id)
        return None if checkpoint is None else _checkpoint(checkpoint)

    async def load_snapshot(self, execution_id: str) -> Snapshot | None:
        checkpoint = self._checkpoints.get(execution_id)
        return None if checkpoint is None else checkpoint.view.model_copy(deep=True)

    # -- step results ------------------------------------------------------
    async def save_task_result(self, execution_id: str, task_id: str, result: TaskResult) -> None:
        row = _task(task_id, result)
        self._tasks.setdefault(execution_id, {})[row.key] = row

    async def load_task_results(self, execution_id: str) -> list[TaskResult]:
        rows = self._tasks.get(execution_id, {}).values()
        ordered = sorted(rows, key=lambda r: (r.started_at is not None, _ts(r.started_at), r.key))
        return [_task(row.task_id, row) for row in ordered]

    # -- the executions index ---------------------------------------------
    def _check_fence(self, execution_id: str, fence: Fence) -> None:
        existing = self._records.get(execution_id)
        if existing is not None and (existing.owner, existing.epoch) != fence:
            raise OwnershipLost(execution_id, fence, existing.owner, existing.epoch)

    def _merged(self, record: ExecutionRecord, fence: Fence | None = None) -> ExecutionRecord:
        existing = self._records.get(record.execution_id)
        merged = _record(record, None if existing is None else existing.created_at)
        owner, epoch = (
            (existing.owner, existing.epoch) if existing is not None else fence or (None, 0)
        )
        if (merged.owner, merged.epoch) != (owner, epoch):
            merged = merged.model_copy(update={"owner": owner, "epoch": epoch})
        return merged

    async def upsert_execution(self, record: ExecutionRecord) -> None:
        merged = self._merged(record)
        self._records[merged.execution_id] = merged

    async def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        return self._records.get(execution_id)

    def _select(
        self, flow_id: str | None, status: StatusFilter, parent_id: str | None
    ) -> list[ExecutionRecord]:
        wanted = statuses(status)
        chosen = None if wanted is None else frozenset(wanted)
        return [
            r
            for r in self._records.values()
            if (flow_id is None or r.flow_id == flow_id)
            and (chosen is None or r.status in chosen)
            and (parent_id is None or r.parent_id == parent_id)
        ]

    async def list_executions(
        self,
        flow_id: str | None = None,
        status: StatusFilter = None,
        limit: int = 50,
        offset: int = 0,
        *,
        parent_id: str | None = None,
    ) -> list[ExecutionRecord]:
        check_page(limit, offset)
        rows = self._select(flow_id, status, parent_id)
        rows.sort(key=_age_key, reverse=True)
        return rows[offset : offset + limit]

    async def count_executions(
        self,
        flow_id: str | None = None,
        status: StatusFilter = None,
        *,
        parent_id: str | None = None,
    ) -> int:
        return len(self._select(flow_id, status, parent_id))

    async def executions_to_recover(self) -> list[ExecutionRecord]:
        rows = [r for r in self._records.values() if is_recoverable(r)]
        rows.sort(key=_age_key)
        return rows

    async def delete_execution(self, execution_id: str) -> bool:
        found = [
            table.pop(execution_id, None) is not None
            for table in (self._events, self._records, self._checkpoints, self._tasks)
        ]
        for message_id, (message, _, _) in list(self._inbox.items()):
            if message.execution_id == execution_id:
                del self._inbox[message_id]
        return any(found)

    # -- nodes: ownership, leases and the inbox --------------------------------
    def _alive(self, node_id: str | None, now: float) -> bool:
        row = None if node_id is None else self._nodes.get(node_id)
        return row is not None and row.lease_until > now

    async def join(self, node_id: str, host: str, pid: int, lease: float) -> None:
        now = time.time()
        self._nodes[node_id] = NodeRow(node_id, host, pid, now, now + lease, True)

    async def renew(self, node_id: str, lease: float) -> bool:
        now = time.time()
        row = self._nodes.get(node_id)
        if row is None or row.lease_until <= now:
            return False
        self._nodes[node_id] = NodeRow(
            node_id, row.host, row.pid, row.started_at, now + lease, True
        )
        return True

    async def expire(self, node_ids: Sequence[str]) -> None:
        for node_id in node_ids:
            row = self._nodes.get(node_id)
            if row is not None:
                self._nodes[node_id] = NodeRow(
                    node_id, row.host, row.pid, row.started_at, 0.0, False
                )

    async def leave(self, node_id: str) -> None:
        for execution_id, record in list(self._records.items()):
            if record.owner == node_id:
                self._records[execution_id] = record.model_copy(update={"owner": None})
        self._nodes.pop(node_id, None)

    async def nodes(self) -> list[NodeRow]:
        now = time.time()
        return [
            NodeRow(r.node_id, r.host, r.pid, r.started_at, r.lease_until, r.lease_until > now)
            for _, r in sorted(self._nodes.items())
        ]

    async def create_owned(
        self, execution_id: str, flow_id: str, node_id: str, parent_id: str | None = None
    ) -> bool:
        if execution_id in self._records:
            return False
        now = datetime.now(UTC)
        self._records[execution_id] = ExecutionRecord(
            execution_id=execution_id,
            flow_id=flow_id,
            status=ExecutionStatus.PENDING,
            created_at=now,
            updated_at=now,
            parent_id=parent_id,
            owner=node_id,
            epoch=1,
        )
        return True

    async def claim(
        self,
        node_id: str,
        flow_ids: Sequence[str],
        *,
        execution_ids: Sequence[str] | None = None,
        mine: bool = False,
        limit: int = 100,
        share: int = 1,
    ) -> list[Claimed]:
        now = time.time()
        flows = frozenset(flow_ids)
        waiting = {m.execution_id for m, handled, _ in self._inbox.values() if handled is None}
        if execution_ids is None:
            rows = sorted(
                (
                    r
                    for r in self._records.values()
                    if r.status not in TERMINAL or r.execution_id in waiting
                ),
                key=_age_key,
            )
        else:
            rows = [r for r in map(self._records.get, execution_ids) if r is not None]
        rows = [
            r
            for r in rows
            if r.flow_id in flows
            and (r.owner is None or not self._alive(r.owner, now) or (mine and r.owner == node_id))
        ]
        if execution_ids is None:
            rows = rows[: fair_share(len(rows), max(share, 1), limit)]
        claimed: list[Claimed] = []
        for record in rows:
            epoch = record.epoch + 1
            self._records[record.execution_id] = record.model_copy(
                update={"owner": node_id, "epoch": epoch}
            )
            claimed.append(
                Claimed(record.execution_id, record.flow_id, record.status, record.wake_at, epoch)
            )
        return claimed

    async def owners(self, execution_ids: Sequence[str]) -> dict[str, Fence | None]:
        found: dict[str, Fence | None] = {}
        for execution_id in execution_ids:
            record = self._records.get(execution_id)
            if record is not None:
                owner = record.owner
                found[execution_id] = None if owner is None else (owner, record.epoch)
        return found

    async def post(self, execution_id: str, kind: str, body: str) -> str:
        message_id = f"{time.time_ns():020d}-{secrets.token_hex(6)}"
        self._inbox[message_id] = (InboxMessage(message_id, execution_id, kind, body), None, None)
        return message_id

    async def inbox(self, node_id: str, limit: int = 100) -> list[InboxMessage]:
        found = []
        for message_id in sorted(self._inbox):
            message, handled, _ = self._inbox[message_id]
            record = self._records.get(message.execution_id)
            if handled is None and record is not None and record.owner == node_id:
                found.append(message)
                if len(found) >= limit:
                    break
        return found

    async def answer(self, message_id: str, reply: str | None) -> None:
        entry = self._inbox.get(message_id)
        if entry is None:
            return
        if reply is None:
            del self._inbox[message_id]
        else:
            self._inbox[message_id] = (entry[0], time.time(), reply)

    async def reply(self, message_id: str) -> tuple[bool, str | None] | None:
        entry = self._inbox.get(message_id)
        if entry is None:
            return None
        handled = entry[1] is not None
        if handled:
            del self._inbox[message_id]
        return handled, entry[2]

    async def prune_inbox(self, before: float) -> None:
        for message_id, (_, handled, _) in list(self._inbox.items()):
            if handled is not None and handled < before:
                del self._inbox[message_id]

    async def withdraw(self, message_id: str) -> bool:
        entry = self._inbox.get(message_id)
        if entry is None or entry[1] is not None:
            return False
        del self._inbox[message_id]
        return True

    # -- statistics --------------------------------------------------------
    async def stats(self, flow_id: str | None = None) -> ExecutionStats:
        counts = zero_counts()
        chosen = self._select(flow_id, None, None)
        for record in chosen:
            counts[record.status] += 1
        ids = [r.execution_id for r in chosen] if flow_id is not None else list(self._tasks)
        rows: dict[str, list[TaskResult]] = {}
        for execution_id in ids:
            for row in self._tasks.get(execution_id, {}).values():
                rows.setdefault(row.task_id, []).append(row)
        steps: dict[str, StepStats] = {}
        for task_id in sorted(rows):
            of_task = rows[task_id]
            durations = [
                (r.finished_at - r.started_at).total_seconds() * 1000
                for r in of_task
                if r.status == "completed" and r.started_at and r.finished_at
            ]
            p50, p95 = (percentile(durations, q) for q in PERCENTILES)
            steps[task_id] = StepStats(
                count=len(of_task),
                failures=sum(r.status == "failed" for r in of_task),
                retries=sum(max(r.attempts - 1, 0) for r in of_task),
                p50_ms=p50,
                p95_ms=p95,
            )
        return ExecutionStats(flow_id=flow_id, counts=counts, steps=steps)


def _age_key(record: ExecutionRecord) -> tuple[float, str]:
    return (record.created_at.timestamp(), record.execution_id)
