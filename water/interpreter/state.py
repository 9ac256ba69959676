"""The interpreter's state of one execution: what ``evolve`` folds events into.

Everything here is plain data (JSON-able through pydantic), so a checkpoint is
the state dumped as JSON and rehydration is that JSON plus the events after it.
Values are kept in their JSON form; ``TypeRef`` says how to rebuild their type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import TypeAdapter

from water.events import ErrorInfo
from water.status import ExecutionStatus, StepStatus
from water.storage.base import JSONText

# How to rebuild the type of a JSON value: ["input"], ["out", node, slot],
# ["list", node] (outputs of a parallel/for node), ["signal", node],
# ["dag", node] (outputs of a dag node's sinks, by task id).
TypeRef = list[Any]

# Step statuses
RUNNING = StepStatus.RUNNING
COMPLETED = StepStatus.COMPLETED
FAILED = StepStatus.FAILED
BACKOFF = StepStatus.BACKOFF
READY = StepStatus.READY
SUSPENDED = StepStatus.SUSPENDED
CANCELLED = StepStatus.CANCELLED


@dataclass(slots=True)
class StepState:
    """One step of the execution (a task run, or a nested flow's child execution)."""

    key: str
    task_id: str
    node: int
    slot: int
    kind: str  # "task" | "flow"
    input: Any
    item: int = -1  # index of the item, for a for_ step
    runs: int = 1  # how many times it was dispatched (first run, retries, resumes)
    status: str = RUNNING
    attempt: int = 1
    output: Any = None
    error: ErrorInfo | None = None
    started_at: float = 0.0
    finished_at: float | None = None
    retry_at: float | None = None
    resume_data: Any = None
    suspend_payload: Any = None
    child_id: str | None = None
    child_status: str | None = None
    child_suspended: dict[str, Any] = field(default_factory=dict)
    paused_by_parent: bool = False  # the parent paused this child: it resumes it too
    retry_child: int = 0  # a retry of the parent (its generation) retries the child too


@dataclass(slots=True)
class Stage:
    """Progress of the node the execution is at."""

    node: int
    kind: str
    keys: list[str | None] = field(default_factory=list)
    outputs: list[Any] = field(default_factory=list)
    done: int = 0
    items: list[Any] | None = None
    next_item: int = 0  # for_: the next item to start; dag: how many tasks started
    ready: list[int] = field(default_factory=list)  # dag: slots free to start, in order
    iteration: int = 0
    case: int | None = None
    complete: bool = False
    timer: str | None = None


@dataclass(slots=True)
class CompensationState:
    """The rollback after a failure: completed steps undone in reverse order."""

    keys: list[str]
    error: ErrorInfo
    index: int = 0
    status: dict[str, str] = field(default_factory=dict)
    attempts: dict[str, int] = field(default_factory=dict)
    errors: dict[str, ErrorInfo] = field(default_factory=dict)
    running: bool = False
    retry_at: float | None = None


@dataclass(slots=True)
class ExecState:
    execution_id: str
    flow_id: str = ""
    fingerprint: str = ""
    status: str = ExecutionStatus.PENDING
    input: Any = None
    variables: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    parent_id: str | None = None
    parent_step: str | None = None
    trace: dict[str, str] | None = None  # the trace context journaled with the start
    forked_from: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    seq: int = 0
    # recovery by hand
    carried: dict[str, Any] = field(default_factory=dict)  # a fork's outputs, not used yet
    due: dict[str, None] = field(default_factory=dict)  # started steps a carried output ends
    retries: int = 0  # how many times the execution was retried
    parent_retry: int = 0  # the latest retry of the parent applied to this child
    # where the execution is
    node: int = 0
    value: Any = None
    value_ref: TypeRef = field(default_factory=lambda: ["input"])
    stage: Stage | None = None
    awaiting: str | None = None  # a decision the decider must take next
    failure: ErrorInfo | None = None  # set when the execution is failing
    # steps
    steps: dict[str, StepState] = field(default_factory=dict)
    running: dict[str, None] = field(default_factory=dict)  # ordered set of running keys
    ready: dict[str, None] = field(default_factory=dict)  # back-off elapsed while paused
    parked: dict[str, None] = field(default_factory=dict)  # running children that wait
    started: list[str] = field(default_factory=list)  # (re)started by the last message
    suspended: dict[str, Any] = field(default_factory=dict)
    completed_order: list[str] = field(default_factory=list)
    last_by_task: dict[str, str] = field(default_factory=dict)  # task id -> latest step key
    # waiting
    timers: dict[str, float] = field(default_factory=dict)
    signals: dict[str, list[Any]] = field(default_factory=dict)
    waiting_signal: str | None = None
    # steering
    epoch: int = 0  # bumped on every pause/resume, so child effects are re-sent
    cancel_reason: str | None = None
    compensation: CompensationState | None = None
    output: Any = None
    error: ErrorInfo | None = None


STATE_ADAPTER: TypeAdapter[ExecState] = TypeAdapter(ExecState)
_TRANSIENT = {"started"}  # working memory of the last message, not part of the state


def dump_state(state: ExecState) -> dict[str, Any]:
    """The JSON-able form of a state (for checkpoints)."""
    data: dict[str, Any] = STATE_ADAPTER.dump_python(state, mode="json", exclude=_TRANSIENT)
    return data


def encode_state(state: ExecState) -> JSONText:
    """The state as JSON text for a checkpoint: no Python copy of a large state, and
    no field left at its default (``load_state`` restores those)."""
    encoded = STATE_ADAPTER.dump_json(state, exclude=_TRANSIENT, exclude_defaults=True)
    return JSONText(encoded.decode())


def load_state(data: dict[str, Any]) -> ExecState:
    """Rebuild a state from ``dump_state`` output."""
    return STATE_ADAPTER.validate_python(data)
