"""Execution status values."""

from __future__ import annotations

from enum import StrEnum


class ExecutionStatus(StrEnum):
    """Where an execution stands. Values are lower-case strings."""

    pending = "pending"
    running = "running"
    pausing = "pausing"
    paused = "paused"
    waiting = "waiting"
    completed = "completed"
    failed = "failed"
    cancelled = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL

    @property
    def is_active(self) -> bool:
        """True while the execution still has work it will do without outside help."""
        return self in (ExecutionStatus.running, ExecutionStatus.pausing)


_TERMINAL = frozenset(
    {ExecutionStatus.completed, ExecutionStatus.failed, ExecutionStatus.cancelled}
)
