"""Execution statistics over the stored history (``Engine.stats``, ``water stats``).

Every storage computes them where the rows are: the SQL storages in one query per
figure (``water.storage.sql.statements``), ``MemoryStorage`` in Python with the same
definitions, so that the three agree on the same history:

* ``counts``: executions by status (every status, zeros included).
* ``steps``: by task id, over the step rows (``task_results``, one per step key: a
  ``for_`` item or a retried step is one step):

  - ``count``: steps, whatever their status;
  - ``failures``: steps that failed for good;
  - ``retries``: attempts after the first (a step that succeeded at its third
    attempt has two);
  - ``p50_ms``, ``p95_ms``: percentiles of the duration of the steps that completed
    (their last attempt, from its start to its result), interpolated linearly
    between the two nearest durations (PostgreSQL's ``percentile_cont``); None when
    no step of the task completed.

Step rows are written with the execution's checkpoints, which are always taken when
an execution waits or finishes: the steps of an execution that is running may lag
behind its last steps (``counts`` never does).
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel, Field

from water.status import ExecutionStatus

__all__ = ["PERCENTILES", "ExecutionStats", "StepStats", "percentile", "zero_counts"]

PERCENTILES = (50, 95)
"""The percentiles ``StepStats`` reports (whole percents, so SQL computes them exactly)."""


class StepStats(BaseModel):
    """The steps of one task."""

    count: int = Field(description="Steps of this task (one per step key).")
    failures: int = Field(description="Steps that failed for good.")
    retries: int = Field(description="Attempts after the first, over all steps.")
    p50_ms: float | None = Field(
        default=None, description="Median duration of the completed steps, in milliseconds."
    )
    p95_ms: float | None = Field(
        default=None, description="95th percentile of the completed steps' durations (ms)."
    )


class ExecutionStats(BaseModel):
    """Executions by status and steps by task, over the stored history."""

    flow_id: str | None = Field(default=None, description="The flow counted (None: every flow).")
    counts: dict[ExecutionStatus, int] = Field(description="Executions by status.")
    steps: dict[str, StepStats] = Field(description="Steps by task id.")

    @property
    def total(self) -> int:
        """How many executions were counted."""
        return sum(self.counts.values())


def zero_counts() -> dict[ExecutionStatus, int]:
    """A count of 0 for every status, in the enum's order."""
    return dict.fromkeys(ExecutionStatus, 0)


def percentile(values: Iterable[float], percent: int) -> float | None:
    """The ``percent``-th percentile with linear interpolation (``percentile_cont``).

    The position in the sorted values is ``(n - 1) * percent / 100``: its whole part
    and remainder are computed on integers, as the SQL storages do.
    """
    ordered = sorted(values)
    if not ordered:
        return None
    low, rest = divmod((len(ordered) - 1) * percent, 100)
    value = ordered[low]
    if rest:
        value += rest / 100 * (ordered[low + 1] - value)
    return value
