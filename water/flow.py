"""Flows: typed tasks chained with a fluent API.

A flow is a sequence of nodes; each node is one stage of an execution:

* ``then(x)``: run x on the current value; its output becomes the value.
* ``branch([[cond, x], ...])``: the first case whose ``cond(value)`` holds runs
  on the value; no match passes the value through unchanged.
* ``parallel([x, y])``: all run on the value at once; the value becomes the
  list of their outputs in declared order.
* ``for_(x, concurrency=n)``: the value is a list (or a model with a single
  list field); x runs once per item, at most n at once; the value becomes the
  list of results in item order.
* ``while_(cond, x, max_iterations=n)``: while ``cond(value)`` holds, run x and
  feed its output back as the value.
* ``sleep(duration)`` / ``sleep_until(when)``: wait durably; the value passes.
* ``wait_for_signal(name, model=None, timeout=None)``: wait until a signal of
  that name arrives; its payload becomes the value.

``x`` is a Task or another Flow (which runs as its own child execution).
Conditions are plain functions of the value; they run when the execution
reaches them and their result is journaled, so a replay never calls them again.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import threading
import typing
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Union

from pydantic import ValidationError

from supervision import RetryPolicy, WaterError, parse_duration
from water.compatibility import (
    NOT_A_LIST,
    describe,
    feed_problem,
    for_item_type,
    items_input,
)
from water.task import Task, check_id
from water.types import to_json, validate

Runnable = Union[Task[Any, Any], "Flow"]
Condition = Callable[[Any], bool]


class FlowValidationError(WaterError, ValueError):
    """A flow is not well formed; ``problems`` lists every finding."""

    def __init__(self, flow_id: str, problems: list[str]) -> None:
        self.flow_id = flow_id
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"flow {flow_id!r} is invalid:\n{lines}")


_NO_DEFAULT: Any = object()


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
    default: Any = field(default=_NO_DEFAULT)

    @property
    def has_default(self) -> bool:
        return self.default is not _NO_DEFAULT

    def label(self) -> str:
        if self.kind in ("task", "for", "while"):
            return f"{self.kind} {runnable_id(self.runnables[0])}"
        if self.kind in ("branch", "parallel"):
            return f"{self.kind} [{', '.join(runnable_id(r) for r in self.runnables)}]"
        if self.kind == "signal":
            return f"wait_for_signal {self.signal!r}"
        return self.kind


def runnable_id(r: Runnable) -> str:
    return r.id


_local = threading.local()  # per thread: the nested flows whose type is being resolved


def input_type(r: Runnable) -> Any:
    return r.input_model if isinstance(r, Task) else _guarded(r, "in")


def output_type(r: Runnable) -> Any:
    return r.output_model if isinstance(r, Task) else _guarded(r, "out")


def _guarded(flow: Flow, which: str) -> Any:
    """A nested flow's type; ``None`` (untyped) for a flow nested in itself."""
    resolving: set[tuple[int, str]] = _local.__dict__.setdefault("resolving", set())
    key = (id(flow), which)
    if key in resolving:
        return None
    resolving.add(key)
    try:
        return flow.input_type if which == "in" else flow.output_type
    finally:
        resolving.discard(key)


def _check_runnable(where: str, r: object) -> Runnable:
    if not isinstance(r, (Task, Flow)):
        raise TypeError(f"{where}: expected a Task or a Flow, got {type(r).__name__} ({r!r})")
    return r


def _check_condition(where: str, c: object) -> Condition:
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


class Flow:
    """A workflow definition built with a fluent API; every builder returns the flow.

    ``Flow(id, description="", *, variables=None, metadata=None, retry=None,
    input_model=None)``: ``variables`` and ``metadata`` reach every step's
    context; ``retry`` is the default policy of its tasks; ``input_model``
    overrides the input type (by default the first step's input type).
    """

    def __init__(
        self,
        id: str,
        description: str = "",
        *,
        variables: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        retry: RetryPolicy | None = None,
        input_model: Any = None,
    ) -> None:
        self.id = check_id("flow", id)
        self.description = description
        self.variables = dict(variables or {})
        self.metadata = dict(metadata or {})
        to_json(self.variables, f"variables of flow {id!r}")  # journaled at every start
        to_json(self.metadata, f"metadata of flow {id!r}")
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError(f"flow {id!r}: retry must be a RetryPolicy")
        self.retry = retry
        self._input_model = input_model
        self.nodes: list[Node] = []
        self._fingerprint: str | None = None

    # -- builders ----------------------------------------------------------------
    def _add(self, node: Node) -> Flow:
        self.nodes.append(node)
        self._fingerprint = None
        return self

    def then(self, step: Runnable) -> Flow:
        """Run ``step`` on the current value; its output becomes the value."""
        return self._add(Node("task", (_check_runnable(f"{self.id}.then", step),)))

    def branch(self, cases: Sequence[Sequence[Any]]) -> Flow:
        """``[[cond, step], ...]``: the first matching case runs; no match passes through."""
        if not isinstance(cases, (list, tuple)) or not cases:
            raise ValueError(f"{self.id}.branch: give a non-empty list of [condition, step] pairs")
        conds, steps = [], []
        for i, case in enumerate(cases):
            if not isinstance(case, (list, tuple)) or len(case) != 2:
                raise ValueError(f"{self.id}.branch: case {i} must be a [condition, step] pair")
            where = f"flow {self.id!r} step {len(self.nodes)} (branch case {i})"
            conds.append(_check_condition(where, case[0]))
            steps.append(_check_runnable(f"{self.id}.branch case {i}", case[1]))
        return self._add(Node("branch", tuple(steps), tuple(conds)))

    def parallel(self, steps: Sequence[Runnable]) -> Flow:
        """Run every step on the same value at once; the value becomes their outputs."""
        if not isinstance(steps, (list, tuple)) or not steps:
            raise ValueError(f"{self.id}.parallel: give a non-empty list of steps")
        checked = tuple(_check_runnable(f"{self.id}.parallel", s) for s in steps)
        return self._add(Node("parallel", checked))

    def for_(self, step: Runnable, concurrency: int | None = None) -> Flow:
        """Run ``step`` once per item of the value (a list), at most ``concurrency`` at once."""
        if concurrency is not None and (not isinstance(concurrency, int) or concurrency < 1):
            raise ValueError(f"{self.id}.for_: concurrency must be a positive int or None")
        return self._add(
            Node("for", (_check_runnable(f"{self.id}.for_", step),), concurrency=concurrency)
        )

    def while_(self, condition: Condition, step: Runnable, max_iterations: int = 1000) -> Flow:
        """While ``condition(value)`` holds, run ``step`` and feed its output back."""
        if not isinstance(max_iterations, int) or max_iterations < 1:
            raise ValueError(f"{self.id}.while_: max_iterations must be a positive int")
        return self._add(
            Node(
                "while",
                (_check_runnable(f"{self.id}.while_", step),),
                (_check_condition(f"flow {self.id!r} step {len(self.nodes)} (while_)", condition),),
                max_iterations=max_iterations,
            )
        )

    def sleep(self, duration: float | timedelta | str) -> Flow:
        """Wait durably for ``duration`` (seconds, ``timedelta`` or ``"5m"``)."""
        return self._add(Node("sleep", duration=parse_duration(duration)))

    def sleep_until(self, when: datetime | Callable[[Any], datetime]) -> Flow:
        """Wait durably until ``when`` (a datetime, or a function of the value)."""
        if not (isinstance(when, datetime) or callable(when)):
            raise TypeError(f"{self.id}.sleep_until: give a datetime or a function of the value")
        if is_async_callable(when):
            raise TypeError(
                f"flow {self.id!r} step {len(self.nodes)} (sleep_until): "
                f"{callable_name(when)!r} is an async function; give a plain function of the value"
            )
        return self._add(Node("sleep", until=when))

    def wait_for_signal(
        self,
        name: str,
        model: Any = None,
        timeout: float | timedelta | str | None = None,
        default: Any = _NO_DEFAULT,
    ) -> Flow:
        """Wait for ``Signal(name, payload)``; the payload (validated) becomes the value.

        A signal sent before the flow gets here is kept. After ``timeout`` the
        execution fails, or continues with ``default`` when one is given.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.id}.wait_for_signal: name must be a non-empty string")
        if default is not _NO_DEFAULT:
            to_json(default, f"{self.id}.wait_for_signal default")  # becomes the value
        return self._add(
            Node(
                "signal",
                signal=name,
                model=model,
                timeout=None if timeout is None else parse_duration(timeout),
                default=default,
            )
        )

    # -- types -------------------------------------------------------------------
    @property
    def input_type(self) -> Any:
        """The declared input type; a flow that starts with ``for_`` takes a list of
        its items, or a model with exactly one list field (whose list is taken)."""
        if self._input_model is not None:
            return self._input_model
        if not self.nodes:
            return None
        node = self.nodes[0]
        if node.kind == "for":
            item = input_type(node.runnables[0])
            where = f"flow {self.id!r} step 0 ({node.label()})"
            return items_input(Any if item is None else item, where)
        if node.runnables:
            return input_type(node.runnables[0])
        return None

    @property
    def output_type(self) -> Any:
        return self.stage_output_type(len(self.nodes) - 1)

    @property
    def input_model(self) -> Any:
        return self.input_type

    @property
    def output_model(self) -> Any:
        return self.output_type

    def stage_output_type(self, index: int) -> Any:
        """The type of the value after node ``index`` (``None`` when untyped)."""
        if index < 0:
            return self.input_type
        node = self.nodes[index]
        if node.kind == "task" or node.kind == "while":
            return output_type(node.runnables[0])
        if node.kind == "for":
            out = output_type(node.runnables[0])
            return list[out] if out is not None else list[Any]  # type: ignore[valid-type]
        if node.kind == "parallel":
            return list[Any]
        if node.kind == "branch":
            outs = {output_type(r) for r in node.runnables}
            prev = self.stage_output_type(index - 1)
            return outs.pop() if len(outs) == 1 and prev in outs else None
        if node.kind == "signal":
            return signal_type(node)
        return self.stage_output_type(index - 1)

    # -- identity ----------------------------------------------------------------
    @property
    def fingerprint(self) -> str:
        """A hash of the flow's structure: kinds, ids, arities, nested flows."""
        if self._fingerprint is None:
            self._fingerprint = hashlib.sha256(
                json.dumps(self._structure(set()), sort_keys=True).encode()
            ).hexdigest()[:16]
        return self._fingerprint

    def _structure(self, seen: set[int]) -> Any:
        if id(self) in seen:
            return ["cycle", self.id]
        seen = seen | {id(self)}
        out: list[Any] = [self.id]
        for node in self.nodes:
            parts: list[Any] = [node.kind, node.concurrency, node.max_iterations, node.signal]
            parts.append(len(node.conditions))
            for r in node.runnables:
                parts.append(r._structure(seen) if isinstance(r, Flow) else ["task", r.id])
            out.append(parts)
        return out

    # -- validation --------------------------------------------------------------
    def validate(self) -> Flow:
        """Raise ``FlowValidationError`` listing every problem; return the flow if sound."""
        problems: list[str] = []
        self._validate(problems, [])
        if problems:
            raise FlowValidationError(self.id, problems)
        return self

    def _validate(self, problems: list[str], path: list[Flow]) -> None:
        if any(f is self for f in path):
            chain = " -> ".join(f.id for f in [*path, self])
            problems.append(f"flow {self.id!r} is nested in itself ({chain})")
            return
        path = [*path, self]
        if not self.nodes:
            problems.append(f"flow {self.id!r} has no steps")
            return
        flow_ids: dict[str, Flow] = {}
        for index, node in enumerate(self.nodes):
            where = f"flow {self.id!r} step {index} ({node.label()})"
            if node.kind in ("parallel", "branch"):
                ids = [r.id for r in node.runnables]
                dupes = sorted({i for i in ids if ids.count(i) > 1})
                if dupes:
                    problems.append(f"{where}: duplicated ids {dupes} would be ambiguous")
            for r in node.runnables:
                if isinstance(r, Flow):
                    other = flow_ids.get(r.id)
                    if other is not None and other is not r:
                        problems.append(f"{where}: two different flows share the id {r.id!r}")
                    flow_ids[r.id] = r
                    r._validate(problems, path)
            if index > 0 or self._input_model is not None:
                self._check_feed(index, node, where, problems)

    def _check_feed(self, index: int, node: Node, where: str, problems: list[str]) -> None:
        produced = self.stage_output_type(index - 1)
        source = "the flow's input" if index == 0 else "output of the previous step"
        if produced is None or not node.runnables:
            return
        if node.kind == "for":
            item = for_item_type(produced)
            if item is NOT_A_LIST:
                problems.append(
                    f"{where}: for_ needs a list (or a model with one list field), but "
                    f"{source} is {describe(produced)}"
                )
                return
            r = node.runnables[0]
            needed = input_type(r)
            problem = feed_problem(item, needed)
            if problem:
                problems.append(
                    f"{where}: items of {source} ({describe(produced)}) are {describe(item)}, "
                    f"which cannot feed {r.id!r} (needs {describe(needed)}): {problem}"
                )
            return
        for r in node.runnables:
            needed = input_type(r)
            problem = feed_problem(produced, needed)
            if problem:
                problems.append(
                    f"{where}: {source} ({describe(produced)}) cannot feed {r.id!r} "
                    f"(needs {describe(needed)}): {problem}"
                )

    # -- running -----------------------------------------------------------------
    def run(self, input: Any = None, *, timeout: float | None = None) -> Any:
        """Run once on an ephemeral in-memory engine and return the output."""
        from water.engine import Engine

        with Engine(storage="memory://", flows=[self]) as engine:
            return engine.start(self, input).result(timeout=timeout)

    async def run_async(self, input: Any = None, *, timeout: float | None = None) -> Any:
        """``run`` for async code: does not block the event loop."""
        from water.engine import Engine

        engine = Engine(storage="memory://", flows=[self])
        try:
            ref = await engine.start_async(self, input)
            return await ref.wait(timeout=timeout)
        finally:
            await engine.shutdown_async()

    def __repr__(self) -> str:
        return f"Flow(id={self.id!r}, steps={len(self.nodes)})"


def signal_type(node: Node) -> Any:
    """The type of the value a ``wait_for_signal`` node passes on (``None``: untyped).

    The payload's model, or, when a timeout gives a default that does not fit it
    (``default=None``, say), the model or the default's type.
    """
    model = node.model
    if model is None or not node.has_default:
        return model
    if node.default is None:
        return model | None
    try:
        validate(model, node.default)
    except (ValidationError, TypeError, ValueError):
        return model | type(node.default)
    return model
