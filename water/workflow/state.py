"""The state of one code-first execution: bookkeeping, the live code, the replay index.

Unlike a flow's state, it is not JSON-able: it holds a suspended coroutine. It
lives in memory only; checkpoints carry the public view, and recovery replays
the whole event history (``water.workflow.replay``).
"""

from __future__ import annotations

import asyncio
import contextvars
from dataclasses import dataclass, field
from typing import Any

from water.events import ErrorInfo
from water.status import ACTIVE, TERMINAL, ExecutionStatus, StepStatus
from water.timers import is_backoff
from water.workflow.loop import WorkflowLoop

# Step statuses (the same as a flow's steps)
RUNNING = StepStatus.RUNNING
HELD = StepStatus.PENDING
COMPLETED = StepStatus.COMPLETED
FAILED = StepStatus.FAILED
BACKOFF = StepStatus.BACKOFF
READY = StepStatus.READY
SUSPENDED = StepStatus.SUSPENDED
CANCELLED = StepStatus.CANCELLED


NO_DEFAULT: Any = object()


@dataclass(slots=True)
class WfStep:
    """One durable call: a task step or a child workflow's execution."""

    key: str
    task_id: str
    kind: str  # "task" | "workflow"
    position: str
    input: Any = None
    status: str = RUNNING
    attempt: int = 1
    runs: int = 1
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
class SignalWait:
    """Code waiting at ``position`` for a signal ``name``."""

    position: str
    name: str
    model: Any = None
    timer: str | None = None
    timeout: float | None = None
    default: Any = NO_DEFAULT


@dataclass(slots=True)
class Run:
    """The live code of an execution: its loop, its main task, what it awaits."""

    loop: WorkflowLoop
    context: contextvars.Context
    scope: Any = None  # the Scope its durable calls go through
    main: asyncio.Task[Any] | None = None
    futures: dict[str, asyncio.Future[Any]] = field(default_factory=dict)
    namespace: str = ""
    counters: dict[str, int] = field(default_factory=dict)
    finished_early: bool = False  # returned while the replayed history still went on
    stopping: bool = False


@dataclass(slots=True)
class History:
    """The recorded history as replay consults it: what happened at each position."""

    records: dict[str, tuple[str, str]] = field(default_factory=dict)
    """position -> (kind, detail): ("call", id), ("sleep", ""), ("now", ""), ..."""
    decisions: dict[str, Any] = field(default_factory=dict)
    """position -> the decision event recorded there (a timer, a value)."""
    states: dict[str, Any] = field(default_factory=dict)
    """@step method -> its StateRecorded event."""
    markers: set[str] = field(default_factory=set)
    last_in: dict[str, int] = field(default_factory=dict)
    """Per namespace (``""`` for a function, a method's name for a class), the highest
    position number recorded in it."""
    consumed: set[int] = field(default_factory=set)
    """Sequence numbers of decision events the replayed code asked for."""
    retries: int = 0
    """How many times the execution was retried (``ExecutionRetried`` events)."""
    retried_at: int = 0
    """The sequence number of the last retry: calls replayed before it were made before
    the failure it retried."""


class WfState:
    """What ``WorkflowMachine`` folds events into (one per execution, in memory)."""

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id
        self.flow_id = ""
        self.version = ""
        self.status: str = ExecutionStatus.PENDING
        self.input: Any = None
        self.output: Any = None
        self.error: ErrorInfo | None = None
        self.metadata: dict[str, Any] = {}
        self.parent_id: str | None = None
        self.parent_step: str | None = None
        self.trace: dict[str, str] | None = None  # the trace context journaled with the start
        self.forked_from: str | None = None
        self.carried: dict[str, Any] = {}  # a fork's outputs, by step key, not used yet
        self.retries = 0  # how many times the execution was retried
        self.parent_retry = 0  # the latest retry of the parent applied to this child
        self.created_at = 0.0
        self.updated_at = 0.0
        self.seq = 0
        self.epoch = 0  # bumped on every pause/resume, so child effects are re-sent
        self.cancel_reason: str | None = None
        # durable calls
        self.steps: dict[str, WfStep] = {}
        self.running: dict[str, None] = {}  # ordered set: steps in flight
        self.held: dict[str, None] = {}  # issued while paused
        self.ready: dict[str, None] = {}  # back-off elapsed while paused
        self.parked: dict[str, None] = {}  # running children that wait or are paused
        self.suspended: dict[str, Any] = {}
        self.completed_order: list[str] = []
        self.targets: dict[str, Any] = {}  # step key -> the Task or workflow it calls
        # waiting
        self.timers: dict[str, float] = {}
        self.signals: dict[str, list[Any]] = {}  # received, not consumed yet
        self.waits: dict[str, SignalWait] = {}  # by position
        self.patches: set[str] = set()
        # the code and its journal
        self.run: Run | None = None
        self.history: list[Any] = []
        self.replay: History | None = None
        self.failure: ErrorInfo | None = None  # the code must stop: the execution fails
        self.now = 0.0  # the time of the message being handled
        self.out: list[Any] = []  # events made while handling the current message
        self.unjournaled: list[Any] = []  # made by a recovery: journaled with the next message

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL


def has_active_work(state: WfState) -> bool:
    return len(state.running) > len(state.parked)


def refresh_status(state: WfState) -> None:
    """Derive running/waiting from what is in flight (other statuses are explicit).

    ``waiting`` means waiting for the world: a sleep, a signal, a person
    (suspended steps), or a child that waits. A retry back-off is not waiting.
    """
    if state.status not in ACTIVE:
        return
    if has_active_work(state):
        state.status = ExecutionStatus.RUNNING
    elif (
        state.waits
        or state.suspended
        or state.parked
        or any(not is_backoff(t) for t in state.timers)
    ):
        state.status = ExecutionStatus.WAITING
    else:
        state.status = ExecutionStatus.RUNNING
