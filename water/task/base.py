"""``Task``: a typed unit of work, and how the engine runs it (retries, timeout,
breaker, compensation, concurrency)."""

from __future__ import annotations

import functools
import inspect
import re
import typing
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Generic, TypeVar

from supervision import CircuitBreaker, RetryPolicy, parse_duration
from water.context import TaskContext

In = TypeVar("In")
Out = TypeVar("Out")

_ID = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_\-]*$")

Compensate = Callable[[Any, Any, TaskContext], Any]
"""``compensate(input, output, context)``: undo what a completed step did."""


def check_id(kind: str, value: object) -> str:
    """Ids name steps in keys, URLs and metrics: letters, digits, ``_`` and ``-``."""
    if not isinstance(value, str) or not _ID.match(value):
        raise ValueError(
            f"{kind} id {value!r} is invalid: use letters, digits, '_' and '-' "
            "(not starting with '-')"
        )
    return value


class Task(Generic[In, Out]):
    """A typed unit of work.

    Subclass it and override ``execute`` (``async def`` or plain ``def``)::

        class Double(Task[Num, Num]):
            def __init__(self) -> None:
                super().__init__("double", "Double the value", Num, Num)

            async def execute(self, input_data: Num, context: TaskContext) -> Num:
                return Num(value=input_data.value * 2)

    Models may also come from the generic parameters (``Task[Num, Num]``). Input
    is validated (a dict or another model is coerced) before ``execute`` runs,
    output after; a validation error fails the step without retries.

    ``retry`` (a ``RetryPolicy``), ``timeout`` (seconds, ``timedelta`` or
    ``"30s"``), ``circuit_breaker`` and ``compensate`` configure how the engine
    runs it. ``resume_model`` validates the data of ``Resume`` for a suspended
    step. ``max_workers`` bounds how many bodies of this task run at once.
    """

    input_model: Any
    output_model: Any
    _generic_models: tuple[Any, Any] = (None, None)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            origin = typing.get_origin(base)
            if isinstance(origin, type) and issubclass(origin, Task):
                args = typing.get_args(base)
                if len(args) == 2 and not any(isinstance(a, TypeVar) for a in args):
                    cls._generic_models = (args[0], args[1])

    def __init__(
        self,
        id: str,
        description: str = "",
        input_model: Any = None,
        output_model: Any = None,
        *,
        retry: RetryPolicy | None = None,
        timeout: float | timedelta | str | None = None,
        circuit_breaker: CircuitBreaker | None = None,
        compensate: Compensate | None = None,
        resume_model: Any = None,
        max_workers: int | None = None,
    ) -> None:
        self.id = check_id("task", id)
        self.description = description
        self.input_model = input_model if input_model is not None else self._generic_models[0]
        self.output_model = output_model if output_model is not None else self._generic_models[1]
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError(f"task {id!r}: retry must be a RetryPolicy, got {type(retry).__name__}")
        self.retry = retry
        self.timeout = None if timeout is None else parse_duration(timeout)
        if self.timeout is not None and self.timeout <= 0:
            raise ValueError(f"task {id!r}: timeout must be positive, got {timeout!r}")
        if circuit_breaker is not None and not isinstance(circuit_breaker, CircuitBreaker):
            raise TypeError(f"task {id!r}: circuit_breaker must be a CircuitBreaker")
        self.circuit_breaker = circuit_breaker
        if compensate is not None and not callable(compensate):
            raise TypeError(f"task {id!r}: compensate must be callable")
        self._compensate = compensate
        self.resume_model = resume_model
        if max_workers is not None and max_workers < 1:
            raise ValueError(f"task {id!r}: max_workers must be >= 1")
        self.max_workers = max_workers

    # -- the body --------------------------------------------------------------
    def execute(self, input_data: In, context: TaskContext) -> Out | Awaitable[Out]:
        """Do the work. Override with ``async def`` or ``def``."""
        raise NotImplementedError(f"task {self.id!r} does not implement execute()")

    @functools.cached_property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self.execute)

    # -- compensation ----------------------------------------------------------
    @property
    def has_compensation(self) -> bool:
        return self._compensate is not None or type(self).compensate is not Task.compensate

    def compensate(self, input_data: In, output: Out, context: TaskContext) -> Any:
        """Undo a completed step (saga rollback). Override, or pass ``compensate=``."""
        if self._compensate is None:
            return None
        return self._compensate(input_data, output, context)

    @property
    def compensate_is_async(self) -> bool:
        fn = self._compensate if self._compensate is not None else self.compensate
        return inspect.iscoroutinefunction(fn)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(id={self.id!r})"
