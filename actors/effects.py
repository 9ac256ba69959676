"""What a coordinator must do once its events are durable, and where an execution stands.

An interpreter computes effects from its state; the coordinator performs each
one once (it remembers the ``ident`` of what it performed, and after a
rehydration performs the effects of the rebuilt state again, which re-dispatches
whatever was in flight). ``Status`` is how an interpreter tells the runtime where
an execution stands, in the runtime's own terms (``Phase``); its ``label`` is the
interpreter's word for it, handed to status watchers untouched.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from actors.jobs import StepJob, SupervisorSpec


class Phase(enum.Enum):
    """Where an execution stands, as far as the runtime is concerned."""

    NEW = "new"
    """Not started: nothing is durable yet."""
    ACTIVE = "active"
    """Work is in flight or a decision is due: keep its coordinator in memory."""
    IDLE = "idle"
    """Only a message or a timer moves it on: its coordinator may stop (passivate)."""
    DONE = "done"
    """Finished for good: its coordinator stops, waiters get its final view."""


@dataclass(frozen=True, slots=True)
class Status:
    """An execution's status: the interpreter's ``label`` and the runtime's ``phase``."""

    label: str
    phase: Phase


@dataclass(frozen=True, slots=True)
class Dispatch:
    """Run a step body under the supervisor of its task."""

    ident: Hashable
    """What makes two dispatches the same (step key, attempt, run kind...)."""
    spec: SupervisorSpec
    make_job: Callable[[], StepJob]
    """Builds the job; called only when the dispatch is actually performed."""


@dataclass(frozen=True, slots=True)
class ArmTimer:
    """Deliver ``TimerDue(timer, fire_at)`` to this execution at ``fire_at`` (unix seconds)."""

    timer: str
    fire_at: float

    @property
    def ident(self) -> Hashable:
        return ("timer", self.timer, self.fire_at)


@dataclass(frozen=True, slots=True)
class Route:
    """Send ``message`` to another execution (a child, or the parent).

    A ``report`` (a child telling its parent how it stands) is sent again when the
    parent starts the child again: the parent may have lost what it was told.
    """

    ident: Hashable
    execution_id: str
    message: Any
    report: bool = False


@dataclass(frozen=True, slots=True)
class StopRuns:
    """Abandon this execution's runs still in flight (it was cancelled or failed)."""

    @property
    def ident(self) -> Hashable:
        return ("stop-runs",)


@dataclass(frozen=True, slots=True)
class Forward:
    """What ``Interpreter.handle`` answers when another execution must handle a message."""

    execution_id: str
    message: Any


Effect = Dispatch | ArmTimer | Route | StopRuns
