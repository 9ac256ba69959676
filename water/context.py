"""What a running step knows about itself: ``TaskContext``."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, overload

from actors.jobs import SuspendStep
from water.errors import OutputNotFoundError

if TYPE_CHECKING:
    from water.definition import Definition
    from water.task import Task

Out = TypeVar("Out")

_logger = logging.getLogger("water.task")


class StepLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger bound to one step: every record carries the correlation ids.

    The ids are added to the record (``record.execution_id``, ``record.step``,
    ``record.task_id``, ``record.flow_id``, ``record.attempt``) for structured
    handlers, and prefixed to the message for plain ones.
    """

    def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
        extra = dict(self.extra or {})
        extra.update(kwargs.get("extra") or {})
        kwargs["extra"] = extra
        return f"[{extra.get('execution_id')} {extra.get('step')}] {msg}", kwargs


class OutputsView(Mapping[str, Any]):
    """Outputs of the steps completed so far, by task id (typed, built on access)."""

    def __init__(self, raw: Mapping[str, Any], revive: Callable[[str, Any], Any]) -> None:
        self._raw = raw
        self._revive = revive

    def __getitem__(self, task_id: str) -> Any:
        return self._revive(task_id, self._raw[task_id])

    def __iter__(self) -> Iterator[str]:
        return iter(self._raw)

    def __len__(self) -> int:
        return len(self._raw)


class TaskContext:
    """Passed to every step body.

    Attributes: ``flow_id``, ``execution_id``, ``task_id``, ``step`` (stable key of
    this step in the execution), ``attempt`` (1-based), ``outputs`` (outputs of
    earlier steps by task id; ``output_of(task)`` is the typed way to read one),
    ``variables``, ``metadata``, ``idempotency_key`` (the same for every attempt of
    this step: use it to deduplicate side effects), ``logger`` and ``resume_data``
    (set when a suspended step is resumed).
    """

    __slots__ = (
        "attempt",
        "execution_id",
        "flow_id",
        "metadata",
        "outputs",
        "resume_data",
        "step",
        "task_id",
        "variables",
    )

    def __init__(
        self,
        *,
        flow_id: str,
        execution_id: str,
        task_id: str,
        step: str,
        attempt: int = 1,
        outputs: Mapping[str, Any] | None = None,
        variables: Mapping[str, Any] | None = None,
        metadata: Mapping[str, Any] | None = None,
        resume_data: Any = None,
    ) -> None:
        self.flow_id = flow_id
        self.execution_id = execution_id
        self.task_id = task_id
        self.step = step
        self.attempt = attempt
        self.outputs: Mapping[str, Any] = outputs if outputs is not None else {}
        self.variables: Mapping[str, Any] = variables if variables is not None else {}
        self.metadata: Mapping[str, Any] = metadata if metadata is not None else {}
        self.resume_data = resume_data

    @overload
    def output_of(self, task: Task[Any, Out]) -> Out: ...
    @overload
    def output_of(self, task: Definition) -> Any: ...
    def output_of(self, task: Task[Any, Any] | Definition) -> Any:
        """The output of an earlier step of ``task`` (a Task, a nested Flow or workflow), typed.

        It is the output of the task's latest completed step in this execution, as
        an instance of its output model. Raises ``OutputNotFoundError`` (a
        ``KeyError``) naming the task when no step of it has completed.
        """
        if task.id not in self.outputs:
            raise OutputNotFoundError(task.id, self.execution_id, list(self.outputs))
        return self.outputs[task.id]

    @property
    def idempotency_key(self) -> str:
        return f"{self.execution_id}:{self.step}"

    @property
    def logger(self) -> StepLogger:
        return StepLogger(
            _logger,
            {
                "execution_id": self.execution_id,
                "flow_id": self.flow_id,
                "task_id": self.task_id,
                "step": self.step,
                "attempt": self.attempt,
            },
        )

    @property
    def resumed(self) -> bool:
        """True when this run continues a suspended step."""
        return self.resume_data is not None

    def suspend(self, payload: Any = None) -> _Resumed:
        """Suspend this step until ``Resume(data=...)`` arrives.

        The step stops here (the call raises) and the execution waits, with
        ``payload`` shown in ``Snapshot.suspended``. When the step is resumed it
        runs again from the start with ``resume_data`` set; this call then returns
        an awaitable of that data instead of suspending, so a body can write
        ``data = await context.suspend({...})`` (a plain ``def`` body reads
        ``context.resume_data``).
        """
        if self.resume_data is None:
            raise SuspendStep(payload)
        return _Resumed(self.resume_data)

    def __repr__(self) -> str:
        return (
            f"TaskContext(execution_id={self.execution_id!r}, step={self.step!r}, "
            f"attempt={self.attempt})"
        )


class _Resumed:
    """The resume data, usable directly or with ``await``."""

    __slots__ = ("data",)

    def __init__(self, data: Any) -> None:
        self.data = data

    def __await__(self) -> Any:
        return self.data
        yield  # pragma: no cover - makes this a generator


class WorkflowScope(Protocol):
    """What a task call needs from the code-first workflow it is made in."""

    def call_task(
        self, task: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Awaitable[Any]: ...


current_workflow: ContextVar[WorkflowScope | None] = ContextVar("water_workflow", default=None)
"""Set in the context of code-first workflow code (only ever stepped by its interpreter)."""
