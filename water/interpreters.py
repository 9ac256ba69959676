"""Which interpreter runs a definition: ``interpreter_for``, the one place that knows.

A definition's ``kind`` picks it: a flow runs on the plan interpreter
(``FlowMachine``), and so does a Dag (on its plan of one ``"dag"`` stage); a
code-first workflow on the replaying one (``WorkflowMachine``). The engine asks
here once per definition and keeps the machine; a new kind of definition adds
its case here and nowhere else.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from actors.jobs import SupervisorSpec
from supervision import RetryPolicy
from water.dag import Dag
from water.definition import Definition
from water.flow import Flow
from water.interpreter import FlowMachine
from water.task import Task
from water.workflow import WorkflowDefinition, WorkflowMachine

if TYPE_CHECKING:
    from water.tracing import Tracing

__all__ = ["Machine", "interpreter_for"]

Machine = FlowMachine | WorkflowMachine
"""An interpreter of one definition (it implements ``actors.protocols.Interpreter``)."""


def interpreter_for(
    definition: Definition,
    *,
    default_retry: RetryPolicy,
    spec_for: Callable[[Task[Any, Any]], SupervisorSpec],
    allow_flow_changes: bool = False,
    on_child: Callable[[Definition], None] | None = None,
    rng: random.Random | None = None,
    tracing: Tracing | None = None,
) -> Machine:
    """The interpreter of ``definition``'s executions.

    ``on_child`` registers a definition an execution meets as it runs (a child a
    workflow's code calls), so the child's executions can run and recover; ``rng``
    draws retry jitter and recorded values (seeded in simulations); ``tracing`` wraps
    step bodies in OpenTelemetry spans.
    """
    if definition.kind == "flow" and isinstance(definition, Flow):
        return FlowMachine(
            definition,
            default_retry=default_retry,
            spec_for=spec_for,
            allow_flow_changes=allow_flow_changes,
            rng=rng,
            tracing=tracing,
        )
    if definition.kind == "dag" and isinstance(definition, Dag):
        return FlowMachine(  # its plan: one "dag" stage
            definition.plan,
            default_retry=default_retry,
            spec_for=spec_for,
            allow_flow_changes=allow_flow_changes,
            rng=rng,
        )
    if definition.kind == "workflow" and isinstance(definition, WorkflowDefinition):
        return WorkflowMachine(
            definition,
            default_retry=default_retry,
            spec_for=spec_for,
            on_child=on_child,
            rng=rng,
            tracing=tracing,
        )
    raise TypeError(
        f"no interpreter runs {definition.kind} {definition.id!r} ({type(definition).__name__})"
    )
