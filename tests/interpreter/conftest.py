"""A harness that drives the pure decider: no threads, no storage, no sleeping."""

from __future__ import annotations

import random
from typing import Any

import pytest

from actors.effects import ArmTimer, Dispatch, Route
from actors.jobs import SupervisorSpec
from actors.messages import Start, StepFailed, StepSucceeded, TimerFired
from supervision import RetryPolicy
from water.flow import Flow
from water.interpreter import ExecState, FlowMachine, StoredStream, dump_state


class Sim:
    """Feeds messages to a FlowMachine and records what it asks the runtime to do."""

    def __init__(self, flow: Flow, retry: RetryPolicy | None = None, seed: int = 0) -> None:
        self.flow = flow
        self.machine = FlowMachine(
            flow,
            default_retry=retry or RetryPolicy.none(),
            spec_for=lambda t: SupervisorSpec(t.id),
            rng=random.Random(seed),
        )
        self.state: ExecState = self.machine.initial("ex-1")
        self.performed: set[Any] = set()
        self.events: list[Any] = []
        self.dispatched: list[Dispatch] = []
        self.timers: dict[str, float] = {}
        self.routes: list[Route] = []
        self.now = 1000.0

    def send(self, message: Any) -> list[Any]:
        events = self.machine.handle(self.state, message, self.now)
        self.events.extend(events)
        for effect in self.machine.effects(self.state, self.performed):
            self.performed.add(effect.ident)
            if isinstance(effect, Dispatch):
                self.dispatched.append(effect)
            elif isinstance(effect, ArmTimer):
                self.timers[effect.timer] = effect.fire_at
            elif isinstance(effect, Route):
                self.routes.append(effect)
        return events

    def start(self, value: Any) -> list[Any]:
        return self.send(Start(self.flow.id, value))

    # -- helpers -----------------------------------------------------------------
    @property
    def running(self) -> list[str]:
        return list(self.state.running)

    def step(self, key: str) -> Any:
        return self.state.steps[key]

    def succeed(self, key: str, output: Any) -> list[Any]:
        return self.send(StepSucceeded(key, self.step(key).attempt, output))

    def fail(self, key: str, error: BaseException) -> list[Any]:
        return self.send(StepFailed(key, self.step(key).attempt, error))

    def fire(self, timer: str) -> list[Any]:
        self.now = max(self.now, self.timers[timer])
        return self.send(TimerFired(timer, self.timers[timer]))

    def types(self) -> list[str]:
        return [e.type for e in self.events]

    def replayed(self) -> ExecState:
        """The state rebuilt from the recorded events alone."""
        return self.machine.recover("ex-1", StoredStream(None, list(self.events)))

    def assert_replay_matches(self) -> None:
        assert dump_state(self.replayed()) == dump_state(self.state)


@pytest.fixture
def sim_of():
    return Sim
