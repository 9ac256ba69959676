"""Code-first workflows: plain async Python run durably by deterministic replay.

::

    @workflow(id="orders", version="2")
    async def orders(order: Order) -> Receipt:
        receipt = await charge(order)          # a durable step
        await sleep("10m")                     # a durable timer
        return receipt

``WorkflowMachine`` is their interpreter (a decider like ``FlowMachine``):
every call the code makes is journaled by position, and after a crash or a
passivation the code runs again with each recorded call answered from the
journal.
"""

from water.definition import as_definition
from water.workflow.api import now, patched, random, sleep, uuid4, wait_for_signal
from water.workflow.definition import (
    Workflow,
    WorkflowContext,
    WorkflowDefinition,
    step,
    workflow,
)
from water.workflow.errors import NonDeterminismError, NotDurableError, SignalTimeoutError
from water.workflow.loop import WorkflowLoop
from water.workflow.machine import WorkflowMachine

__all__ = [
    "NonDeterminismError",
    "NotDurableError",
    "SignalTimeoutError",
    "Workflow",
    "WorkflowContext",
    "WorkflowDefinition",
    "WorkflowLoop",
    "WorkflowMachine",
    "as_definition",
    "now",
    "patched",
    "random",
    "sleep",
    "step",
    "uuid4",
    "wait_for_signal",
    "workflow",
]
