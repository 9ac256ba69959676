"""The small protocols through which the runtime drives the layer above it.

``actors`` never imports ``water``: it runs any ``Decider`` (pure execution
logic) over any ``JournalStore`` (durable storage of its events).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from actors.effects import Effect


class Decider(Protocol):
    """Execution logic for the executions of one flow; every method is pure."""

    def initial(self, execution_id: str) -> Any:
        """The state of an execution that does not exist yet."""

    def recover(self, execution_id: str, stored: Any) -> Any:
        """Rebuild the state from what ``JournalStore.load_stream`` returned."""

    def handle(self, state: Any, message: Any, now: float) -> list[Any]:
        """Decide the events a message causes and fold them into ``state``.

        Raises ``CommandRejected`` when the message does not apply.
        """

    def effects(self, state: Any, performed: set[Any]) -> list[Effect]:
        """What must be done now, skipping effects whose ident is in ``performed``."""

    def forward(self, state: Any, message: Any) -> tuple[str, Any] | None:
        """Another execution that must handle this message instead, if any."""

    def status(self, state: Any) -> str: ...

    def is_terminal(self, state: Any) -> bool: ...

    def is_idle(self, state: Any) -> bool:
        """True when nothing is in flight and only outside help moves it on."""

    def view(self, state: Any) -> Any:
        """The public snapshot of the state (answers to asks)."""

    def summary(self, state: Any) -> Any:
        """A cheaper view, without per-step detail (for result waiters)."""

    def append_request(
        self, state: Any, events: list[Any], previous_status: str | None, checkpoint: bool
    ) -> Any:
        """What the journal must write for these events (opaque to the runtime)."""

    def committed(self, state: Any, events: list[Any]) -> None:
        """Called once events are durable (for observers such as metrics)."""

    def wants_checkpoint(self, state: Any) -> bool: ...


class DeciderFactory(Protocol):
    def decider_for(self, flow_id: str) -> Decider:
        """The decider of a registered flow (raises ``LookupError`` if unknown)."""

    def flow_of(self, stored: Any) -> str:
        """The flow id of a stored stream."""


class JournalStore(Protocol):
    async def commit(self, batch: Sequence[Any]) -> list[BaseException | None]:
        """Write a batch of append requests in as few transactions as possible."""

    async def load_stream(self, execution_id: str) -> Any | None:
        """Checkpoint plus later events of an execution, or None if it does not exist."""

    def is_transient(self, error: BaseException) -> bool:
        """Whether an error of ``commit`` or ``load_stream`` is a storage fault that
        passes by itself (the runtime then retries with back-off instead of failing)."""
