"""The public view of an execution: what ``GetStatus``, ``Pause`` and the HTTP API answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from water.events import ErrorInfo
from water.status import ExecutionStatus


class StepView(BaseModel):
    """One step of an execution as shown to operators."""

    key: str
    task_id: str
    status: str
    attempts: int = 0
    started_at: datetime | None = None
    finished_at: datetime | None = None
    error: ErrorInfo | None = None
    child_execution_id: str | None = None

    @property
    def duration(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()


class CompensationView(BaseModel):
    """What the rollback of a failed execution did, step by step."""

    key: str
    task_id: str
    status: str
    attempts: int = 0
    error: ErrorInfo | None = None


class Snapshot(BaseModel):
    """The state of one execution at one point of its event stream (``seq``)."""

    execution_id: str
    flow_id: str
    status: ExecutionStatus
    current_step: str | None = None
    completed_steps: list[str] = Field(default_factory=list)
    failed_steps: list[str] = Field(default_factory=list)
    step_outputs: dict[str, Any] = Field(default_factory=dict)
    suspended: dict[str, Any] = Field(default_factory=dict)
    variables: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    input: Any = None
    output: Any = None
    error: ErrorInfo | None = None
    created_at: datetime
    updated_at: datetime
    seq: int = 0
    parent_id: str | None = None
    forked_from: str | None = Field(
        default=None, description="The execution this one was forked from (``Engine.fork``)."
    )
    running_steps: list[str] = Field(default_factory=list)
    waiting_for: list[str] = Field(default_factory=list)
    wake_at: datetime | None = None
    steps: list[StepView] = Field(default_factory=list)
    compensation: list[CompensationView] = Field(default_factory=list)
