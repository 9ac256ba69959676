"""Messages understood by coordinators (public steering messages and internal ones).

The five public messages are what users send through ``ExecutionRef.ask/tell``.
The others travel between the runtime's actors: a worker reporting a step's
outcome, a timer firing, a child execution reporting to its parent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


# -- public steering messages -------------------------------------------------
@dataclass(frozen=True, slots=True)
class Pause:
    """Stop starting new steps; in-flight steps settle and their results are kept."""


@dataclass(frozen=True, slots=True)
class Resume:
    """Continue a paused execution, or resume a suspended step with ``data``.

    ``step`` names the suspended step (a key of ``Snapshot.suspended``); it may be
    left out when exactly one step is suspended.
    """

    data: Any = None
    step: str | None = None


@dataclass(frozen=True, slots=True)
class Cancel:
    """Stop the execution for good: running steps are cancelled, timers disarmed."""

    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Signal:
    """Deliver a named signal; a flow waiting for it continues with ``payload``."""

    name: str
    payload: Any = None


@dataclass(frozen=True, slots=True)
class GetStatus:
    """Ask for the execution's current snapshot."""


# -- internal messages --------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Start:
    """Create (or, if it exists, look up) an execution."""

    flow_id: str
    input: Any = None
    parent_id: str | None = None
    parent_step: str | None = None


@dataclass(frozen=True, slots=True)
class StepSucceeded:
    key: str
    attempt: int
    output: Any = None
    compensation: bool = False


@dataclass(frozen=True, slots=True)
class StepFailed:
    key: str
    attempt: int
    error: BaseException
    compensation: bool = False
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StepSuspended:
    key: str
    attempt: int
    payload: Any = None


@dataclass(frozen=True, slots=True)
class TimerFired:
    """A timer armed to fire at ``fire_at`` fired.

    ``fire_at`` ties the firing to the arming it belongs to: a timer re-armed under
    the same name (the next retry of a step) has another deadline, so a late or
    duplicate firing of an earlier arming is recognised and dropped.
    """

    timer: str
    fire_at: float


@dataclass(frozen=True, slots=True)
class ChildUpdate:
    """A child execution reports its state to the step of its parent that runs it."""

    key: str
    child_id: str
    status: str
    suspended: dict[str, Any] = field(default_factory=dict)
    output: Any = None
    error: Any = None


class CommandRejected(Exception):
    """A steering message does not apply to the execution in its current state.

    ``code`` is ``"conflict"`` (wrong state), ``"invalid"`` (bad payload) or
    ``"not_found"``.
    """

    def __init__(self, message: str, code: str = "conflict") -> None:
        super().__init__(message)
        self.code = code


PUBLIC_MESSAGES = (Pause, Resume, Cancel, Signal, GetStatus)
