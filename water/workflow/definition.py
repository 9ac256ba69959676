"""Code-first workflow definitions: ``@workflow`` functions and ``Workflow`` classes.

Both give the interpreter the same thing (``WorkflowDefinition``, a
``water.definition.Definition``): an id, a version, the input and output types,
and the program to run. They go wherever a Flow goes (``Engine(flows=[...])``,
``engine.start``, a stage of a Flow).
"""

from __future__ import annotations

import inspect
import logging
import sys
import types
import typing
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, ClassVar, Generic, ParamSpec, Protocol, TypeVar, cast, overload

from water.context import current_workflow
from water.definition import Definition, as_definition
from water.task import check_id

In = TypeVar("In")
S = TypeVar("S")
Out = TypeVar("Out")
P = ParamSpec("P")
F = TypeVar("F", bound=Callable[..., Any])

_STEP_MARK = "__water_step__"


class WorkflowDefinition(Definition):
    """What the interpreter runs: the common shape of both forms."""

    kind: ClassVar[str] = "workflow"
    recursive: ClassVar[bool] = True  # its code decides which children it starts
    version: str
    input_type: Any = None
    output_type: Any = None
    steps: tuple[str, ...] = ()
    """The ``@step`` methods of a class workflow, in order (empty for a function)."""
    state_type: Any = None

    @property
    def fingerprint(self) -> str:
        """What an execution records of the code it started under: the version."""
        return self.version

    def program(self, data: Any, state: Any = None, start_at: int = 0) -> Coroutine[Any, Any, Any]:
        """The coroutine of one execution (from its ``start_at``-th step, for classes)."""
        raise NotImplementedError

    def children(self) -> list[WorkflowDefinition]:
        """Workflows this one's code names (registered with it, so their executions recover)."""
        return []


def _hints(fn: Callable[..., Any], localns: dict[str, Any] | None) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn, localns=localns)
    except NameError as exc:
        raise TypeError(
            f"workflow {fn.__name__!r}: cannot resolve its annotations ({exc}); define the "
            "models at module level"
        ) from None


def _names(code: types.CodeType) -> Iterator[str]:
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _names(const)


def _named_workflows(fn: Callable[..., Any]) -> list[WorkflowDefinition]:
    """Workflow definitions among the globals a function's code names."""
    code = getattr(fn, "__code__", None)
    if code is None:
        return []
    scope = getattr(fn, "__globals__", {})
    found: list[WorkflowDefinition] = []
    for name in dict.fromkeys(_names(code)):
        value = scope.get(name)
        definition = as_definition(value)
        if isinstance(definition, WorkflowDefinition) and definition not in found:
            found.append(definition)
    return found


class WorkflowFunction(WorkflowDefinition, Generic[P, Out]):
    """A workflow made from an ``async def`` by ``@workflow``.

    Inside another workflow, calling it starts a child execution (await it for
    its output); elsewhere it is the plain function. For type checkers it is
    ``WorkflowFunction[P, Out]``: the function's parameters and what it returns.
    """

    def __init__(
        self,
        fn: Callable[P, Coroutine[Any, Any, Out]],
        id: str | None = None,
        version: str = "1",
        description: str | None = None,
        localns: dict[str, Any] | None = None,
    ) -> None:
        if not inspect.iscoroutinefunction(fn):
            raise TypeError(f"@workflow needs an `async def`, got {fn!r}")
        params = list(inspect.signature(fn).parameters.values())
        if len(params) > 1:
            raise TypeError(
                f"workflow {fn.__name__!r} must take one parameter (its input) or none, "
                f"it takes {len(params)}"
            )
        hints = _hints(fn, localns)
        self.fn: Callable[..., Coroutine[Any, Any, Out]] = fn  # called with its input, or none
        self.id = check_id("workflow", id or fn.__name__)
        self.version = str(version)
        self.description = description or inspect.getdoc(fn) or ""
        self._takes_input = bool(params)
        self.input_type = hints.get(params[0].name) if params else None
        ret = hints.get("return")
        self.output_type = None if ret is type(None) else ret
        self.__doc__ = fn.__doc__
        self.__name__ = fn.__name__
        self.__wrapped__ = fn

    def program(self, data: Any, state: Any = None, start_at: int = 0) -> Coroutine[Any, Any, Any]:
        return self.fn(data) if self._takes_input else self.fn()

    def children(self) -> list[WorkflowDefinition]:
        return [d for d in _named_workflows(self.fn) if d is not self]

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, Out]:
        scope = current_workflow.get()
        if scope is not None:
            return cast(Coroutine[Any, Any, Out], scope.call_task(self, args, kwargs))
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"workflow(id={self.id!r}, version={self.version!r})"


class WorkflowDecorator(Protocol):
    """What ``@workflow(...)`` with options returns: apply it to an ``async def``."""

    def __call__(
        self, fn: Callable[P, Coroutine[Any, Any, Out]], /
    ) -> WorkflowFunction[P, Out]: ...


@overload
def workflow(fn: Callable[P, Coroutine[Any, Any, Out]], /) -> WorkflowFunction[P, Out]: ...
@overload
def workflow(
    *, id: str | None = None, version: str = "1", description: str | None = None
) -> WorkflowDecorator: ...
def workflow(
    fn: Callable[..., Coroutine[Any, Any, Any]] | None = None, /, **options: Any
) -> WorkflowFunction[..., Any] | WorkflowDecorator:
    """Make an ``async def`` a durable workflow.

    Inside it, awaiting a ``@task`` call is a durable step, another workflow called
    is a child execution, and ``water.sleep``, ``wait_for_signal``, ``now``,
    ``uuid4``, ``random`` and ``patched`` are journaled. After a crash or a
    passivation the function runs again from the start and every recorded call is
    answered from the journal. ``version`` is recorded with each execution.
    """
    caller = sys._getframe(1).f_locals
    if fn is not None:
        return WorkflowFunction(fn, localns=dict(caller))

    def wrap(f: Callable[..., Coroutine[Any, Any, Any]]) -> WorkflowFunction[..., Any]:
        return WorkflowFunction(f, localns=dict(sys._getframe(1).f_locals), **options)

    return cast(WorkflowDecorator, wrap)


# -- the class form ---------------------------------------------------------------------
def step(fn: F) -> F:
    """Mark an ``async def`` method of a ``Workflow`` class as one of its steps."""
    if not inspect.iscoroutinefunction(fn):
        raise TypeError(f"@step needs an `async def` method, got {fn!r}")
    setattr(fn, _STEP_MARK, True)
    return fn


class WorkflowContext(Generic[In, S]):
    """What a ``@step`` method gets: the input, the typed state, durable waiting.

    ``state`` is journaled at the end of every step and restored on replay, so
    completed steps never run again. ``logger`` is quiet while code is replayed.
    """

    def __init__(
        self,
        execution_id: str,
        input: In,
        state: S,
        logger: logging.Logger | logging.LoggerAdapter[logging.Logger],
    ) -> None:
        self.execution_id = execution_id
        self.input = input
        self.state = state
        self._logger = logger

    @property
    def logger(self) -> logging.Logger | logging.LoggerAdapter[logging.Logger]:
        return self._logger

    async def sleep(self, duration: Any) -> None:
        from water.workflow.api import sleep

        await sleep(duration)

    async def wait_for_signal(self, name: str, model: Any = None, **options: Any) -> Any:
        from water.workflow.api import wait_for_signal

        return await wait_for_signal(name, model, **options)


class Workflow(Generic[In, S]):
    """A workflow written as a class of ``@step`` methods, run in definition order.

    ::

        class Onboarding(Workflow[Signup, Progress]):
            id = "onboarding"

            @step
            async def create_account(self, ctx: WorkflowContext[Signup, Progress]) -> None:
                ctx.state.account_id = (await create_account_task(ctx.input)).id

    ``S`` (the state) must be constructible without arguments (a model with
    defaults); the output of an execution is its final state.
    """

    id: str = ""
    version: str = "1"
    description: str = ""
    __definition__: ClassVar[ClassDefinition]
    """What the engine runs for this class (``water.definition.as_definition`` finds it)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.__definition__ = ClassDefinition(cls)


class ClassDefinition(WorkflowDefinition):
    def __init__(self, cls: type[Workflow[Any, Any]]) -> None:
        self.cls = cls
        self.id = check_id("workflow", cls.__dict__.get("id") or cls.__name__)
        self.version = str(cls.version)
        self.description = cls.description or inspect.getdoc(cls) or ""
        args: tuple[Any, ...] = (None, None)
        for base in getattr(cls, "__orig_bases__", ()):
            origin = typing.get_origin(base)
            if isinstance(origin, type) and issubclass(origin, Workflow):
                found = typing.get_args(base)
                if len(found) == 2 and not any(isinstance(a, TypeVar) for a in found):
                    args = found
        self.input_type, self.state_type = args
        self.output_type = self.state_type
        self.steps = tuple(
            name for name, value in vars(cls).items() if getattr(value, _STEP_MARK, False)
        )

    def initial_state(self) -> Any:
        if self.state_type is None:
            return None
        try:
            return self.state_type()
        except Exception as exc:
            raise TypeError(
                f"workflow {self.id!r}: its state {self.state_type!r} must be constructible "
                f"without arguments (give every field a default): {exc}"
            ) from None

    def program(self, data: Any, state: Any = None, start_at: int = 0) -> Coroutine[Any, Any, Any]:
        return _run_steps(self, data, state, start_at)

    def children(self) -> list[WorkflowDefinition]:
        found: list[WorkflowDefinition] = []
        for name in self.steps:
            for d in _named_workflows(vars(self.cls)[name]):
                if d not in found:
                    found.append(d)
        return found

    def __repr__(self) -> str:
        return f"Workflow(id={self.id!r}, version={self.version!r})"


async def _run_steps(definition: ClassDefinition, data: Any, state: Any, start_at: int) -> Any:
    from water.workflow.scope import require_scope

    scope = require_scope("a Workflow class")
    instance = definition.cls()
    if state is None:
        state = definition.initial_state()
    ctx: WorkflowContext[Any, Any] = WorkflowContext(
        scope.execution_id, data, state, scope.logger(definition.id)
    )
    for index, name in enumerate(definition.steps):
        if index < start_at:
            continue
        scope.enter_step(name)
        await getattr(instance, name)(ctx)
        ctx.state = scope.step_done(name, ctx.state)
    return ctx.state
