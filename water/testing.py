"""Test a flow, a Dag or a code-first workflow without threads, storage or waiting.

``Simulator`` drives the same interpreter the engine runs, one message at a time,
and records what it asks the runtime to do (steps to run, timers to arm, messages
for other executions) instead of doing it. Step outcomes, timers and signals are
whatever the test says, whenever it says; time is a number the test moves::

    from water.testing import Simulator

    sim = Simulator(orders_flow)
    sim.start({"order_id": "A-1", "amount": 40})
    assert sim.running == ["0.reserve"]
    sim.run("0.reserve")                      # runs the real body, in this thread
    sim.fail("1.charge", ConnectionError())   # or say what happened
    sim.fire("retry:1.charge")                # the retry's timer comes due
    assert sim.status == "running"
    rebuilt = sim.crash()                     # what a new process rebuilds from the journal

Nothing here sleeps or starts a thread, so such tests are fast and deterministic.
"""

from __future__ import annotations

import random
from collections.abc import Hashable
from typing import Any

from actors.effects import ArmTimer, Dispatch, Forward, Phase, Route
from actors.jobs import SupervisorSpec
from actors.messages import (
    Cancel,
    Pause,
    Resume,
    RunFailed,
    RunSucceeded,
    Signal,
    Start,
    TimerDue,
    Wake,
)
from actors.protocols import Interpreter, Stored
from supervision import RetryPolicy
from water.definition import as_definition
from water.interpreters import interpreter_for
from water.snapshot import Snapshot
from water.task import Task
from water.types import to_json

__all__ = ["Simulator"]


def _interpreter(definition: Any, retry: RetryPolicy, seed: int) -> Interpreter:
    def spec_for(task: Task[Any, Any]) -> SupervisorSpec:
        return SupervisorSpec(task.id)

    found = as_definition(definition)
    if found is None:
        raise TypeError(f"a Flow, a Dag or a code-first workflow is needed, got {definition!r}")
    return interpreter_for(found, default_retry=retry, spec_for=spec_for, rng=random.Random(seed))


class Simulator:
    """Drives one execution of ``definition`` (a ``Flow``, a ``Dag`` or a ``@workflow``) by hand.

    ``retry``: the default retry policy (as ``Engine(retry=...)``); ``seed``: the
    random source of retry jitter and recorded values; ``events``: start from this
    journal instead (as a new process recovering it would); ``now``: the clock.
    """

    def __init__(
        self,
        definition: Any,
        retry: RetryPolicy | None = None,
        seed: int = 0,
        *,
        events: list[Any] | None = None,
        now: float = 1000.0,
        execution_id: str = "ex-1",
    ) -> None:
        self.definition = definition
        self.definition_id: str = getattr(as_definition(definition) or definition, "id", "")
        self.retry = retry or RetryPolicy.none()
        self.interpreter: Any = _interpreter(definition, self.retry, seed)
        self.execution_id = execution_id
        self.events: list[Any] = list(events or [])
        self.now = now
        self.performed: set[Hashable] = set()
        self.dispatched: list[Dispatch] = []
        self.timers: dict[str, float] = {}
        self.routes: list[Route] = []
        self.forwarded: list[Forward] = []
        stored = self._stored(self.events) if events else None
        self.state: Any = self.interpreter.restore(execution_id, stored)
        if events:  # carry on as a recovering engine does
            self._perform()
            self.send(Wake())

    @property
    def machine(self) -> Any:
        """The interpreter (``FlowMachine`` or ``WorkflowMachine``)."""
        return self.interpreter

    def _stored(self, events: list[Any]) -> Stored:
        return Stored(self.definition_id, None, list(events), len(events))

    # -- driving -----------------------------------------------------------------------
    def send(self, message: Any) -> list[Any]:
        """Handle ``message`` as the execution's coordinator would; return the new events."""
        handled = self.interpreter.handle(self.state, message, self.now)
        if isinstance(handled, Forward):
            self.forwarded.append(handled)
            return []
        self.events.extend(handled)
        self._perform()
        return list(handled)

    def _perform(self) -> None:
        for effect in self.interpreter.effects(self.state, self.performed):
            self.performed.add(effect.ident)
            if isinstance(effect, Dispatch):
                self.dispatched.append(effect)
            elif isinstance(effect, ArmTimer):
                self.timers[effect.timer] = effect.fire_at
            elif isinstance(effect, Route):
                self.routes.append(effect)

    def start(self, value: Any = None) -> list[Any]:
        return self.send(Start(self.definition_id, to_json(value)))

    def pause(self) -> list[Any]:
        return self.send(Pause())

    def resume(self, data: Any = None, step: str | None = None) -> list[Any]:
        return self.send(Resume(data, step))

    def cancel(self, reason: str | None = None) -> list[Any]:
        return self.send(Cancel(reason))

    def signal(self, name: str, payload: Any = None) -> list[Any]:
        return self.send(Signal(name, payload))

    # -- steps ---------------------------------------------------------------------------
    @property
    def running(self) -> list[str]:
        """Keys of the steps in flight."""
        return list(self.state.running)

    def step(self, key: str) -> Any:
        return self.state.steps[key]

    @property
    def keys(self) -> list[str]:
        """Keys of the dispatches so far, in order."""
        return [d.ident[1] for d in self.dispatched]  # type: ignore[index]

    def pending(self) -> list[str]:
        """Dispatched runs whose outcome was not reported yet."""
        state = self.state
        return [
            d.ident[1]  # type: ignore[index]
            for d in self.dispatched
            if d.ident[1] in state.running  # type: ignore[index]
            and state.steps[d.ident[1]].attempt == d.ident[2]  # type: ignore[index]
        ]

    def succeed(self, key: str, output: Any) -> list[Any]:
        """The step's current attempt returned ``output``."""
        return self.send(RunSucceeded(key, self.step(key).attempt, to_json(output)))

    def fail(self, key: str, error: BaseException) -> list[Any]:
        """The step's current attempt raised ``error``."""
        return self.send(RunFailed(key, self.step(key).attempt, error))

    def run(self, key: str) -> list[Any]:
        """Run the latest dispatched body of ``key`` in this thread and report its outcome.

        An ``async def`` body is run to completion on a private event loop.
        """
        import asyncio

        dispatch = next(d for d in reversed(self.dispatched) if d.ident[1] == key)  # type: ignore[index]
        job = dispatch.make_job()
        try:
            output = job.body()
            if job.is_async:
                output = asyncio.run(output)
        except Exception as exc:
            return self.send(RunFailed(key, job.attempt, exc, job.tag))
        return self.send(RunSucceeded(key, job.attempt, output, job.tag))

    def run_all(self) -> None:
        """Run dispatched bodies until nothing is left to run."""
        while self.pending():
            self.run(self.pending()[0])

    def fire(self, timer: str) -> list[Any]:
        """The timer comes due (the clock moves to its deadline if it is behind)."""
        self.now = max(self.now, self.timers[timer])
        return self.send(TimerDue(timer, self.timers[timer]))

    # -- looking -------------------------------------------------------------------------
    @property
    def status(self) -> str:
        return str(self.interpreter.status(self.state).label)

    @property
    def idle(self) -> bool:
        """Only a message or a timer moves the execution on (the engine would passivate it)."""
        return bool(self.interpreter.status(self.state).phase is Phase.IDLE)

    def view(self, detail: bool = True) -> Snapshot:
        snapshot: Snapshot = self.interpreter.view(self.state, detail)
        return snapshot

    def types(self) -> list[str]:
        """The types of the journaled events, in order."""
        return [e.type for e in self.events]

    def replayed(self) -> Any:
        """The state rebuilt from the recorded events alone."""
        return self.interpreter.restore(self.execution_id, self._stored(self.events))

    def crash(self) -> Simulator:
        """What a new process rebuilds from the journal, and carries on with."""
        return Simulator(
            self.definition,
            self.retry,
            events=self.events,
            now=self.now,
            execution_id=self.execution_id,
        )

    def restarted_with(self, definition: Any, seed: int = 1) -> Simulator:
        """A new process running changed code over this journal."""
        return Simulator(
            definition,
            self.retry,
            seed,
            events=self.events,
            now=self.now,
            execution_id=self.execution_id,
        )
