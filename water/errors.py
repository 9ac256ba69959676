"""Errors users see from the engine and from step bodies."""

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
    "OutputNotFoundError",
    "RetryableError",
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
