"""Forking an execution: which outputs of the original a fork carries.

A fork (``Engine.fork``) is a new execution of the same definition and input that
runs from one step of the original on. The steps of the original that completed
before that step (in its completion order) are not run again: the fork carries
their outputs, and its interpreter completes them with those outputs when it gets
to them (a flow where the step starts, a code-first workflow where its code calls
it), journaling them as completed.
"""

from __future__ import annotations

from typing import Any

from water.errors import StateConflictError
from water.snapshot import Snapshot
from water.status import StepStatus


def carried_outputs(original: Snapshot, from_step: str) -> dict[str, Any]:
    """The outputs a fork of ``original`` from ``from_step`` carries, by step key, in order.

    ``StateConflictError`` (code ``not_found``) when ``from_step`` is not a step of the
    original; (``conflict``) when a step it would carry was undone by a compensation.
    """
    keys = [s.key for s in original.steps]
    if from_step not in keys:
        shown = ", ".join(repr(k) for k in keys) or "none (no step has started)"
        raise StateConflictError(
            f"execution {original.execution_id!r} has no step {from_step!r}; its steps: {shown}",
            "not_found",
        )
    completed = original.completed_steps
    before = completed[: completed.index(from_step)] if from_step in completed else completed
    undone = [
        c.key for c in original.compensation if c.key in before and c.status != StepStatus.PENDING
    ]
    if undone:
        raise StateConflictError(
            f"execution {original.execution_id!r} was rolled back: the compensations of "
            f"{undone} ran, so a fork from {from_step!r} would carry outputs whose effects were "
            "undone; fork it from its first step instead (or from one before them)"
        )
    return {key: original.step_outputs.get(key) for key in before}
