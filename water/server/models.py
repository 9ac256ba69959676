"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from water.events import Event
from water.status import ExecutionStatus
from water.storage import ExecutionRecord

# -- errors ---------------------------------------------------------------------------


class FieldError(BaseModel):
    """One invalid field of a request (``loc`` is its path, e.g. ``["body", "value"]``)."""

    loc: list[str | int]
    message: str
    type: str


class ErrorBody(BaseModel):
    code: str = Field(description="Stable, machine-readable error code.")
    message: str = Field(description="What went wrong, for people.")
    details: dict[str, Any] | None = Field(
        default=None,
        description="Structured context; for validation errors, ``errors`` lists the fields.",
    )


class ErrorEnvelope(BaseModel):
    """The body of every error response."""

    error: ErrorBody


# -- flows ----------------------------------------------------------------------------


class RetryInfo(BaseModel):
    max_attempts: int
    backoff: str
    delay: float
    max_delay: float
    jitter: float
    retry_on: list[str]


class BreakerInfo(BaseModel):
    name: str | None
    failure_threshold: int
    reset_timeout: float
    half_open_max_calls: int


class TaskInfo(BaseModel):
    """A task used by a step."""

    type: Literal["task"] = "task"
    id: str
    description: str
    input_schema: dict[str, Any]
    output_schema: dict[str, Any]
    timeout: float | None = None
    retry: RetryInfo | None = None
    circuit_breaker: BreakerInfo | None = None
    compensates: bool = False


class StepInfo(BaseModel):
    """One stage of a flow: a task, branch, parallel group, loop, sleep or signal wait."""

    index: int
    kind: Literal["task", "branch", "parallel", "for", "while", "sleep", "signal"]
    label: str
    runnables: list[TaskInfo | FlowInfo] = Field(
        default_factory=list, description="What the stage runs: tasks or nested flows."
    )
    conditions: list[str] = Field(default_factory=list, description="Condition function names.")
    concurrency: int | None = None
    max_iterations: int | None = None
    duration: float | None = None
    until: str | None = None
    signal: str | None = None
    payload_schema: dict[str, Any] | None = None
    timeout: float | None = None


class FlowInfo(BaseModel):
    """A registered flow: its schemas and its step graph."""

    type: Literal["flow"] = "flow"
    id: str
    description: str
    fingerprint: str
    input_schema: dict[str, Any] = Field(description="JSON schema of the execute request body.")
    output_schema: dict[str, Any] = Field(description="JSON schema of the output.")
    steps: list[StepInfo]


class FlowList(BaseModel):
    flows: list[FlowInfo]


# -- executions -----------------------------------------------------------------------


class ExecutionAccepted(BaseModel):
    """An execution that started (or already existed) and has not finished yet."""

    execution_id: str
    flow_id: str
    status: ExecutionStatus


class ExecutionResult(BaseModel):
    """A completed execution and its output."""

    execution_id: str
    flow_id: str
    status: Literal[ExecutionStatus.COMPLETED] = ExecutionStatus.COMPLETED
    output: Any = None


class SessionSummary(BaseModel):
    """A row of an execution listing."""

    execution_id: str
    flow_id: str
    status: ExecutionStatus
    created_at: datetime
    updated_at: datetime
    parent_id: str | None = None
    error: str | None = None

    @classmethod
    def from_record(cls, record: ExecutionRecord) -> SessionSummary:
        return cls(
            execution_id=record.execution_id,
            flow_id=record.flow_id,
            status=record.status,
            created_at=record.created_at,
            updated_at=record.updated_at,
            parent_id=record.parent_id,
            error=record.error,
        )


class SessionPage(BaseModel):
    items: list[SessionSummary]
    total: int = Field(description="How many executions match the filters.")
    limit: int
    offset: int


class EventList(BaseModel):
    execution_id: str
    events: list[Event]


class ResumeRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    data: Any = Field(default=None, description="Data for a suspended step.")
    step: str | None = Field(
        default=None,
        description="Key of the suspended step (needed when several are suspended).",
    )


class CancelRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = None


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    flows: int = Field(description="How many flows are registered.")


StepInfo.model_rebuild()
