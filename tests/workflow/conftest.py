"""A harness that drives the code-first interpreter: no threads, no storage, no sleeping.

Step bodies are plain sync functions called in-process when a test says so; time
is a number the test moves; recovery is ``recover`` over the recorded events.
"""

from __future__ import annotations

import random
from typing import Any

import pytest

from actors.coordinator import Wake
from actors.effects import ArmTimer, Dispatch, Route
from actors.jobs import SupervisorSpec
from actors.messages import Signal, Start, StepFailed, StepSucceeded, TimerFired
from supervision import RetryPolicy
from water.interpreter import StoredStream
from water.types import to_json
from water.workflow import WorkflowMachine, as_definition


class Sim:
    """Feeds messages to a WorkflowMachine and records what it asks the runtime to do."""

    def __init__(
        self,
        workflow: Any,
        retry: RetryPolicy | None = None,
        seed: int = 0,
        events: list[Any] | None = None,
        now: float = 1000.0,
    ) -> None:
        definition = as_definition(workflow)
        assert definition is not None
        self.definition = definition
        self.machine = WorkflowMachine(
            definition,
            default_retry=retry or RetryPolicy.none(),
            spec_for=lambda t: SupervisorSpec(t.id),
            rng=random.Random(seed),
        )
        self.events: list[Any] = list(events or [])
        self.now = now
        self.performed: set[Any] = set()
        self.dispatched: list[Dispatch] = []
        self.timers: dict[str, float] = {}
        self.routes: list[Route] = []
        if events:  # a new process: rebuild from the journal, then carry on as recovery does
            self.state = self.machine.recover("ex-1", StoredStream(None, list(events)))
            self._perform()
            self.send(Wake())
        else:
            self.state = self.machine.initial("ex-1")

    # -- driving -----------------------------------------------------------------
    def send(self, message: Any) -> list[Any]:
        events = self.machine.handle(self.state, message, self.now)
        self.events.extend(events)
        self._perform()
        return events

    def _perform(self) -> None:
        for effect in self.machine.effects(self.state, self.performed):
            self.performed.add(effect.ident)
            if isinstance(effect, Dispatch):
                self.dispatched.append(effect)
            elif isinstance(effect, ArmTimer):
                self.timers[effect.timer] = effect.fire_at
            elif isinstance(effect, Route):
                self.routes.append(effect)

    def start(self, value: Any = None) -> list[Any]:
        return self.send(Start(self.definition.id, to_json(value)))

    def crash(self) -> Sim:
        """What a new process rebuilds from the journal (same code unless told otherwise)."""
        return Sim(self.definition, events=self.events, now=self.now)

    def restarted_with(self, workflow: Any, seed: int = 1) -> Sim:
        """A new process running changed code over this journal."""
        return Sim(workflow, events=self.events, now=self.now, seed=seed)

    # -- steps ---------------------------------------------------------------------
    @property
    def keys(self) -> list[str]:
        """Keys of the dispatches so far, in order."""
        return [d.ident[1] for d in self.dispatched]

    def pending(self) -> list[str]:
        """Dispatched runs whose outcome was not reported yet."""
        state = self.state
        return [
            d.ident[1]
            for d in self.dispatched
            if d.ident[1] in state.running and state.steps[d.ident[1]].attempt == d.ident[2]
        ]

    def run(self, key: str) -> list[Any]:
        """Run the dispatched body of ``key`` in-process and report its outcome."""
        dispatch = next(d for d in reversed(self.dispatched) if d.ident[1] == key)
        job = dispatch.make_job()
        try:
            output = job.body()
        except Exception as exc:
            return self.send(StepFailed(key, job.attempt, exc))
        return self.send(StepSucceeded(key, job.attempt, output))

    def run_all(self) -> None:
        """Run dispatched bodies until nothing is left to run."""
        while self.pending():
            self.run(self.pending()[0])

    def succeed(self, key: str, output: Any) -> list[Any]:
        return self.send(StepSucceeded(key, self.state.steps[key].attempt, to_json(output)))

    def fail(self, key: str, error: BaseException) -> list[Any]:
        return self.send(StepFailed(key, self.state.steps[key].attempt, error))

    def fire(self, timer: str) -> list[Any]:
        self.now = max(self.now, self.timers[timer])
        return self.send(TimerFired(timer, self.timers[timer]))

    def signal(self, name: str, payload: Any = None) -> list[Any]:
        return self.send(Signal(name, payload))

    def types(self) -> list[str]:
        return [e.type for e in self.events]


@pytest.fixture
def sim_of():
    return Sim
