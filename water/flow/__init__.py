"""Flows: typed tasks chained with a fluent API (``Flow``), one idea per module.

``builder`` (the fluent ``Flow``), ``node`` (a stage and what it runs),
``types`` (input, output and stage types), ``validation`` (the rules of a
well-formed flow), ``fingerprint`` (the structure hash recorded with each
execution). A flow is a ``water.definition.Definition``.
"""

from water.definition import FlowValidationError
from water.flow.builder import Flow
from water.flow.node import (
    NO_DEFAULT,
    Condition,
    Node,
    Runnable,
    Step,
    callable_name,
    is_async_callable,
    runnable_id,
)
from water.flow.types import input_type, output_type, signal_type

__all__ = [
    "NO_DEFAULT",
    "Condition",
    "Flow",
    "FlowValidationError",
    "Node",
    "Runnable",
    "Step",
    "callable_name",
    "input_type",
    "is_async_callable",
    "output_type",
    "runnable_id",
    "signal_type",
]
