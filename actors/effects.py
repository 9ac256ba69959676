"""What a coordinator must do after its events are durable.

A decider computes these from its state; the coordinator performs each one once
(it remembers what it already performed, and after a rehydration performs the
effects of the rebuilt state again, which re-dispatches whatever was in flight).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from actors.jobs import StepJob, SupervisorSpec


@dataclass(frozen=True, slots=True)
class Dispatch:
    """Run a step body under the supervisor of its task."""

    ident: tuple[Any, ...]
    """What makes two dispatches the same (step key, attempt, run kind...)."""
    spec: SupervisorSpec
    make_job: Callable[[], StepJob]
    """Builds the job; called only when the dispatch is actually performed."""


@dataclass(frozen=True, slots=True)
class ArmTimer:
    """Deliver ``TimerFired(timer, fire_at)`` to this execution at ``fire_at`` (unix seconds)."""

    timer: str
    fire_at: float

    @property
    def ident(self) -> tuple[Any, ...]:
        return ("timer", self.timer, self.fire_at)


@dataclass(frozen=True, slots=True)
class Route:
    """Send ``message`` to another execution (a child or the parent)."""

    ident: tuple[Any, ...]
    execution_id: str
    message: Any


Effect = Dispatch | ArmTimer | Route
