"""Typed units of work: ``Task`` and the ``@task`` decorator."""

from __future__ import annotations

import functools
import inspect
import re
import sys
import typing
from collections.abc import Awaitable, Callable, Coroutine
from datetime import timedelta
from typing import (
    Any,
    Concatenate,
    Generic,
    ParamSpec,
    Protocol,
    TypeVar,
    cast,
    overload,
)

from supervision import CircuitBreaker, RetryPolicy, parse_duration
from water.context import TaskContext, current_workflow

In = TypeVar("In")
Out = TypeVar("Out")
P = ParamSpec("P")
R = TypeVar("R")

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


class FunctionTask(Task[In, Out], Generic[In, Out, P, R]):
    """A task made from a function by ``@task``; still callable as the function.

    For type checkers it is ``FunctionTask[In, Out, P, R]``: the function takes
    ``P`` (its input ``In`` first, by position, then nothing or the context) and
    returns ``R``, which is ``Out`` for a ``def`` and a coroutine of ``Out`` for an
    ``async def``.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        id: str | None = None,
        *,
        localns: dict[str, Any] | None = None,
        description: str | None = None,
        retry: RetryPolicy | None = None,
        timeout: float | timedelta | str | None = None,
        circuit_breaker: CircuitBreaker | None = None,
        compensate: Compensate | None = None,
        resume_model: Any = None,
        max_workers: int | None = None,
        input_model: Any = None,
        output_model: Any = None,
    ) -> None:
        try:
            hints = typing.get_type_hints(fn, localns=localns)
        except NameError as exc:
            raise TypeError(
                f"@task {fn.__name__!r}: cannot resolve its annotations ({exc}); define the "
                "models at module level or pass input_model=/output_model="
            ) from None
        params = list(inspect.signature(fn).parameters.values())
        if not 1 <= len(params) <= 2:
            raise TypeError(
                f"@task function {fn.__name__!r} must take (data) or (data, context), "
                f"it takes {len(params)} parameters"
            )
        self._fn = fn
        self._takes_context = len(params) == 2
        if input_model is None:
            input_model = hints.get(params[0].name)
        if output_model is None:
            ret = hints.get("return")
            output_model = None if ret is type(None) else ret
        super().__init__(
            id or fn.__name__,
            description or inspect.getdoc(fn) or "",
            input_model,
            output_model,
            retry=retry,
            timeout=timeout,
            circuit_breaker=circuit_breaker,
            compensate=compensate,
            resume_model=resume_model,
            max_workers=max_workers,
        )
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__
        self.__wrapped__ = fn

    @functools.cached_property
    def is_async(self) -> bool:
        return inspect.iscoroutinefunction(self._fn)

    def execute(self, input_data: In, context: TaskContext) -> Any:
        if self._takes_context:
            return self._fn(input_data, context)
        return self._fn(input_data)

    # Inside a workflow, a task whose function takes the context is called with its
    # input alone (the engine gives the context): a durable step, awaited for the output.
    @overload
    def __call__(
        self: FunctionTask[In, Out, [In, TaskContext], Any], data: In, /
    ) -> Coroutine[Any, Any, Out]: ...
    # Otherwise a call is typed as the function's.
    @overload
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The plain function; inside a code-first workflow, an awaitable durable step.

        Inside a workflow, a task is called with its input alone, and the step of an
        ``async def`` task (or of one that takes the context) is awaited for its
        output. A plain ``def`` task without the context is typed as the plain
        function: awaiting it there works but does not type-check.
        """
        scope = current_workflow.get()
        if scope is not None:
            return scope.call_task(self, args, kwargs)
        return self._fn(*args, **kwargs)


class TaskDecorator(Protocol):
    """What ``@task(...)`` with options returns: apply it to a function."""

    @overload
    def __call__(
        self, fn: Callable[Concatenate[In, P], Coroutine[Any, Any, Out]], /
    ) -> FunctionTask[In, Out, Concatenate[In, P], Coroutine[Any, Any, Out]]: ...
    @overload
    def __call__(
        self, fn: Callable[Concatenate[In, P], Out], /
    ) -> FunctionTask[In, Out, Concatenate[In, P], Out]: ...


# The overloads tell type checkers the task's input and output types (so that
# ``context.output_of(a_task)`` is typed) and the function's signature, its input by
# position as a workflow passes it (so that a call is checked, and typed as the
# function's); the implementation's own signature lists every option, for
# ``help(task)`` and ``inspect.signature(task)``.
@overload
def task(
    fn: Callable[Concatenate[In, P], Coroutine[Any, Any, Out]], /
) -> FunctionTask[In, Out, Concatenate[In, P], Coroutine[Any, Any, Out]]: ...
@overload
def task(
    fn: Callable[Concatenate[In, P], Out], /
) -> FunctionTask[In, Out, Concatenate[In, P], Out]: ...
@overload
def task(
    *,
    id: str | None = None,
    description: str | None = None,
    retry: RetryPolicy | None = None,
    timeout: float | timedelta | str | None = None,
    circuit_breaker: CircuitBreaker | None = None,
    compensate: Compensate | None = None,
    resume_model: Any = None,
    max_workers: int | None = None,
    input_model: Any = None,
    output_model: Any = None,
) -> TaskDecorator: ...
def task(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    id: str | None = None,
    description: str | None = None,
    retry: RetryPolicy | None = None,
    timeout: float | timedelta | str | None = None,
    circuit_breaker: CircuitBreaker | None = None,
    compensate: Compensate | None = None,
    resume_model: Any = None,
    max_workers: int | None = None,
    input_model: Any = None,
    output_model: Any = None,
) -> FunctionTask[Any, Any, ..., Any] | TaskDecorator:
    """Turn ``def f(data: In, context) -> Out`` (or ``(data)``, sync or async) into a Task.

    Use it bare (``@task``) or with options (``@task(id="charge", retry=...)``).
    Models come from the annotations (``input_model``/``output_model`` override
    them); the result is still callable as the plain function.

    Options (all keyword-only):

    - ``id``: the task's id (default: the function's name).
    - ``description``: default: the function's docstring.
    - ``retry``: a ``RetryPolicy`` (default: the flow's, then the engine's).
    - ``timeout``: seconds, a ``timedelta`` or a string such as ``"30s"``.
    - ``circuit_breaker``: a ``CircuitBreaker``, possibly shared with other tasks.
    - ``compensate``: ``compensate(input, output, context)`` undoes a completed step.
    - ``resume_model``: validates the data of ``Resume`` for a suspended step.
    - ``max_workers``: how many bodies of this task may run at once.
    - ``input_model``, ``output_model``: the models, when not annotated.
    """
    # annotations may name classes local to the caller (postponed evaluation)
    options: dict[str, Any] = {
        "id": id,
        "description": description,
        "retry": retry,
        "timeout": timeout,
        "circuit_breaker": circuit_breaker,
        "compensate": compensate,
        "resume_model": resume_model,
        "max_workers": max_workers,
        "input_model": input_model,
        "output_model": output_model,
    }
    if fn is not None:
        return FunctionTask(fn, localns=dict(sys._getframe(1).f_locals), **options)

    def wrap(f: Callable[..., Any]) -> FunctionTask[Any, Any, ..., Any]:
        return FunctionTask(f, localns=dict(sys._getframe(1).f_locals), **options)

    return cast(TaskDecorator, wrap)
