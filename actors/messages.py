"""The runtime's messages: what users send to executions, and what its actors send each other.

The six public steering messages are what users send through
``ExecutionRef.ask/tell``. The others travel inside the runtime: a run of a step
body reporting its outcome, a timer coming due, an execution starting or a child
execution reporting to its parent, and the envelopes a coordinator's mailbox
carries (an ask, a wake-up, a failed append).

A message says what happened to the runtime; the interpreter turns it into the
events that are journaled (``RunFailed`` may become a ``step_failed`` event with a
retry, or nothing if the run was stale). The names differ on purpose.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from supervision import WaterError


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


@dataclass(frozen=True, slots=True)
class Retry:
    """Run a failed execution again from its failed steps (completed steps are kept)."""


PUBLIC_MESSAGES = (Pause, Resume, Cancel, Signal, GetStatus, Retry)


# -- between the runtime's actors -------------------------------------------------
@dataclass(frozen=True, slots=True)
class Start:
    """Create (or, if it exists, look up) an execution of ``definition``.

    ``trace`` is the trace context of the caller (W3C ``traceparent``/``tracestate``
    text), journaled with the start; the runtime carries it without reading it.
    A fork names the execution it was ``forked_from`` and ``carries`` the outputs of
    that execution's steps it does not run again (step key -> output, in completion
    order).
    """

    definition: str
    input: Any = None
    parent_id: str | None = None
    parent_step: str | None = None
    trace: Mapping[str, str] | None = None
    forked_from: str | None = None
    carried: tuple[tuple[str, Any], ...] = ()


@dataclass(frozen=True, slots=True)
class RetryChild:
    """A parent that is retried retries its child: ``Retry``, for a failed or cancelled
    child, applied once per ``generation`` (the parent's retry count): a repeated one
    changes nothing."""

    generation: int


@dataclass(frozen=True, slots=True)
class RunSucceeded:
    """A run of a step body returned ``output`` (its JSON form).

    ``tag`` is the job's tag, handed back untouched (an interpreter's own mark, such
    as a compensation run); a run is ``(key, attempt, tag)``.
    """

    key: str
    attempt: int
    output: Any = None
    tag: Hashable = None


@dataclass(frozen=True, slots=True)
class RunFailed:
    """A run of a step body raised ``error`` (or was abandoned: timeout, crash)."""

    key: str
    attempt: int
    error: BaseException
    tag: Hashable = None
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunSuspended:
    """A run of a step body suspended itself with ``payload`` (it waits for a person)."""

    key: str
    attempt: int
    payload: Any = None
    tag: Hashable = None


@dataclass(frozen=True, slots=True)
class TimerDue:
    """A timer armed to fire at ``fire_at`` came due.

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


# -- a coordinator's envelopes -------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Query:
    """An ``ask``: handle ``message`` and answer with the execution's view.

    ``detail`` asks for the full view (per-step rows); without it, the summary.
    """

    message: Any
    detail: bool = True


@dataclass(frozen=True, slots=True)
class Wake:
    """Rehydrate (if needed) and carry on: recovery, wake-up timers, restarts."""


@dataclass(frozen=True, slots=True)
class JournalFailed:
    """A pipelined append of the coordinator ``incarnation`` failed: it is not durable."""

    incarnation: int
    error: BaseException


@dataclass(frozen=True, slots=True)
class Failure:
    """An error answered to an ``ask`` (raised again on the asking side)."""

    error: BaseException


# -- errors -----------------------------------------------------------------------------
class CommandRejected(WaterError):
    """A steering message does not apply to the execution in its current state.

    ``code`` is ``"conflict"`` (wrong state), ``"invalid"`` (bad payload) or
    ``"not_found"``.
    """

    def __init__(self, message: str, code: str = "conflict") -> None:
        super().__init__(message)
        self.code = code


class ExecutionNotFound(CommandRejected):
    """No execution has this id."""

    def __init__(self, execution_id: str) -> None:
        super().__init__(f"no execution {execution_id!r}", code="not_found")
        self.execution_id = execution_id


class SystemShutDown(WaterError, RuntimeError):
    """The engine is shut down: it takes no more messages."""

    def __init__(self) -> None:
        super().__init__("the engine is shut down")


class Fenced(WaterError):
    """An append was refused because this engine no longer owns the execution.

    Another engine claimed it (this one's lease lapsed): the coordinator stops
    without performing anything more, and never restarts here. The store's own
    error (``water.storage.OwnershipLost``) is one of these.
    """
