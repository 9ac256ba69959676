"""The fluent builder of flows: ``Flow`` and its stage methods.

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

``x`` is a Task or a definition nested in the flow (another Flow, a code-first
workflow), which runs as its own child execution. Conditions are plain functions
of the value; they run when the execution reaches them and their result is
journaled, so a replay never calls them again. Typing, validation and the
fingerprint live beside this module (``types``, ``validation``, ``fingerprint``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar

from supervision import RetryPolicy, parse_duration
from water.definition import Definition
from water.flow.fingerprint import Fingerprinted
from water.flow.node import (
    NO_DEFAULT,
    Condition,
    Node,
    Step,
    callable_name,
    check_condition,
    check_runnable,
    is_async_callable,
)
from water.flow.validation import FlowRules
from water.task import check_id
from water.types import to_json


class Flow(FlowRules, Fingerprinted, Definition):
    """A workflow definition built with a fluent API; every builder returns the flow.

    ``Flow(id, description="", *, variables=None, metadata=None, retry=None,
    input_model=None)``: ``variables`` and ``metadata`` reach every step's
    context; ``retry`` is the default policy of its tasks; ``input_model``
    overrides the input type (by default the first step's input type).
    """

    kind: ClassVar[str] = "flow"

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

    def then(self, step: Step) -> Flow:
        """Run ``step`` on the current value; its output becomes the value."""
        return self._add(Node("task", (check_runnable(f"{self.id}.then", step),)))

    def branch(self, cases: Sequence[Sequence[Any]]) -> Flow:
        """``[[cond, step], ...]``: the first matching case runs; no match passes through."""
        if not isinstance(cases, (list, tuple)) or not cases:
            raise ValueError(f"{self.id}.branch: give a non-empty list of [condition, step] pairs")
        conds, steps = [], []
        for i, case in enumerate(cases):
            if not isinstance(case, (list, tuple)) or len(case) != 2:
                raise ValueError(f"{self.id}.branch: case {i} must be a [condition, step] pair")
            where = f"flow {self.id!r} step {len(self.nodes)} (branch case {i})"
            conds.append(check_condition(where, case[0]))
            steps.append(check_runnable(f"{self.id}.branch case {i}", case[1]))
        return self._add(Node("branch", tuple(steps), tuple(conds)))

    def parallel(self, steps: Sequence[Step]) -> Flow:
        """Run every step on the same value at once; the value becomes their outputs."""
        if not isinstance(steps, (list, tuple)) or not steps:
            raise ValueError(f"{self.id}.parallel: give a non-empty list of steps")
        checked = tuple(check_runnable(f"{self.id}.parallel", s) for s in steps)
        return self._add(Node("parallel", checked))

    def for_(self, step: Step, concurrency: int | None = None) -> Flow:
        """Run ``step`` once per item of the value (a list), at most ``concurrency`` at once."""
        if concurrency is not None and (not isinstance(concurrency, int) or concurrency < 1):
            raise ValueError(f"{self.id}.for_: concurrency must be a positive int or None")
        return self._add(
            Node("for", (check_runnable(f"{self.id}.for_", step),), concurrency=concurrency)
        )

    def while_(self, condition: Condition, step: Step, max_iterations: int = 1000) -> Flow:
        """While ``condition(value)`` holds, run ``step`` and feed its output back."""
        if not isinstance(max_iterations, int) or max_iterations < 1:
            raise ValueError(f"{self.id}.while_: max_iterations must be a positive int")
        return self._add(
            Node(
                "while",
                (check_runnable(f"{self.id}.while_", step),),
                (check_condition(f"flow {self.id!r} step {len(self.nodes)} (while_)", condition),),
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
        default: Any = NO_DEFAULT,
    ) -> Flow:
        """Wait for ``Signal(name, payload)``; the payload (validated) becomes the value.

        A signal sent before the flow gets here is kept. After ``timeout`` the
        execution fails, or continues with ``default`` when one is given.
        """
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.id}.wait_for_signal: name must be a non-empty string")
        if default is not NO_DEFAULT:
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

    # -- nesting -------------------------------------------------------------------
    def children(self) -> list[Definition]:
        """The definitions its stages run (nested flows, workflows), in order, each once."""
        found: dict[int, Definition] = {}
        for node in self.nodes:
            for r in node.runnables:
                if isinstance(r, Definition):
                    found.setdefault(id(r), r)
        return list(found.values())

    def __repr__(self) -> str:
        return f"Flow(id={self.id!r}, steps={len(self.nodes)})"
