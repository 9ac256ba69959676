"""A definition's structure as data (``describe``) and as a Mermaid diagram (``to_mermaid``).

``describe`` is what ``GET /flows`` answers; ``to_mermaid`` is what ``water graph``
prints. Nested flows and Dags are described recursively and drawn as subgraphs (a
Dag's tasks with an edge from each dependency); any other nested definition (a
code-first workflow) is described by its id, kind and types, and drawn as one
box: its steps are code, not data. ``calls_to_mermaid`` draws what one execution
of a code-first workflow recorded (``water.recorded``).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from supervision import CircuitBreaker, RetryPolicy, format_seconds
from water.dag import Dag
from water.definition import Definition, has_cycle
from water.flow import Flow, Node, Runnable
from water.recorded import Call, Section
from water.task import Task
from water.types import json_schema
from water.workflow import WorkflowDefinition

__all__ = ["calls_to_mermaid", "describe", "step_labels", "to_mermaid"]


def step_labels(definition: Definition) -> list[str]:
    """Its stages, for listings: a flow's nodes, a Dag's tasks, a workflow class's
    ``@step`` methods."""
    if isinstance(definition, Flow):
        return [node.label() for node in definition.nodes]
    if isinstance(definition, Dag):
        return [
            r.id + (f" (after {', '.join(deps)})" if deps else "") for r, deps in definition.entries
        ]
    if isinstance(definition, WorkflowDefinition):
        return list(definition.steps)
    return []


# -- describe -------------------------------------------------------------------------
def describe(definition: Definition) -> dict[str, Any]:
    """The definition as JSON-able data: id, description, schemas and steps (recursively)."""
    return _describe(definition, ())


def _plan_of(definition: Definition) -> Flow | None:
    """The stages of a definition whose structure is data: a flow's, a Dag's plan."""
    if isinstance(definition, Flow):
        return definition
    if isinstance(definition, Dag):
        return definition.plan
    return None


def _describe(definition: Definition, path: tuple[int, ...]) -> dict[str, Any]:
    plan = _plan_of(definition)
    if plan is None:
        return {
            "type": definition.kind,
            "id": definition.id,
            "description": definition.description,
            "fingerprint": definition.fingerprint,
            "input_schema": json_schema(definition.input_type),
            "output_schema": json_schema(definition.output_type),
            "steps": [],
        }
    cyclic = has_cycle(definition)
    if id(definition) in path:  # a cycle: validate() reports it; describe the flow once only
        steps: list[dict[str, Any]] = []
    else:
        inner = (*path, id(definition))
        steps = [_describe_node(i, node, inner) for i, node in enumerate(plan.nodes)]
    return {
        "type": definition.kind,
        "id": definition.id,
        "description": definition.description,
        "fingerprint": definition.fingerprint,
        # the types of a flow with a flow nested in itself are undefined (and recurse forever)
        "input_schema": {} if cyclic else json_schema(definition.input_type),
        "output_schema": {} if cyclic else json_schema(definition.output_type),
        "steps": steps,
    }


def _describe_node(index: int, node: Node, path: tuple[int, ...]) -> dict[str, Any]:
    return {
        "index": index,
        "kind": node.kind,
        "label": node.label(),
        "runnables": [_describe_runnable(r, path) for r in node.runnables],
        "conditions": [_callable_name(c) for c in node.conditions],
        "concurrency": node.concurrency,
        "max_iterations": node.max_iterations,
        "duration": node.duration,
        "until": _until(node.until),
        "signal": node.signal,
        "payload_schema": json_schema(node.model) if node.kind == "signal" else None,
        "timeout": node.timeout,
        "depends_on": _depends_on(node) if node.kind == "dag" else None,
    }


def _depends_on(node: Node) -> dict[str, list[str]]:
    """A dag stage's dependencies: the ids each task waits for, by task id."""
    ids = [r.id for r in node.runnables]
    return {ids[slot]: [ids[d] for d in deps] for slot, deps in enumerate(node.after)}


def _describe_runnable(r: Runnable, path: tuple[int, ...]) -> dict[str, Any]:
    if isinstance(r, Definition):
        return _describe(r, path)
    return {
        "type": "task",
        "id": r.id,
        "description": r.description,
        "input_schema": json_schema(r.input_model),
        "output_schema": json_schema(r.output_model),
        "timeout": r.timeout,
        "retry": _retry(r.retry),
        "circuit_breaker": _breaker(r.circuit_breaker),
        "compensates": r.has_compensation,
    }


def _retry(policy: RetryPolicy | None) -> dict[str, Any] | None:
    if policy is None:
        return None
    return {
        "max_attempts": policy.max_attempts,
        "backoff": policy.backoff,
        "delay": policy.delay,
        "max_delay": policy.max_delay,
        "jitter": policy.jitter,
        "retry_on": [c.__name__ for c in policy.retry_on],
    }


def _breaker(breaker: CircuitBreaker | None) -> dict[str, Any] | None:
    if breaker is None:
        return None
    return {
        "name": breaker.name,
        "failure_threshold": breaker.failure_threshold,
        "reset_timeout": breaker.reset_timeout,
        "half_open_max_calls": breaker.half_open_max_calls,
    }


def _until(until: datetime | Callable[[Any], datetime] | None) -> str | None:
    if until is None:
        return None
    if isinstance(until, datetime):
        return until.isoformat()
    return f"computed by {_callable_name(until)}"


def _callable_name(fn: Callable[..., Any]) -> str:
    return str(getattr(fn, "__name__", None) or type(fn).__name__)


# -- Mermaid --------------------------------------------------------------------------
Exit = tuple[str, str | None]
"""A node an edge leaves from, with the edge's label."""


def to_mermaid(definition: Definition, direction: str = "TD") -> str:
    """The definition as a Mermaid ``flowchart``; nested flows are subgraphs."""
    diagram = _Diagram()
    diagram.line(f"flowchart {direction}")
    start = diagram.node("start", "circle")
    plan = _plan_of(definition)
    if plan is not None:
        entry, exits = diagram.stages(plan, (id(definition),))
    else:
        entry, exits = diagram.runnable(definition, ())
    diagram.edge(start, entry)
    end = diagram.node("end", "circle")
    for source, label in exits:
        diagram.edge(source, end, label)
    return "\n".join(diagram.lines) + "\n"


def calls_to_mermaid(
    title: str, sections: list[Section], outcome: str | None = None, direction: str = "TD"
) -> str:
    """The calls an execution recorded, in order; calls in flight together side by side.

    A class workflow's ``@step`` methods are subgraphs. ``outcome``: the status the
    execution ended with (drawn as its end), None while it goes on.
    """
    diagram = _Diagram()
    diagram.line(f"flowchart {direction}")
    exits: list[Exit] = [(diagram.node("start", "circle"), None)]
    for section in sections:
        indent = "    " * diagram.depth
        if section.name:
            graph_id = diagram._new_id("sg")
            diagram.line(f'{indent}subgraph {graph_id}["{_escape(f"step {section.name}")}"]')
            diagram.depth += 1
            diagram.line(f"{'    ' * diagram.depth}direction TB")
        for stage in section.stages:
            if len(stage) == 1:
                call = diagram.call(stage[0])
                diagram.join(exits, call)
                exits = [(call, None)]
                continue
            fork = diagram.node("parallel", "hexagon")
            diagram.join(exits, fork)
            done = diagram.node("all done", "hexagon")
            for c in stage:
                call = diagram.call(c)
                diagram.edge(fork, call)
                diagram.edge(call, done)
            exits = [(done, None)]
        if section.name:
            diagram.depth -= 1
            diagram.line(f"{indent}end")
    if not sections:
        empty = diagram.node(f"{title} (no steps recorded)")
        diagram.join(exits, empty)
        exits = [(empty, None)]
    if outcome is not None:
        diagram.join(exits, diagram.node("end" if outcome == "completed" else outcome, "circle"))
    return "\n".join(diagram.lines) + "\n"


_SHAPES = {
    "box": ('["', '"]'),
    "decision": ('{"', '"}'),
    "hexagon": ('{{"', '"}}'),
    "stadium": ('(["', '"])'),
    "slanted": ('[/"', '"/]'),
    "circle": ('(("', '"))'),
    "subroutine": ('[["', '"]]'),
}


def _condition_label(cond: Callable[..., Any], fallback: str) -> str:
    name = _callable_name(cond)
    return fallback if name == "<lambda>" else name


def _escape(text: str) -> str:
    return (
        text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;").replace(">", "#gt;")
    )


class _Diagram:
    def __init__(self) -> None:
        self.lines: list[str] = []
        self.depth = 1
        self.count = 0

    def line(self, text: str) -> None:
        self.lines.append(text)

    def _new_id(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def node(self, label: str, shape: str = "box") -> str:
        node_id = self._new_id("n")
        left, right = _SHAPES[shape]
        self.line(f"{'    ' * self.depth}{node_id}{left}{_escape(label)}{right}")
        return node_id

    def edge(self, source: str, target: str, label: str | None = None) -> None:
        arrow = f"-->|{_escape(label)}|" if label else "-->"
        self.line(f"{'    ' * self.depth}{source} {arrow} {target}")

    def call(self, call: Call) -> str:
        """One recorded call, drawn as the same kind of step is in a flow."""
        if call.kind == "task":
            return self.node(call.name)
        if call.kind == "workflow":
            return self.node(f"workflow {call.name}", "subroutine")
        seconds = format_seconds(call.seconds) if call.seconds is not None else ""
        if call.kind == "sleep":
            return self.node(f"sleep {seconds}", "stadium")
        label = f"wait for signal '{call.name}'" if call.name else "wait for a signal"
        if call.seconds is not None:
            label += " (timed out)" if call.timed_out else f" (timeout {seconds})"
        return self.node(label, "slanted")

    def join(self, exits: list[Exit], target: str) -> None:
        for source, label in exits:
            self.edge(source, target, label)

    def stages(self, flow: Flow, path: tuple[int, ...]) -> tuple[str, list[Exit]]:
        """Draw every node of ``flow`` in order; return the first entry and the last exits."""
        entry: str | None = None
        exits: list[Exit] = []
        for node in flow.nodes:
            node_entry, node_exits = self.stage(node, path)
            if entry is None:
                entry = node_entry
            else:
                self.join(exits, node_entry)
            exits = node_exits
        if entry is None:
            entry = self.node(f"{flow.id} (no steps)")
            exits = [(entry, None)]
        return entry, exits

    def stage(self, node: Node, path: tuple[int, ...]) -> tuple[str, list[Exit]]:
        kind = node.kind
        if kind == "task":
            return self.runnable(node.runnables[0], path)
        if kind == "for":
            limit = f", {node.concurrency} at once" if node.concurrency else ""
            return self.runnable(node.runnables[0], path, f"for each item{limit}: ")
        if kind == "branch":
            decision = self.node("branch", "decision")
            exits: list[Exit] = []
            for number, (cond, r) in enumerate(zip(node.conditions, node.runnables, strict=True)):
                entry, case_exits = self.runnable(r, path)
                self.edge(decision, entry, _condition_label(cond, f"case {number + 1}"))
                exits.extend(case_exits)
            exits.append((decision, "no match"))
            return decision, exits
        if kind == "parallel":
            fork = self.node("parallel", "hexagon")
            done = self.node("all done", "hexagon")
            for r in node.runnables:
                entry, branch_exits = self.runnable(r, path)
                self.edge(fork, entry)
                self.join(branch_exits, done)
            return fork, [(done, None)]
        if kind == "dag":
            return self.dag(node, path)
        if kind == "while":
            limit = f" (max {node.max_iterations})" if node.max_iterations else ""
            test = _condition_label(node.conditions[0], "condition")
            decision = self.node(f"while {test}{limit}", "decision")
            entry, body_exits = self.runnable(node.runnables[0], path)
            self.edge(decision, entry, "true")
            self.join(body_exits, decision)
            return decision, [(decision, "false")]
        if kind == "sleep":
            if node.duration is not None:
                label = f"sleep {format_seconds(node.duration)}"
            else:
                label = f"sleep until {_until(node.until)}"
            wait = self.node(label, "stadium")
            return wait, [(wait, None)]
        if kind == "signal":
            timeout = f" (timeout {format_seconds(node.timeout)})" if node.timeout else ""
            wait = self.node(f"wait for signal '{node.signal}'{timeout}", "slanted")
            return wait, [(wait, None)]
        other = self.node(node.label())
        return other, [(other, None)]

    def dag(self, node: Node, path: tuple[int, ...]) -> tuple[str, list[Exit]]:
        """Every task of a dag stage, an edge from each dependency to its dependents;
        several tasks without dependencies share an entry, several sinks an exit."""
        drawn = [self.runnable(r, path) for r in node.runnables]
        for slot, deps in enumerate(node.after):
            for dep in deps:
                self.join(drawn[dep][1], drawn[slot][0])
        roots, sinks = node.roots(), node.sinks()
        if len(roots) == 1:
            entry = drawn[roots[0]][0]
        else:
            entry = self.node("input", "hexagon")
            for slot in roots:
                self.edge(entry, drawn[slot][0])
        exits = [exit for slot in sinks for exit in drawn[slot][1]]
        if len(sinks) > 1:
            done = self.node("all done", "hexagon")
            self.join(exits, done)
            exits = [(done, None)]
        return entry, exits

    def runnable(
        self, r: Runnable, path: tuple[int, ...], prefix: str = ""
    ) -> tuple[str, list[Exit]]:
        if isinstance(r, Task):
            step = self.node(f"{prefix}{r.id}")
            return step, [(step, None)]
        plan = _plan_of(r)
        if plan is None:  # its steps are code: one box
            box = self.node(f"{prefix}{r.kind} {r.id}", "subroutine")
            return box, [(box, None)]
        if id(r) in path:  # a cycle: draw a reference instead of recursing
            ref = self.node(f"{prefix}{r.kind} {r.id} (cycle)")
            return ref, [(ref, None)]
        graph_id = self._new_id("sg")
        indent = "    " * self.depth
        self.line(f'{indent}subgraph {graph_id}["{_escape(f"{prefix}{r.kind} {r.id}")}"]')
        self.depth += 1
        self.line(f"{'    ' * self.depth}direction TB")
        try:
            entry, exits = self.stages(plan, (*path, id(r)))
        finally:
            self.depth -= 1
        self.line(f"{indent}end")
        return entry, exits
