"""Execution status values."""

from __future__ import annotations

from enum import StrEnum

from actors.effects import Phase, Status


class ExecutionStatus(StrEnum):
    """Where an execution stands. Values are lower-case strings."""

    PENDING = "pending"
    RUNNING = "running"
    PAUSING = "pausing"
    PAUSED = "paused"
    WAITING = "waiting"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL

    @property
    def is_active(self) -> bool:
        """True while the execution still has work it will do without outside help."""
        return self in (ExecutionStatus.RUNNING, ExecutionStatus.PAUSING)


class StepStatus(StrEnum):
    """Where a step stands (a task run, or a child execution). Values are lower-case."""

    PENDING = "pending"  # issued while its execution is paused: dispatched on resume
    RUNNING = "running"
    BACKOFF = "backoff"  # failed, a retry is armed
    READY = "ready"  # its retry came due while its execution was paused
    SUSPENDED = "suspended"  # waits for a person (``Resume(data, step=...)``)
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


TERMINAL = frozenset({ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED})
"""Final statuses: an execution leaves them only when it is retried (``Retry``)."""
ACTIVE = frozenset({ExecutionStatus.RUNNING, ExecutionStatus.WAITING})
"""Statuses in which an execution goes on (by itself, or when the world answers)."""
HALTED = frozenset({ExecutionStatus.PAUSING, ExecutionStatus.PAUSED})
"""Statuses of an execution told to pause."""


_PHASES: dict[tuple[str, bool], Status] = {}


def runtime_status(label: str, idle: bool) -> Status:
    """The runtime's view of an execution's status (``idle``: only outside help moves it).

    The same few ``Status`` objects are handed out for every execution.
    """
    status = _PHASES.get((label, idle))
    if status is None:
        if label == ExecutionStatus.PENDING:
            phase = Phase.NEW
        elif label in TERMINAL:
            phase = Phase.DONE
        else:
            phase = Phase.IDLE if idle else Phase.ACTIVE
        status = _PHASES[(label, idle)] = Status(str(label), phase)
    return status
