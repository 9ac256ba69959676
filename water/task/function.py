"""Tasks made of functions: ``FunctionTask`` and the ``@task`` decorator.

The function's parameters say what the task takes: its input first (or one data
parameter per field of its input), then optionally the context. The task is still
callable as the function; inside a code-first workflow a call is a durable step.
"""

from __future__ import annotations

import functools
import inspect
import sys
import typing
import warnings
from collections.abc import Callable, Coroutine, Mapping
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

from pydantic import BaseModel, create_model

from supervision import CircuitBreaker, RetryPolicy
from water.context import TaskContext, current_workflow
from water.task.base import Compensate, In, Out, Task
from water.types import validate

P = ParamSpec("P")
R = TypeVar("R")


class FunctionTask(Task[In, Out], Generic[In, Out, P, R]):
    """A task made from a function by ``@task``; still callable as the function.

    For type checkers it is ``FunctionTask[In, Out, P, R]``: the function takes
    ``P`` (its input ``In`` first, by position, then nothing or the context) and
    returns ``R``, which is ``Out`` for a ``def`` and a coroutine of ``Out`` for an
    ``async def``.

    A function of several data parameters (``def report(clean: C, enrich: E)``, a
    Dag task with several dependencies) takes one input with a field per parameter:
    its ``input_model`` is a model built from their names and annotations, and each
    call passes the fields by position.
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
        data, self._takes_context = _parameters(fn, hints)
        self._fn = fn
        self._fields: tuple[str, ...] | None = None
        if len(data) > 1:  # (a, b, ...): one input with a field per parameter
            self._fields = tuple(p.name for p in data)
            if input_model is None:
                input_model = _input_model_of(fn, data, hints)
        elif input_model is None:
            input_model = hints.get(data[0].name)
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
        args: list[Any]
        if self._fields is None:
            args = [input_data]
        else:  # the fields of its input, one per parameter
            fields = validate(self.input_model, input_data)
            args = [_field(fields, name) for name in self._fields]
        if self._takes_context:
            args.append(context)
        return self._fn(*args)

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


_CONTEXT_NAMES = ("context", "ctx")
_DATA_KINDS = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _is_context(param: inspect.Parameter, hints: dict[str, Any]) -> bool:
    """A parameter annotated ``TaskContext``, or an unannotated one named context or ctx."""
    hint = hints.get(param.name)
    if hint is None:
        return param.name in _CONTEXT_NAMES
    return isinstance(hint, type) and issubclass(hint, TaskContext)


def _parameters(
    fn: Callable[..., Any], hints: dict[str, Any]
) -> tuple[list[inspect.Parameter], bool]:
    """The data parameters of a task's function, and whether it takes the context last.

    The first parameter is always data; the last one is the context when it is
    annotated ``TaskContext`` or, unannotated, named ``context`` or ``ctx``.
    """
    params = list(inspect.signature(fn).parameters.values())
    shape = (
        f"@task function {fn.__name__!r} must take (data), (data, context) or several "
        "data parameters (one per dependency in a Dag) and optionally the context last"
    )
    if not params:
        raise TypeError(f"{shape}; it takes none")
    odd = [p.name for p in params if p.kind not in _DATA_KINDS]
    if odd:
        raise TypeError(f"{shape}; {odd} are not plain positional parameters")
    takes_context = len(params) > 1 and _is_context(params[-1], hints)
    data = params[:-1] if takes_context else params
    misplaced = [p.name for p in data[1:] if _is_context(p, hints)]
    if misplaced:
        raise TypeError(f"{shape}; the context ({misplaced[0]!r}) must be its last parameter")
    return data, takes_context


def _input_model_of(
    fn: Callable[..., Any], data: list[inspect.Parameter], hints: dict[str, Any]
) -> type[BaseModel]:
    """The input of a function of several data parameters: a model with a field for each,
    typed by its annotation (a default makes the field optional)."""
    fields: dict[str, Any] = {
        p.name: (hints.get(p.name, Any), ... if p.default is p.empty else p.default) for p in data
    }
    name = "".join(part.capitalize() for part in fn.__name__.split("_")) + "Input"
    try:
        with warnings.catch_warnings():  # a parameter may be named like a model's method
            warnings.filterwarnings("ignore", "Field name .* shadows", UserWarning)
            model: type[BaseModel] = create_model(name, __module__=fn.__module__, **fields)
    except (NameError, TypeError, ValueError) as exc:
        raise TypeError(
            f"@task {fn.__name__!r}: its parameters cannot be the fields of its input ({exc}); "
            "rename them or pass input_model="
        ) from None
    return model


def _field(fields: Any, name: str) -> Any:
    return fields[name] if isinstance(fields, Mapping) else getattr(fields, name)


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

    The context is the last parameter when it is annotated ``TaskContext`` or,
    unannotated, named ``context`` or ``ctx``. Several data parameters
    (``def report(clean: C, enrich: E)``) make one input with a field per parameter.

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
