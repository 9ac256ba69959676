"""Water: durable, typed workflows for Python services.

Write typed tasks, chain them into flows with a fluent API, and run them in
your service on an engine that journals every step, so executions can be
paused, resumed and recovered after a crash exactly where they stopped.
"""

from actors.messages import Cancel, GetStatus, Pause, Resume, Retry, Signal
from supervision import (
    CircuitBreaker,
    CircuitOpenError,
    FatalError,
    RetryableError,
    RetryPolicy,
    StepTimeoutError,
)
from water import oneshot  # noqa: F401  (installs Flow.run and the workflows' run)
from water.context import TaskContext
from water.dag import Dag
from water.engine import Engine
from water.errors import (
    ExecutionCancelledError,
    ExecutionFailedError,
    ExecutionNotFoundError,
    FlowChangedError,
    FlowNotFoundError,
    InvalidExecutionIdError,
    OutputNotFoundError,
    StateConflictError,
    StepError,
    StepInputError,
    StepOutputError,
    StorageError,
    UnstorableValueError,
    WaterError,
)
from water.events import ErrorInfo
from water.flow import Flow, FlowValidationError
from water.ref import ExecutionRef
from water.snapshot import Snapshot
from water.status import ExecutionStatus
from water.storage import MemoryStorage, PostgresStorage, SQLiteStorage, Storage
from water.task import Task, task
from water.version import __version__ as __version__
from water.workflow import (
    NonDeterminismError,
    Workflow,
    WorkflowContext,
    now,
    patched,
    random,
    sleep,
    step,
    uuid4,
    wait_for_signal,
    workflow,
)

__all__ = [
    "Cancel",
    "CircuitBreaker",
    "CircuitOpenError",
    "Dag",
    "Engine",
    "ErrorInfo",
    "ExecutionCancelledError",
    "ExecutionFailedError",
    "ExecutionNotFoundError",
    "ExecutionRef",
    "ExecutionStatus",
    "FatalError",
    "Flow",
    "FlowChangedError",
    "FlowNotFoundError",
    "FlowValidationError",
    "GetStatus",
    "InvalidExecutionIdError",
    "MemoryStorage",
    "NonDeterminismError",
    "OutputNotFoundError",
    "Pause",
    "PostgresStorage",
    "Resume",
    "Retry",
    "RetryPolicy",
    "RetryableError",
    "SQLiteStorage",
    "Signal",
    "Snapshot",
    "StateConflictError",
    "StepError",
    "StepInputError",
    "StepOutputError",
    "StepTimeoutError",
    "Storage",
    "StorageError",
    "Task",
    "TaskContext",
    "UnstorableValueError",
    "WaterError",
    "Workflow",
    "WorkflowContext",
    "now",
    "patched",
    "random",
    "sleep",
    "step",
    "task",
    "uuid4",
    "wait_for_signal",
    "workflow",
]
