"""What a coordinator asks a task supervisor to run."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from supervision import CircuitBreaker


class SuspendStep(BaseException):
    """Raised inside a step body to suspend the step with a payload.

    It derives from BaseException so that ``except Exception`` in user code does
    not swallow it.
    """

    def __init__(self, payload: Any = None) -> None:
        super().__init__("step suspended")
        self.payload = payload


@dataclass(frozen=True, slots=True)
class SupervisorSpec:
    """How the supervisor of one task id is configured."""

    task_id: str
    breaker: CircuitBreaker | None = None
    max_workers: int = 8
    max_restarts: int = 3
    restart_period: float = 5.0


@dataclass(slots=True)
class StepJob:
    """One run of a step body.

    ``body`` is called with no arguments: for an async body it returns an
    awaitable that the supervisor runs on the reactor loop; for a sync body it
    runs on a worker thread. Its return value is the step's JSON-able output;
    raising ``SuspendStep`` suspends the step, any other exception fails it.
    """

    execution_id: str
    key: str
    attempt: int
    task_id: str
    body: Callable[[], Any]
    is_async: bool
    timeout: float | None = None
    tag: Hashable = None
    """The interpreter's own mark for this kind of run (e.g. a compensation), handed
    back in the outcome message untouched."""
