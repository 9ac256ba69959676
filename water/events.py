"""The durable events of an execution.

Every message an execution's coordinator handles becomes zero or more of these
events, appended to the journal before any effect of the message is performed.
Replaying them with the interpreter's ``evolve`` rebuilds the execution's state
exactly, without calling user code: decisions that depend on user code or on the
world (which branch matched, whether a loop goes on, when a timer fires, how long
a retry waits) are recorded here when they are made.

Events are pydantic models stored as JSON; the ``type`` field discriminates them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter


class ErrorInfo(BaseModel):
    """A failure as stored and shown: never the exception object itself."""

    model_config = ConfigDict(frozen=True)

    type: str
    message: str
    step: str | None = None
    retryable: bool = True
    details: dict[str, Any] | None = None

    def __str__(self) -> str:
        where = f" in step {self.step!r}" if self.step else ""
        return f"{self.type}{where}: {self.message}"


class _Event(BaseModel):
    model_config = ConfigDict(frozen=False, extra="forbid")

    seq: int = 0
    ts: float = 0.0


class CarriedOutput(BaseModel):
    """The output of a step a fork does not run again: its original's, for that key."""

    model_config = ConfigDict(frozen=True)

    key: str
    output: Any = None


class ExecutionStarted(_Event):
    """An execution starts; a fork names its original (``forked_from``) and ``carried``
    the outputs of the original's steps it completes without running them."""

    type: Literal["execution_started"] = "execution_started"
    flow_id: str
    fingerprint: str
    input: Any = None
    variables: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    parent_id: str | None = None
    parent_step: str | None = None
    trace: dict[str, str] | None = Field(
        default=None,
        description="The W3C trace context (traceparent, tracestate) the execution was started "
        "in, when OpenTelemetry was active: its spans join that trace in every process.",
    )
    forked_from: str | None = None
    carried: list[CarriedOutput] = Field(default_factory=list)


class StepCompleted(_Event):
    type: Literal["step_completed"] = "step_completed"
    key: str
    attempt: int
    output: Any = None


class StepFailed(_Event):
    """A step attempt failed; ``retry_at`` is set when another attempt is scheduled.

    The retry is dispatched when the timer ``retry:<key>`` fires (a ``TimerFired``
    event), with ``attempt + 1``.
    """

    type: Literal["step_failed"] = "step_failed"
    key: str
    attempt: int
    error: ErrorInfo
    retry_at: float | None = None


class StepSuspended(_Event):
    type: Literal["step_suspended"] = "step_suspended"
    key: str
    attempt: int
    payload: Any = None


class StepResumed(_Event):
    type: Literal["step_resumed"] = "step_resumed"
    key: str
    data: Any = None


class ChildUpdated(_Event):
    """A nested flow's child execution changed state (suspended keys, waiting, ...)."""

    type: Literal["child_updated"] = "child_updated"
    key: str
    status: str
    suspended: dict[str, Any] = Field(default_factory=dict)


class BranchDecided(_Event):
    type: Literal["branch_decided"] = "branch_decided"
    node: int
    case: int | None


class LoopDecided(_Event):
    type: Literal["loop_decided"] = "loop_decided"
    node: int
    iteration: int
    proceed: bool


class DecisionFailed(_Event):
    """Deciding how to go on at ``node`` raised (a condition or a wake-time function)."""

    type: Literal["decision_failed"] = "decision_failed"
    node: int
    error: ErrorInfo


class TimerArmed(_Event):
    type: Literal["timer_armed"] = "timer_armed"
    timer: str
    fire_at: float


class TimerFired(_Event):
    type: Literal["timer_fired"] = "timer_fired"
    timer: str


class SignalReceived(_Event):
    type: Literal["signal_received"] = "signal_received"
    name: str
    payload: Any = None


class PauseRequested(_Event):
    type: Literal["pause_requested"] = "pause_requested"


class Paused(_Event):
    type: Literal["paused"] = "paused"


class Resumed(_Event):
    type: Literal["resumed"] = "resumed"


class Cancelled(_Event):
    type: Literal["cancelled"] = "cancelled"
    reason: str | None = None


class CompensationStarted(_Event):
    """The execution failed for good; these completed steps are rolled back in order."""

    type: Literal["compensation_started"] = "compensation_started"
    keys: list[str]
    error: ErrorInfo


class CompensationCompleted(_Event):
    type: Literal["compensation_completed"] = "compensation_completed"
    key: str
    attempt: int


class CompensationFailed(_Event):
    type: Literal["compensation_failed"] = "compensation_failed"
    key: str
    attempt: int
    error: ErrorInfo
    retry_at: float | None = None


class ExecutionCompleted(_Event):
    type: Literal["execution_completed"] = "execution_completed"
    output: Any = None


class ExecutionFailed(_Event):
    type: Literal["execution_failed"] = "execution_failed"
    error: ErrorInfo


class ExecutionRetried(_Event):
    """A failed execution goes on (``Retry``): the steps ``keys`` run again from their
    first attempt, as if they had never run; its completed steps are kept.

    ``parent_retry`` is set when its parent's retry asked for it (``RetryChild``): that
    generation of the parent's retries is then applied once.
    """

    type: Literal["execution_retried"] = "execution_retried"
    keys: list[str] = Field(default_factory=list)
    parent_retry: int | None = None


class ValueRecorded(_Event):
    """A code-first workflow drew a value of the world (``now``, ``uuid4``, ``random``).

    Replays answer the call at ``position`` with this value instead of drawing again.
    """

    type: Literal["value_recorded"] = "value_recorded"
    position: str
    kind: str
    value: Any = None


class PatchMarked(_Event):
    """A code-first workflow took the new side of ``patched(name)`` (at ``position``)."""

    type: Literal["patch_marked"] = "patch_marked"
    name: str
    position: str


class StateRecorded(_Event):
    """A class workflow finished its ``@step`` method ``step``; ``state`` is its state then.

    ``signals`` are the signals received and not yet consumed at that point, so a
    replay that starts after this step finds them again.
    """

    type: Literal["state_recorded"] = "state_recorded"
    step: str
    state: Any = None
    signals: dict[str, list[Any]] = Field(default_factory=dict)


Event = Annotated[
    ExecutionStarted
    | StepCompleted
    | StepFailed
    | StepSuspended
    | StepResumed
    | ChildUpdated
    | BranchDecided
    | LoopDecided
    | DecisionFailed
    | TimerArmed
    | TimerFired
    | SignalReceived
    | PauseRequested
    | Paused
    | Resumed
    | Cancelled
    | CompensationStarted
    | CompensationCompleted
    | CompensationFailed
    | ExecutionCompleted
    | ExecutionFailed
    | ExecutionRetried
    | ValueRecorded
    | PatchMarked
    | StateRecorded,
    Field(discriminator="type"),
]

EVENT_ADAPTER: TypeAdapter[Event] = TypeAdapter(Event)
EVENT_LIST_ADAPTER: TypeAdapter[list[Event]] = TypeAdapter(list[Event])


def encode_event(event: _Event) -> str:
    """The JSON text stored for an event (``seq`` lives in its own column)."""
    return event.model_dump_json(exclude={"seq"})


def decode_event(data: str | bytes, seq: int) -> Event:
    """Rebuild an event from its stored JSON and sequence number."""
    event = EVENT_ADAPTER.validate_json(data)
    event.seq = seq
    return event
