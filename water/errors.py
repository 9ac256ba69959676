"""Every error Water raises or defines, in one place.

All of them derive from ``WaterError``; the ones a lower layer defines (the
runtime's, the policies') are re-exported here, so this module draws the whole
tree::

    WaterError
    ├── FatalError                      a step error never retried (raise it in a body)
    │   ├── StepInputError              a step's input does not fit its task's model
    │   └── StepOutputError             a step's output does not fit, or cannot be stored
    ├── RetryableError                  a step error worth retrying (``retry_after``)
    ├── CircuitOpenError                a breaker is open: the body did not run
    ├── StepTimeoutError (TimeoutError) a body ran past its task's timeout
    ├── StepError                       the journaled error of a failed step
    ├── ExecutionFailedError            ``result()`` of a failed execution
    │   └── ExecutionCancelledError     ``result()`` of a cancelled one
    ├── ExecutionNotFoundError (KeyError)
    ├── FlowNotFoundError (KeyError)    no flow or workflow with that id is registered
    ├── OutputNotFoundError (KeyError)  ``context.output_of(task)`` before it completed
    ├── FlowValidationError (ValueError) a flow is not well formed (``water.definition``)
    ├── FlowChangedError                a running execution's flow changed structure
    ├── NonDeterminismError             replayed workflow code called something else
    ├── NotDurableError                 workflow code used real time or I/O
    ├── SignalTimeoutError (TimeoutError) ``wait_for_signal`` ran out of time
    ├── StateConflictError              a steering message does not apply now
    ├── UnstorableValueError (ValueError) a value the journal cannot store exactly
    ├── InvalidExecutionIdError (ValueError)
    ├── StorageError                    the storage failed (``transient``: it may pass)
    │   ├── ConcurrencyError            another writer appended to the stream
    │   ├── SchemaVersionError          the database is newer than this Water
    │   ├── StorageClosedError          the storage was closed
    │   └── PostgresStorageError        a PostgreSQL failure
    └── (the runtime's own, seen only through the ones above)
        CommandRejected, ExecutionNotFound, SystemShutDown, StreamPoisoned,
        JournalClosed, WorkerCrashedError, SupervisorRestartedError, ReactorError
"""

from __future__ import annotations

from supervision import CircuitOpenError, FatalError, RetryableError, StepTimeoutError, WaterError
from water.events import ErrorInfo

__all__ = [
    "CircuitOpenError",
    "ExecutionCancelledError",
    "ExecutionFailedError",
    "ExecutionNotFoundError",
    "FatalError",
    "FlowChangedError",
    "FlowNotFoundError",
    "InvalidExecutionIdError",
    "NonDeterminismError",
    "NotDurableError",
    "OutputNotFoundError",
    "RetryableError",
    "SignalTimeoutError",
    "StateConflictError",
    "StepError",
    "StepInputError",
    "StepOutputError",
    "StepTimeoutError",
    "StorageError",
    "UnstorableValueError",
    "WaterError",
]


class UnstorableValueError(WaterError, ValueError):
    """A value cannot be journaled exactly (see ``water.types.to_json``).

    ``what`` names the value (``"input of flow 'orders'"``), ``path`` locates the
    offending part inside it (keys and indexes, empty for the value itself) and
    ``problem`` says what is wrong with it.
    """

    def __init__(self, what: str, problem: str, path: tuple[str | int, ...] = ()) -> None:
        where = f" at {format_path(path)}" if path else ""
        super().__init__(f"{what} cannot be stored{where}: {problem}")
        self.what = what
        self.problem = problem
        self.path = path


def format_path(path: tuple[str | int, ...], limit: int = 12) -> str:
    """``$.items[0].price``: where a part sits inside a value (long paths elided)."""
    parts = [f"[{p}]" if isinstance(p, int) else f".{p}" for p in path]
    if len(parts) > limit:
        parts[limit // 2 : -(limit // 2)] = [f"...({len(parts) - limit} more)..."]
    text = "$" + "".join(parts)
    return text.encode("utf-8", "backslashreplace").decode("utf-8")  # keys are user data


class InvalidExecutionIdError(WaterError, ValueError):
    """An execution id given to ``start`` does not follow the rule of ``water.ids``."""

    def __init__(self, execution_id: object, problem: str) -> None:
        shown = repr(execution_id)
        if len(shown) > 80:
            shown = f"{shown[:40]}... ({len(str(execution_id))} characters)"
        super().__init__(f"execution id {shown} is invalid: {problem}")
        self.execution_id = execution_id


class StorageError(WaterError):
    """The storage failed to read or write (HTTP answers 503).

    ``transient`` marks a fault that passes by itself (a locked, full, read-only or
    failing disk, a lost connection): the engine holds the journal's writes and
    retries them with back-off, and a caller may retry later. Other storage errors
    (a stream conflict, a newer schema, a deleted database file) do not pass.
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class StepInputError(FatalError):
    """A step's input does not fit its task's input model (never retried)."""


class StepOutputError(FatalError):
    """A step's output does not fit its task's output model or is not JSON-able."""


class StepError(WaterError):
    """The error a step failed with, as journaled (the cause of ``ExecutionFailedError``)."""

    def __init__(self, info: ErrorInfo) -> None:
        super().__init__(str(info))
        self.info = info


class ExecutionFailedError(WaterError):
    """``result()`` of a failed execution; ``__cause__`` is the step's ``StepError``."""

    def __init__(self, execution_id: str, error: ErrorInfo | None) -> None:
        self.execution_id = execution_id
        self.error = error
        detail = str(error) if error is not None else "unknown error"
        super().__init__(f"execution {execution_id!r} failed: {detail}")


class ExecutionCancelledError(ExecutionFailedError):
    """``result()`` of a cancelled execution."""

    def __init__(self, execution_id: str, reason: str | None = None) -> None:
        self.reason = reason
        WaterError.__init__(
            self, f"execution {execution_id!r} was cancelled" + (f": {reason}" if reason else "")
        )
        self.execution_id = execution_id
        self.error = None


class ExecutionNotFoundError(WaterError, KeyError):
    def __init__(self, execution_id: str) -> None:
        super().__init__(f"no execution {execution_id!r}")
        self.execution_id = execution_id

    def __str__(self) -> str:
        return str(self.args[0])


class FlowNotFoundError(WaterError, KeyError):
    def __init__(self, flow_id: str, known: list[str] | None = None) -> None:
        hint = f"; registered flows: {sorted(known)}" if known is not None else ""
        super().__init__(f"no flow {flow_id!r} is registered{hint}")
        self.flow_id = flow_id

    def __str__(self) -> str:
        return str(self.args[0])


class OutputNotFoundError(WaterError, KeyError):
    """``TaskContext.output_of(task)`` when no step of that task has completed."""

    def __init__(self, task_id: str, execution_id: str, completed: list[str]) -> None:
        super().__init__(
            f"task {task_id!r} has no completed step in execution {execution_id!r} "
            f"(tasks completed so far: {sorted(completed)}): it has not run yet, or it is not "
            "a step of this flow"
        )
        self.task_id = task_id
        self.execution_id = execution_id

    def __str__(self) -> str:
        return str(self.args[0])


class FlowChangedError(WaterError):
    """An execution was started under a different structure of its flow."""

    def __init__(self, execution_id: str, flow_id: str, recorded: str, current: str) -> None:
        super().__init__(
            f"execution {execution_id!r} was started with flow {flow_id!r} of fingerprint "
            f"{recorded}, but the registered flow now has fingerprint {current}: its steps "
            "changed, so resuming it could run the wrong steps. Finish or cancel such "
            "executions with the old flow, or pass Engine(allow_flow_changes=True) to "
            "resume them anyway."
        )
        self.execution_id = execution_id
        self.flow_id = flow_id


class StateConflictError(WaterError):
    """A steering message does not apply in the execution's current state."""

    def __init__(self, message: str, code: str = "conflict") -> None:
        super().__init__(message)
        self.code = code


class NonDeterminismError(WaterError):
    """Replayed workflow code did something else than its journal recorded.

    ``position`` is where the code and the journal disagree, ``recorded`` what the
    journal holds there and ``called`` what the code did. The execution fails with
    this error rather than re-running side effects under a different plan.
    """

    def __init__(self, position: str, recorded: str, called: str) -> None:
        self.position = position
        self.recorded = recorded
        self.called = called
        super().__init__(
            f"workflow code changed under a running execution: at position {position} "
            f"the journal recorded {recorded}, but the code now {called}. Guard changes to "
            "running workflows with water.patched(name), or let old executions finish first."
        )


class SignalTimeoutError(WaterError, TimeoutError):
    """``wait_for_signal(name, timeout=...)`` ran out of time and had no ``default``."""

    def __init__(self, name: str, timeout: float) -> None:
        super().__init__(f"no signal {name!r} arrived within {timeout:g}s")
        self.name = name
        self.timeout = timeout


class NotDurableError(WaterError):
    """Workflow code did something that cannot be replayed (real time, I/O, ...)."""
