"""The types of a flow: its input, its output, and the value after each stage.

A stage's type comes from what it runs (a task's models, a nested definition's
types; a dag stage's output is a ``TypedDict`` of its sinks' outputs by task id);
``None`` means untyped (anything is trusted). A definition nested in
itself has no type: resolving one returns ``None`` instead of recursing forever.
"""

from __future__ import annotations

import threading
import weakref
from typing import Any

from pydantic import ValidationError
from typing_extensions import TypedDict

from water.compatibility import items_input
from water.definition import Definition
from water.flow.node import Node, Runnable
from water.task import Task
from water.types import validate

_local = threading.local()  # per thread: the nested definitions whose type is being resolved


def input_type(r: Runnable) -> Any:
    return r.input_model if isinstance(r, Task) else _guarded(r, "in")


def output_type(r: Runnable) -> Any:
    return r.output_model if isinstance(r, Task) else _guarded(r, "out")


def _guarded(definition: Definition, which: str) -> Any:
    """A nested definition's type; ``None`` (untyped) for one nested in itself."""
    resolving: set[tuple[int, str]] = _local.__dict__.setdefault("resolving", set())
    key = (id(definition), which)
    if key in resolving:
        return None
    resolving.add(key)
    try:
        return definition.input_type if which == "in" else definition.output_type
    finally:
        resolving.discard(key)


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


_dag_outputs: weakref.WeakKeyDictionary[Node, Any] = weakref.WeakKeyDictionary()


def dag_output_type(name: str, node: Node) -> Any:
    """The output of a dag stage: ``{task_id: output}`` of its sinks, as a ``TypedDict``
    typed by their outputs (one type per stage, so validators are built once)."""
    found = _dag_outputs.get(node)
    if found is None:
        fields = {}
        for slot in node.sinks():
            r = node.runnables[slot]
            out = output_type(r)
            fields[r.id] = Any if out is None else out
        found = _dag_outputs[node] = TypedDict(f"{name}_output", fields)  # type: ignore[operator]
    return found


class StageTypes:
    """The typing part of a ``Flow``: its input and output types, stage by stage."""

    id: str
    nodes: list[Node]
    _input_model: Any

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
        if node.kind == "dag":
            roots = node.roots()
            return input_type(node.runnables[roots[0]]) if roots else None
        if node.runnables:
            return input_type(node.runnables[0])
        return None

    @property
    def output_type(self) -> Any:
        return self.stage_output_type(len(self.nodes) - 1)

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
        if node.kind == "dag":
            return dag_output_type(self.id, node)
        return self.stage_output_type(index - 1)
