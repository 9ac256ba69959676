"""The storage contract: an append-only event journal plus the read models beside it.

A ``Storage`` is asynchronous and is only ever called from the engine's reactor
loop (one thread), so implementations need no locks of their own.

Rows and what they are for:

* events: the source of truth, one row per event, ``(execution_id, seq)`` unique;
  ``seq`` starts at 1 and has no gaps. Appending with an ``expected_seq`` that is
  not the stream's last sequence number is a conflict (a second owner or a bug),
  raised as ``ConcurrencyError`` and never silently merged.

Storages raise ``StorageError`` (``water.errors``) for every failure of their own,
never a raw driver error; ``water.storage.faults`` says which faults are transient.
* executions: an index for listing and recovery (status, flow, parent, wake time).
* snapshots: immutable checkpoints ``(execution_id, seq, state, view)`` that make
  rehydration and status reads fast. Never the source of truth.
* task_results: one row per step (by step key) for operators' step tables.

``stats`` computes ``water.stats.ExecutionStats`` where the rows are (in SQL for the
SQL storages), never by loading every row into memory.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeAlias

from pydantic import BaseModel, ConfigDict
from pydantic_core import CoreSchema, core_schema

from actors.messages import Fenced
from water.errors import StorageError
from water.events import ErrorInfo, Event
from water.snapshot import Snapshot
from water.stats import ExecutionStats
from water.status import ExecutionStatus

LIST_LIMIT_MAX = 1000
"""The largest page ``list_executions`` returns."""

StatusFilter: TypeAlias = ExecutionStatus | str | Sequence[ExecutionStatus | str] | None
"""What ``list_executions`` and ``count_executions`` take as ``status``."""

RECOVER_ALWAYS = (ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.PAUSING)
"""Statuses of executions an engine resumes at start, whatever else the row says."""

RECOVER_WITH_TIMER = (ExecutionStatus.WAITING,)
"""Statuses of executions an engine resumes at start when they have a ``wake_at``."""


Fence: TypeAlias = tuple[str, int]
"""``(node id, epoch)``: an append with it is written only while its execution is
owned by that node at that epoch (or does not exist yet: a new execution)."""

TERMINAL = (ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED)
"""Statuses of finished executions (no node needs to own them to run them)."""

Closer: TypeAlias = Callable[[], Coroutine[Any, Any, None]]
"""Stops what ``Storage.listen`` started."""


def fair_share(orphans: int, nodes: int, limit: int) -> int:
    """How many of ``orphans`` executions one of ``nodes`` live nodes claims at once:
    its share, rounded up, at most ``limit``."""
    return min(limit, -(-orphans // max(nodes, 1)))


INBOX, REPLIES, STATUSES = "water_inbox", "water_reply", "water_status"
"""The channels of ``Storage.listen``."""

FlowEvent: TypeAlias = tuple[str, str, Event]
"""An event with its execution's id and flow id (``events_since``)."""


def statuses(status: StatusFilter) -> list[ExecutionStatus] | None:
    """A status filter as a list of statuses (None: no filter); refuses unknown values."""
    if status is None:
        return None
    if isinstance(status, str):
        return [ExecutionStatus(status)]
    return [ExecutionStatus(s) for s in status]


def check_page(limit: int, offset: int) -> None:
    """Refuse a page that no storage serves (shared by every implementation)."""
    if not 1 <= limit <= LIST_LIMIT_MAX:
        raise ValueError(f"limit must be between 1 and {LIST_LIMIT_MAX}, got {limit}")
    if offset < 0:
        raise ValueError(f"offset must be >= 0, got {offset}")


class ConcurrencyError(StorageError):
    """An append's expected sequence number did not match the stream (never transient)."""

    def __init__(self, execution_id: str, expected_seq: int, actual_seq: int | None = None) -> None:
        self.execution_id = execution_id
        self.expected_seq = expected_seq
        self.actual_seq = actual_seq
        found = "" if actual_seq is None else f", found {actual_seq}"
        super().__init__(
            f"event stream of execution {execution_id!r} expected seq {expected_seq}{found}: "
            "another owner appended to it"
        )


class OwnershipLost(StorageError, Fenced):
    """An append was refused: the execution is owned by another node (or epoch) now.

    Never transient: the writer must stop; the execution's owner carries on.
    """

    def __init__(self, execution_id: str, fence: Fence, owner: str | None, epoch: int) -> None:
        self.execution_id = execution_id
        self.fence = fence
        self.owner = owner
        self.epoch = epoch
        held = "no node" if owner is None else f"node {owner!r} (epoch {epoch})"
        super().__init__(
            f"execution {execution_id!r} is owned by {held}, not by node {fence[0]!r} "
            f"(epoch {fence[1]}): this node lost it"
        )


class ExecutionRecord(BaseModel):
    """A row of the executions index."""

    model_config = ConfigDict(frozen=True)

    execution_id: str
    flow_id: str
    status: ExecutionStatus
    created_at: datetime
    updated_at: datetime
    parent_id: str | None = None
    wake_at: float | None = None
    """Earliest armed timer (unix seconds) of a waiting execution, for recovery."""
    error: str | None = None
    owner: str | None = None
    """The node that runs it (None: none); see ``water.nodes``."""
    epoch: int = 0
    """How many times a node claimed it (each claim fences out the previous owner)."""


@dataclass(frozen=True, slots=True)
class NodeRow:
    """A node (an engine) sharing the store, as its row says."""

    node_id: str
    host: str
    pid: int
    started_at: float
    lease_until: float
    alive: bool
    """Its lease is ahead of the store's clock."""


@dataclass(frozen=True, slots=True)
class Claimed:
    """An execution a node claimed: run it under ``epoch`` (its fence)."""

    execution_id: str
    flow_id: str
    status: ExecutionStatus
    wake_at: float | None
    epoch: int


@dataclass(frozen=True, slots=True)
class InboxMessage:
    """A message for an execution, left in the store for its owner."""

    id: str
    execution_id: str
    kind: str
    body: str
    """JSON text (``water.nodes.inbox`` encodes it)."""


def is_recoverable(record: ExecutionRecord) -> bool:
    """Whether ``executions_to_recover`` returns this row (the ``RECOVER_*`` statuses)."""
    return record.status in RECOVER_ALWAYS or (
        record.status in RECOVER_WITH_TIMER and record.wake_at is not None
    )


class TaskResult(BaseModel):
    """One step's outcome as kept in ``task_results``."""

    key: str
    task_id: str
    status: str
    attempts: int = 0
    output: Any = None
    error: ErrorInfo | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    child_execution_id: str | None = None
    """The child execution of a nested flow's step."""


class JSONText:
    """A checkpoint's ``state`` (or a value in it) already encoded as JSON ``text``.

    A SQL storage writes it into the row as it is: a large state is encoded once,
    straight to text, and never copied into Python objects on the way. Whoever reads
    a checkpoint's state decodes it if it comes back as text (``water.journal``).
    """

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, JSONText) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)

    def __repr__(self) -> str:
        return f"JSONText({len(self.text)} chars)"

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> CoreSchema:
        # taken as it is (no copy of a large text), written as its text
        return core_schema.is_instance_schema(
            cls,
            serialization=core_schema.plain_serializer_function_ser_schema(lambda v: v.text),
        )


class Checkpoint(BaseModel):
    """An immutable snapshot row: the interpreter state after event ``seq``.

    ``state`` may be ``JSONText`` (or hold such values): JSON already encoded.
    """

    execution_id: str
    seq: int
    state: dict[str, Any] | JSONText
    view: Snapshot


@dataclass(slots=True, kw_only=True)
class AppendRequest:
    """One coordinator's share of a group commit (built on every step: kept light).

    ``events`` (may be empty) get sequence numbers ``expected_seq + 1 ...``; the
    optional ``record``, ``checkpoint`` and ``task_results`` are written in the same
    transaction, so the index never runs ahead of the journal. Its parts are the
    pydantic models above; the request itself never leaves the process.
    """

    execution_id: str
    expected_seq: int
    events: list[Event] = field(default_factory=list)
    record: ExecutionRecord | None = None
    checkpoint: Checkpoint | None = None
    task_results: list[TaskResult] = field(default_factory=list)
    fence: Fence | None = None
    """Write only while this node owns the execution at this epoch (``OwnershipLost``
    otherwise); a new index row is written with it as its owner."""


class Storage(abc.ABC):
    """Asynchronous storage: ``SQLiteStorage``, ``PostgresStorage`` or ``MemoryStorage``."""

    url: str = ""

    async def initialize(self) -> None:  # noqa: B027
        """Open connections and create or migrate the schema. Idempotent."""

    async def close(self) -> None:  # noqa: B027
        """Release connections. Idempotent."""

    # -- the journal -------------------------------------------------------
    @abc.abstractmethod
    async def append_events(
        self, execution_id: str, events: Sequence[Event], expected_seq: int
    ) -> int:
        """Append events after ``expected_seq``; return the new last sequence number."""

    @abc.abstractmethod
    async def load_events(self, execution_id: str, after_seq: int = 0) -> list[Event]:
        """Events of one execution with ``seq > after_seq``, in order, ``seq`` set."""

    async def last_seq(self, execution_id: str) -> int:
        """The sequence number of an execution's last event (0: none)."""
        events = await self.load_events(execution_id)
        return events[-1].seq if events else 0

    @abc.abstractmethod
    async def events_since(self, ts: float, flow_id: str | None = None) -> list[FlowEvent]:
        """``(execution_id, flow_id, event)`` of every event (of ``flow_id``) whose time is
        ``ts`` or later (unix seconds), oldest first. Reads an index on the events' times
        (the store feed of ``Engine.subscribe`` asks for the last seconds' events)."""

    async def commit(self, batch: Sequence[AppendRequest]) -> list[BaseException | None]:
        """Write many appends at once (group commit); one result per request, in order.

        The default applies them one by one; SQL stores override it with one
        transaction for the whole batch, isolating a conflicting request if needed.
        """
        results: list[BaseException | None] = []
        for req in batch:
            try:
                await self.apply(req)
                results.append(None)
            except Exception as exc:
                results.append(exc)
        return results

    async def apply(self, req: AppendRequest) -> None:
        """Apply one request (events, then the rows beside them)."""
        if req.events:
            await self.append_events(req.execution_id, req.events, req.expected_seq)
        if req.record is not None:
            await self.upsert_execution(req.record)
        if req.checkpoint is not None:
            await self.save_checkpoint(req.checkpoint)
        for result in req.task_results:
            await self.save_task_result(req.execution_id, result.task_id, result)

    # -- snapshots ---------------------------------------------------------
    @abc.abstractmethod
    async def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        """Store an immutable checkpoint (interpreter state plus its public view)."""

    @abc.abstractmethod
    async def load_checkpoint(self, execution_id: str) -> Checkpoint | None:
        """The checkpoint with the highest ``seq``, or None."""

    async def save_snapshot(self, snapshot: Snapshot, state: dict[str, Any] | None = None) -> None:
        """Store a snapshot (optionally with the interpreter state it was built from)."""
        await self.save_checkpoint(
            Checkpoint(
                execution_id=snapshot.execution_id,
                seq=snapshot.seq,
                state=state or {},
                view=snapshot,
            )
        )

    async def load_snapshot(self, execution_id: str) -> Snapshot | None:
        """The latest stored snapshot's public view, or None."""
        checkpoint = await self.load_checkpoint(execution_id)
        return None if checkpoint is None else checkpoint.view

    # -- step results ------------------------------------------------------
    @abc.abstractmethod
    async def save_task_result(self, execution_id: str, task_id: str, result: TaskResult) -> None:
        """Insert or replace the row of ``result.key`` (``task_id`` is the task's id)."""

    @abc.abstractmethod
    async def load_task_results(self, execution_id: str) -> list[TaskResult]:
        """All step rows of an execution, ordered by ``started_at`` then key."""

    # -- the executions index ---------------------------------------------
    @abc.abstractmethod
    async def upsert_execution(self, record: ExecutionRecord) -> None:
        """Insert or update an index row (``created_at`` of an existing row is kept)."""

    @abc.abstractmethod
    async def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        """One index row, or None."""

    @abc.abstractmethod
    async def list_executions(
        self,
        flow_id: str | None = None,
        status: StatusFilter = None,
        limit: int = 50,
        offset: int = 0,
        *,
        parent_id: str | None = None,
    ) -> list[ExecutionRecord]:
        """Index rows, newest first (``created_at`` descending, then id)."""

    @abc.abstractmethod
    async def count_executions(
        self,
        flow_id: str | None = None,
        status: StatusFilter = None,
        *,
        parent_id: str | None = None,
    ) -> int:
        """How many rows ``list_executions`` would page through."""

    @abc.abstractmethod
    async def delete_execution(self, execution_id: str) -> bool:
        """Delete an execution's events, snapshots, step rows and index row."""

    @abc.abstractmethod
    async def executions_to_recover(self) -> list[ExecutionRecord]:
        """Rows an engine must resume at start, oldest first (``is_recoverable``).

        Pending, running and pausing executions, plus waiting ones with a
        ``wake_at`` (their earliest timer).
        """

    # -- nodes: ownership, leases and the inbox (``water.nodes``) -------------
    shared: bool = False
    """Whether other processes may open this store (then engines share it as nodes)."""

    @abc.abstractmethod
    async def join(self, node_id: str, host: str, pid: int, lease: float) -> None:
        """Record a node with a lease of ``lease`` seconds from now (replacing its row)."""

    @abc.abstractmethod
    async def renew(self, node_id: str, lease: float) -> bool:
        """Extend a node's lease (one statement); False if it had run out (then it is
        not extended: the node must ``join`` again and check what it still owns)."""

    @abc.abstractmethod
    async def expire(self, node_ids: Sequence[str]) -> None:
        """End these nodes' leases now (their processes are known to be dead)."""

    @abc.abstractmethod
    async def leave(self, node_id: str) -> None:
        """A node stops: its executions are left unowned, its row removed."""

    @abc.abstractmethod
    async def nodes(self) -> list[NodeRow]:
        """Every node's row, by id."""

    @abc.abstractmethod
    async def create_owned(
        self, execution_id: str, flow_id: str, node_id: str, parent_id: str | None = None
    ) -> bool:
        """Create the index row of a new execution owned by ``node_id`` at epoch 1,
        unless the execution exists; True if it was created (idempotent start)."""

    @abc.abstractmethod
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
        """Claim executions of these flows that have no live owner (epoch + 1 each).

        Without ``execution_ids``, those unfinished or with messages waiting, oldest
        first: one ``share`` of them (the number of live nodes sharing them: a
        ``share``-th of them, rounded up), at most ``limit``; with them, those of them
        (in any status). ``mine``: executions ``node_id`` owns already are claimed
        again too (a node that restarts under the same id).
        """

    @abc.abstractmethod
    async def owners(self, execution_ids: Sequence[str]) -> dict[str, Fence | None]:
        """The ``(owner, epoch)`` of these executions (None: unowned; absent: unknown)."""

    @abc.abstractmethod
    async def post(self, execution_id: str, kind: str, body: str) -> str:
        """Leave a message for an execution's owner; its id."""

    @abc.abstractmethod
    async def inbox(self, node_id: str, limit: int = 100) -> list[InboxMessage]:
        """Messages not handled yet of executions ``node_id`` owns, oldest first."""

    @abc.abstractmethod
    async def answer(self, message_id: str, reply: str | None) -> None:
        """A message was handled: keep ``reply`` for its sender, or (None) remove it."""

    @abc.abstractmethod
    async def reply(self, message_id: str) -> tuple[bool, str | None] | None:
        """``(handled, reply)`` of a message, None if it is gone; a reply read is removed."""

    @abc.abstractmethod
    async def withdraw(self, message_id: str) -> bool:
        """Remove a message not handled yet; False if it was handled (or is gone)."""

    async def prune_inbox(self, before: float) -> None:  # noqa: B027
        """Remove the answers nobody collected (their asker is gone), answered before
        ``before`` (unix seconds)."""

    async def listen(self, wake: Callable[[str, str], None]) -> Closer | None:
        """Push the news of the store: ``wake(INBOX, execution_id)`` when a message is
        posted, ``wake(REPLIES, message_id)`` when one is answered, ``wake(STATUSES,
        execution_id)`` when a node's append changes an execution's status (on the loop);
        the returned coroutine function stops it. None: this storage pushes nothing
        (poll it)."""
        return None

    # -- statistics -------------------------------------------------------
    @abc.abstractmethod
    async def stats(self, flow_id: str | None = None) -> ExecutionStats:
        """Executions by status and steps by task (of one flow, or of all), as
        ``water.stats`` defines them."""
