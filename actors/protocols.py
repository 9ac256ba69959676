"""The small protocols through which the runtime drives the layer above it.

``actors`` never imports ``water``: it runs any ``Interpreter`` (the pure logic
of one kind of program: a flow, a code-first workflow) over any ``JournalStore``
(durable storage of events). What is written beside the events (index rows,
checkpoints) is the store's business: the runtime hands each execution's events
to a ``StreamWriter`` the store gives it, and commits what that writer encodes.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence, Set
from dataclasses import dataclass
from typing import Any, Protocol

from actors.effects import Effect, Forward, Status


@dataclass(frozen=True, slots=True)
class Stored:
    """What the store holds of one execution: enough to rebuild its state."""

    definition: str
    """The id of the definition it runs (the interpreter to rebuild it with)."""
    checkpoint: Any
    """The store's latest checkpoint (opaque to the runtime), or None."""
    events: Sequence[Any]
    """The events after the checkpoint, in order."""
    seq: int
    """The sequence number of the last event."""
    journal: Any = None
    """The store's own bookkeeping for the execution's next writer (opaque here)."""


class Interpreter(Protocol):
    """Execution logic for the executions of one definition.

    Pure: no threads, no I/O, no clocks (time comes in as ``now``). The state is the
    interpreter's own; the runtime only passes it back.
    """

    def restore(self, execution_id: str, stored: Stored | None) -> Any:
        """The state of an execution: new when ``stored`` is None, else rebuilt from it.

        Raises if the execution cannot run under this interpreter (its definition
        changed); the runtime then leaves it alone.
        """

    def handle(self, state: Any, message: Any, now: float) -> list[Any] | Forward:
        """The events ``message`` causes, folded into ``state``; or where to forward it.

        Raises ``CommandRejected`` when the message does not apply.
        """

    def effects(self, state: Any, performed: Set[Hashable]) -> Sequence[Effect]:
        """What must be done now, leaving out effects whose ``ident`` is in ``performed``."""

    def status(self, state: Any) -> Status:
        """Where the execution stands."""

    def view(self, state: Any, detail: bool) -> Any:
        """The public view of the state (answers to asks); ``detail``: with per-step rows."""


class Interpreters(Protocol):
    """Finds the interpreter of a definition."""

    def interpreter(self, definition: str) -> Interpreter:
        """The interpreter of a registered definition (raises ``LookupError`` if unknown)."""


class StreamWriter(Protocol):
    """Encodes one execution's appends for the store (one writer per coordinator)."""

    def encode(self, state: Any, events: list[Any], *, settle: bool, status: Status) -> Any:
        """The request that appends ``events`` (already folded into ``state``).

        ``settle``: the execution goes idle or finishes with these events (its
        coordinator stops after the commit), so everything needed to rebuild and
        show it must be written now. ``status``: the interpreter's status of ``state``.
        """


class JournalStore(Protocol):
    """Durable storage of executions, as the runtime uses it (on the reactor loop)."""

    async def commit(self, batch: Sequence[Any]) -> list[BaseException | None]:
        """Write a batch of encoded requests in as few transactions as possible."""

    async def load(self, execution_id: str) -> Stored | None:
        """What is stored of an execution, or None if it does not exist."""

    def writer(
        self, execution_id: str, interpreter: Interpreter, state: Any, stored: Stored | None
    ) -> StreamWriter:
        """A writer for the appends of an execution restored (or created) from ``stored``."""

    def is_transient(self, error: BaseException) -> bool:
        """Whether an error of ``commit`` or ``load`` is a storage fault that passes by
        itself (the runtime then retries with back-off instead of failing)."""


class Placement(Protocol):
    """Where executions run when several engines share one store (``water.nodes``).

    The system runs an execution only while its engine owns it; a message for one it
    does not own is handed to ``forward`` (which may claim it, or leave the message in
    the store for its owner), and an execution whose append was fenced is ``lost``.
    """

    def is_local(self, execution_id: str) -> bool:
        """Whether this engine owns the execution now (a dict lookup: called per message)."""

    def forward(self, execution_id: str, message: Any) -> None:
        """Deliver a message for an execution this engine does not own (any thread;
        never blocks). Outcomes of step runs (late results) are dropped."""

    def ask(self, execution_id: str, message: Any, timeout: float | None, detail: bool) -> Any:
        """Ask an execution this engine does not own (blocks the caller's thread)."""

    def lost(self, execution_id: str) -> None:
        """A coordinator of the execution was fenced: this engine no longer owns it."""

    def finished(self, execution_id: str) -> None:
        """The execution finished here (a later message may claim it again)."""
