"""One stage of a flow (``Node``) and what a stage may run (``Runnable``).

A stage runs tasks or definitions nested in the flow (another Flow, a code-first
workflow), each a child execution of its own. Conditions are plain functions of
the value: checked here when the flow is built. A ``Dag`` runs on a plan of one
stage of kind ``"dag"``, whose ``after`` says which runnables wait for which.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from water.definition import Definition, as_definition
from water.task import Task

Runnable = Task[Any, Any] | Definition
"""What a stage runs: a task, or a definition nested as a child execution."""
Step = Task[Any, Any] | Definition | type[Any]
"""What a builder method takes: a Runnable, or a class that stands for a definition."""
Condition = Callable[[Any], bool]

NO_DEFAULT: Any = object()


@dataclass(frozen=True, eq=False)
class Node:
    """One stage of a flow."""

    kind: str
    runnables: tuple[Runnable, ...] = ()
    conditions: tuple[Condition, ...] = ()
    concurrency: int | None = None
    max_iterations: int | None = None
    duration: float | None = None
    until: datetime | Callable[[Any], datetime] | None = None
    signal: str | None = None
    model: Any = None
    timeout: float | None = None
    default: Any = field(default=NO_DEFAULT)
    after: tuple[tuple[int, ...], ...] = ()
    """A dag stage: for each runnable, the slots of the runnables it depends on."""

    @property
    def has_default(self) -> bool:
        return self.default is not NO_DEFAULT

    def roots(self) -> list[int]:
        """A dag stage's slots that depend on nothing (they take the stage's input)."""
        return [slot for slot, deps in enumerate(self.after) if not deps]

    def sinks(self) -> list[int]:
        """A dag stage's slots nothing depends on (their outputs are the stage's output)."""
        return [slot for slot, users in enumerate(self.dependents) if not users]

    @functools.cached_property
    def dependents(self) -> tuple[tuple[int, ...], ...]:
        """A dag stage's slots that depend on each slot, in declared order."""
        found: list[list[int]] = [[] for _ in self.after]
        for slot, deps in enumerate(self.after):
            for d in deps:
                found[d].append(slot)
        return tuple(tuple(users) for users in found)

    def label(self) -> str:
        if self.kind in ("task", "for", "while"):
            return f"{self.kind} {runnable_id(self.runnables[0])}"
        if self.kind in ("branch", "parallel", "dag"):
            return f"{self.kind} [{', '.join(runnable_id(r) for r in self.runnables)}]"
        if self.kind == "signal":
            return f"wait_for_signal {self.signal!r}"
        return self.kind


def runnable_id(r: Runnable) -> str:
    return r.id


def check_runnable(where: str, r: object) -> Runnable:
    """A task, or the definition ``r`` stands for (a ``Workflow`` class gives its own)."""
    if isinstance(r, Task):
        return r
    definition = as_definition(r)
    if definition is None:
        raise TypeError(
            f"{where}: expected a Task or a Flow (or a code-first workflow), "
            f"got {type(r).__name__} ({r!r})"
        )
    return definition


def check_condition(where: str, c: object) -> Condition:
    if not callable(c):
        raise TypeError(f"{where}: condition must be callable, got {type(c).__name__}")
    if is_async_callable(c):
        raise TypeError(
            f"{where}: condition {callable_name(c)!r} is an async function; conditions are "
            "plain functions of the value, evaluated as the execution reaches them (do "
            "async work in a task and branch on its output)"
        )
    return typing.cast(Condition, c)


def is_async_callable(fn: object) -> bool:
    """Whether calling ``fn`` gives a coroutine (an ``async def``, or an async ``__call__``)."""
    # the method of an object's class (the object is known to be callable)
    call = None if inspect.isroutine(fn) else getattr(type(fn), "__call__", None)  # noqa: B004
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(call)


def callable_name(fn: object) -> str:
    return str(getattr(fn, "__name__", None) or type(fn).__name__)
