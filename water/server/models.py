"""Request and response bodies of the HTTP API."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union, get_args

from pydantic import BaseModel, ConfigDict, Field, create_model

from water.events import Event
from water.ids import MAX_LENGTH, PATTERN
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
    """One stage of a flow: a task, branch, parallel group, loop, sleep or signal wait
    (a Dag's tasks are the one stage of kind ``dag``)."""

    index: int
    kind: Literal["task", "branch", "parallel", "for", "while", "sleep", "signal", "dag"]
    label: str
    runnables: list[TaskInfo | FlowInfo] = Field(
        default_factory=list,
        description="What the stage runs: tasks, nested flows or workflows.",
    )
    conditions: list[str] = Field(default_factory=list, description="Condition function names.")
    concurrency: int | None = None
    max_iterations: int | None = None
    duration: float | None = None
    until: str | None = None
    signal: str | None = None
    payload_schema: dict[str, Any] | None = None
    timeout: float | None = None
    depends_on: dict[str, list[str]] | None = Field(
        default=None, description="A dag stage: the ids each task waits for, by task id."
    )


class FlowInfo(BaseModel):
    """A registered flow, Dag or code-first workflow: its schemas and its step graph (a
    workflow's steps are code: its ``steps`` are empty)."""

    type: Literal["flow", "dag", "workflow"] = "flow"
    id: str
    description: str
    fingerprint: str
    input_schema: dict[str, Any] = Field(description="JSON schema of the execute request body.")
    output_schema: dict[str, Any] = Field(description="JSON schema of the output.")
    steps: list[StepInfo]


class FlowList(BaseModel):
    flows: list[FlowInfo]


class FlowGraph(BaseModel):
    """A flow's steps as a Mermaid ``flowchart`` (what ``water graph`` prints)."""

    flow_id: str
    mermaid: str = Field(description="Mermaid text; nested flows are subgraphs.")
    execution_id: str | None = Field(
        default=None,
        description="The execution whose recorded steps are drawn (a code-first workflow's "
        "graph for `execution_id`); null for a flow's graph, the same for every execution.",
    )


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
    owner: str | None = Field(
        default=None, description="The node (engine) that runs it, if any (docs/nodes.md)."
    )

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
            owner=record.owner,
        )


class SessionPage(BaseModel):
    items: list[SessionSummary]
    total: int = Field(description="How many executions match the filters.")
    limit: int
    offset: int


_TIME_FIELDS = {
    "ts": "When the event was recorded (ISO 8601, UTC).",
    "retry_at": "When the next attempt is due (ISO 8601, UTC).",
    "fire_at": "When the timer fires (ISO 8601, UTC).",
}


def _with_iso_times(event: type[BaseModel]) -> type[BaseModel]:
    """The API form of an event type: its times (unix seconds when stored) as datetimes."""
    fields: dict[str, Any] = {}
    for name, description in _TIME_FIELDS.items():
        field = event.model_fields.get(name)
        if field is None:
            continue
        if field.default is None:
            fields[name] = (datetime | None, Field(default=None, description=description))
        else:
            fields[name] = (datetime, Field(description=description))
    return create_model(event.__name__, __base__=event, __module__=__name__, **fields)


if TYPE_CHECKING:
    ApiEvent = Event
else:
    ApiEvent = Annotated[
        Union[tuple(_with_iso_times(t) for t in get_args(get_args(Event)[0]))],  # noqa: UP007
        Field(discriminator="type"),
    ]


class EventList(BaseModel):
    """An execution's journal; times are ISO 8601 in UTC, as everywhere in the API."""

    execution_id: str
    events: list[ApiEvent]

    @classmethod
    def of(cls, execution_id: str, events: list[Event]) -> EventList:
        return cls.model_validate(
            {"execution_id": execution_id, "events": [e.model_dump() for e in events]}
        )


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


class ForkRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_step: str = Field(
        min_length=1,
        max_length=1000,
        description="Key of a step of the original: the fork runs from this step on; the "
        "steps that completed before it keep their outputs.",
    )
    execution_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_LENGTH,
        pattern=PATTERN,
        description="The fork's id (default: a new one). An existing fork of the same "
        "execution with this id is answered instead of starting another.",
    )


class NodeHealth(BaseModel):
    """This engine as a node among the engines sharing its store (docs/nodes.md)."""

    node_id: str
    lease_seconds: float
    lease_held: bool = Field(description="Its lease was renewed within the last lease period.")
    owned_executions: int = Field(description="Unfinished executions this node runs.")
    claimed: int = Field(description="Executions it claimed since it started.")
    lost: int = Field(description="Executions another node claimed from it since it started.")


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    flows: int = Field(description="How many flows are registered.")
    node: NodeHealth | None = None


StepInfo.model_rebuild()
