"""What the engine's journal writes and reads, for any interpreter.

The runtime appends events; this module decides what is written beside them, in
the same transaction, the same way for every kind of program:

* the executions index row, whenever the status changes (and with every
  checkpoint), so listings and recovery never run ahead of the journal;
* now and then a checkpoint: the interpreter's state (if it can be stored; a
  code-first execution's cannot, and is rebuilt by replaying all its events),
  its summary view, and the step rows (``task_results``) changed since the last
  one. Checkpoints are taken when an execution settles (goes idle or finishes)
  and every ``max(checkpoint_every, 2 x steps)`` events, so their cost stays
  linear in the number of steps;
* between checkpoints, the rows of completed steps once ``ROWS_EVERY`` of them
  are waiting, so a long fan-out never holds (nor writes) all its rows at once.

The bookkeeping this takes (events since the last checkpoint, how many completed
step rows are written) belongs to the writer of one execution and to its
checkpoints, never to the interpreter's state.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from actors.effects import Phase, Status
from actors.protocols import Interpreter, Stored
from water.events import Event
from water.snapshot import Snapshot
from water.storage import (
    AppendRequest,
    Checkpoint,
    ExecutionRecord,
    JSONText,
    Storage,
    TaskResult,
)
from water.storage.base import Fence
from water.storage.faults import DRIVER_ERRORS, is_transient, storage_error

CHECKPOINT_EVERY = 1000
"""Events between two checkpoints of an execution with few steps."""

ROWS_EVERY = 256
"""Completed steps whose rows are written between checkpoints, at once."""

# Keys of a stored checkpoint's state: the interpreter's own state (None when it
# cannot be stored), the definition it runs, and the writer's bookkeeping.
_STATE, _DEFINITION, _ROWS = "interpreter", "definition", "rows"


class Journaled(Protocol):
    """What an interpreter tells the journal about its state, beside its events."""

    def dump(self, state: Any) -> dict[str, Any] | JSONText | None:
        """The state as JSON-able data (or JSON text), or None when it cannot be stored
        (replay it)."""

    def index_row(self, state: Any) -> ExecutionRecord:
        """The executions index row of the state."""

    def step_rows(
        self, state: Any, written: int, completed_only: bool = False
    ) -> tuple[list[TaskResult], int]:
        """Rows of the steps changed since ``written`` completed rows were written, and
        the new count (a completed step's row is written once; others each time,
        unless ``completed_only``)."""

    def completed(self, state: Any) -> int:
        """How many steps have completed (rows ``step_rows`` counts)."""

    def size(self, state: Any) -> int:
        """How many steps the state holds (checkpoints are spaced by it)."""

    def view(self, state: Any, detail: bool) -> Any: ...

    def status(self, state: Any) -> Status: ...


class StreamWriter:
    """Encodes the appends of one execution (``actors.protocols.StreamWriter``)."""

    __slots__ = (
        "_every",
        "_fence",
        "_final",
        "_label",
        "_program",
        "_rows",
        "_seq",
        "_since",
        "execution_id",
    )

    def __init__(
        self,
        program: Journaled,
        execution_id: str,
        seq: int,
        rows: int,
        every: int = CHECKPOINT_EVERY,
        final: bool = False,
        fence: Fence | None = None,
    ) -> None:
        self._program = program
        self._fence = fence  # (node, epoch) this writer appends under
        self.execution_id = execution_id
        self._seq = seq
        self._rows = rows
        self._every = every
        self._since = 0
        self._label: object = None  # the status last written to the index (None: unknown)
        self._final = final  # the stored execution had finished (its checkpoint says so)

    def encode(
        self, state: Any, events: list[Any], *, settle: bool, status: Status
    ) -> AppendRequest:
        program = self._program
        expected = self._seq
        self._seq += len(events)
        self._since += len(events)
        checkpoint = settle or self._since >= max(self._every, 2 * program.size(state))
        label = status.label
        if self._final and status.phase is not Phase.DONE:
            # a retry: the stored snapshot must not show the end any more
            checkpoint = True
            self._final = False
        record = None
        if checkpoint or label != self._label:
            record = program.index_row(state)
            self._label = label
        cp = None
        rows: list[TaskResult] = []
        if not checkpoint and program.completed(state) - self._rows >= ROWS_EVERY:
            rows, self._rows = program.step_rows(state, self._rows, completed_only=True)
        if checkpoint:
            self._since = 0
            rows, self._rows = program.step_rows(state, self._rows)
            view: Snapshot = program.view(state, False)
            cp = Checkpoint(
                execution_id=self.execution_id,
                seq=self._seq,
                state=_wrap(program.dump(state), view.flow_id, self._rows),
                view=view,
            )
        return AppendRequest(
            execution_id=self.execution_id,
            events=events,
            expected_seq=expected,
            record=record,
            checkpoint=cp,
            task_results=rows,
            fence=self._fence,
        )


def _wrap(
    dumped: dict[str, Any] | JSONText | None, definition: str, rows: int
) -> dict[str, Any] | JSONText:
    """A checkpoint's state: the interpreter's, the definition, the rows written.

    An interpreter state already encoded is wrapped as text, so that the storage
    writes the whole of it as it is (no second copy of a large state).
    """
    if isinstance(dumped, JSONText):
        head = f'{{"{_STATE}":'
        tail = f',"{_DEFINITION}":{json.dumps(definition)},"{_ROWS}":{int(rows)}}}'
        return JSONText("".join((head, dumped.text, tail)))
    return {_STATE: dumped, _DEFINITION: definition, _ROWS: rows}


def _unpack(checkpoint: Checkpoint) -> tuple[str | None, dict[str, Any] | None, int]:
    """(definition, interpreter state, rows written) of a stored checkpoint.

    Checkpoints written before the state was wrapped hold the interpreter's state
    itself (with ``flow_id`` and ``saved_results``), or ``{"replay": True, ...}``
    for a code-first execution.
    """
    data = checkpoint.state
    if isinstance(data, JSONText):  # kept as it was handed in (in memory)
        data = json.loads(data.text)
    if _STATE in data:
        return data.get(_DEFINITION), data[_STATE], int(data.get(_ROWS, 0))
    if data.get("replay"):
        return data.get("flow_id"), None, 0
    return data.get("flow_id"), data, int(data.get("saved_results", 0))


class EngineStore:
    """The engine's storage as the runtime's ``JournalStore`` (driver errors as
    ``StorageError``)."""

    def __init__(self, storage: Storage, checkpoint_every: int = CHECKPOINT_EVERY) -> None:
        self.storage = storage
        self.checkpoint_every = checkpoint_every
        self.fences: Callable[[str], Fence | None] | None = None
        """The fence of each execution's next writer (``water.nodes``; None: none)."""
        self.name = f"storage {storage.url or type(storage).__name__!r}"

    async def commit(self, batch: Sequence[Any]) -> list[BaseException | None]:
        try:
            results = await self.storage.commit(batch)
        except DRIVER_ERRORS as exc:
            raise storage_error(exc, self.name) from exc
        return [None if r is None else storage_error(r, self.name) for r in results]

    async def load(self, execution_id: str) -> Stored | None:
        try:
            checkpoint = await self.storage.load_checkpoint(execution_id)
            definition, state, rows = (None, None, 0)
            after = 0
            if checkpoint is not None:
                definition, state, rows = _unpack(checkpoint)
                # without a stored state, the interpreter replays every event
                after = checkpoint.seq if state is not None else 0
            events: list[Event] = await self.storage.load_events(execution_id, after)
        except DRIVER_ERRORS as exc:
            raise storage_error(exc, self.name) from exc
        if checkpoint is None and not events:
            return None
        if definition is None:
            definition = str(getattr(events[0], "flow_id", ""))
        seq = events[-1].seq if events else (checkpoint.seq if checkpoint is not None else 0)
        return Stored(definition, state, events, seq, rows)

    def writer(
        self, execution_id: str, interpreter: Interpreter, state: Any, stored: Stored | None
    ) -> StreamWriter:
        program: Journaled = interpreter  # type: ignore[assignment]
        seq = stored.seq if stored is not None else 0
        rows = int(stored.journal or 0) if stored is not None else 0
        final = stored is not None and program.status(state).phase is Phase.DONE
        fence = None if self.fences is None else self.fences(execution_id)
        return StreamWriter(program, execution_id, seq, rows, self.checkpoint_every, final, fence)

    def is_transient(self, error: BaseException) -> bool:
        return is_transient(error)
