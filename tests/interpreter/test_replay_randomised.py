"""Random flows, random interleavings: folding the journal always rebuilds the live state.

Each seed builds a flow where branches and loops follow parallel and for_ stages (so
their conditions get typed lists), then drives it through random completions,
retried failures, timer firings and pauses. After every message the state rebuilt
from the events alone, and from a checkpoint plus the events after it, must equal
the live one; the output must not depend on the interleaving.
"""

from __future__ import annotations

import random
from typing import Any

import pytest
from pydantic import BaseModel

from actors.messages import Pause, Resume, RunFailed, RunSucceeded
from supervision import RetryPolicy
from water import Flow, task
from water.interpreter import dump_state, evolve, load_state
from water.types import to_json, validate

SEEDS = range(40)
POLICY = RetryPolicy(max_attempts=3, backoff="fixed", delay=5)


class Num(BaseModel):
    value: int


@task
def inc(n: Num) -> Num:
    return Num(value=n.value + 1)


@task
def dbl(n: Num) -> Num:
    return Num(value=n.value * 2 % 50)


@task
def spread(n: Num) -> list[Num]:
    return [Num(value=n.value + i) for i in range(n.value % 4)]


@task
def total(xs: list[Num]) -> Num:
    return Num(value=sum(x.value for x in xs) % 50)


@task
def grow(xs: list[Num]) -> list[Num]:
    return [*xs, Num(value=len(xs))]


@task
def trim(xs: list[Num]) -> list[Num]:
    return xs[1:]


def typed_list(xs: Any) -> list[Num]:
    """Conditions after parallel/for_ get a list of models, never raw JSON."""
    assert isinstance(xs, list) and all(isinstance(x, Num) for x in xs), xs
    return xs


def typed_num(n: Any) -> Num:
    assert isinstance(n, Num), n
    return n


def typed_outputs(v: Any) -> list[Any]:
    """A parallel of [inc, dbl, spread] gives [Num, Num, list[Num]]."""
    assert isinstance(v, list) and len(v) == 3, v
    typed_num(v[0]), typed_num(v[1]), typed_list(v[2])
    return v


def always(xs: Any) -> bool:
    typed_list(xs)
    return True


@task
def pick(v: list[Any]) -> list[Any]:
    return v[2:]


@task
def flatten(v: list[Any]) -> list[Num]:
    out: list[Num] = []
    for x in v:
        out.extend(Num.model_validate(i) for i in x) if isinstance(x, list) else out.append(
            Num.model_validate(x)
        )
    return out


def random_flow(seed: int) -> Flow:
    rng = random.Random(seed)
    flow = Flow(f"random-{seed}")
    is_list = False
    limit = rng.randint(2, 6)
    for _ in range(rng.randint(3, 7)):
        if not is_list:
            choice = rng.choice(["then", "parallel", "spread", "branch", "while"])
            if choice == "then":
                flow.then(rng.choice([inc, dbl]))
            elif choice == "branch":
                flow.branch([[lambda n: typed_num(n).value % 2 == 0, inc], [lambda n: True, dbl]])
            elif choice == "while":
                flow.while_(lambda n, k=limit: typed_num(n).value < 5 * k, inc, max_iterations=100)
            elif choice == "spread":
                flow.then(spread)
                is_list = True
            else:  # conditions right after a parallel get its typed outputs
                flow.parallel([inc, dbl, spread])
                flow.branch([[lambda v: len(typed_outputs(v)[2]) > 1, pick]])
                flow.then(flatten)
                is_list = True
            continue
        choice = rng.choice(["for", "total", "branch", "while"])
        if choice == "for":
            flow.for_(rng.choice([inc, dbl]), concurrency=rng.choice([None, 1, 2]))
            # a condition right after a for_ gets its typed results
            if rng.random() < 0.5:
                flow.branch([[lambda xs: len(typed_list(xs)) % 2 == 1, grow], [always, trim]])
            else:
                flow.while_(lambda xs, k=limit: len(typed_list(xs)) < k, grow, max_iterations=100)
        elif choice == "total":
            flow.then(total)
            is_list = False
        elif choice == "branch":
            flow.branch([[lambda xs: len(typed_list(xs)) % 2 == 1, grow], [always, trim]])
        else:
            flow.while_(lambda xs, k=limit: len(typed_list(xs)) < k, grow, max_iterations=100)
    return flow.then(total) if is_list else flow


def body_output(flow: Flow, step: Any) -> Any:
    runnable = flow.nodes[step.node].runnables[step.slot]
    return to_json(runnable(validate(runnable.input_model, step.input)))


class Driver:
    def __init__(self, sim_of: Any, flow: Flow, rng: random.Random) -> None:
        self.sim = sim_of(flow, retry=POLICY)
        self.flow = flow
        self.rng = rng
        self.checkpoint: tuple[dict[str, Any], int] | None = None

    def act(self) -> None:
        sim, rng = self.sim, self.rng
        sim.now += rng.random()
        status = sim.state.status
        if status in ("pausing", "paused") and (not sim.running or rng.random() < 0.3):
            sim.send(Resume())
        elif status == "running" and rng.random() < 0.05:
            sim.send(Pause())
        elif sim.running and (not sim.state.timers or rng.random() < 0.8):
            step = sim.step(rng.choice(sim.running))
            if step.attempt < POLICY.max_attempts and rng.random() < 0.25:
                sim.send(RunFailed(step.key, step.attempt, ConnectionError("flaky")))
            else:
                sim.send(RunSucceeded(step.key, step.attempt, body_output(self.flow, step)))
        elif sim.state.timers:
            sim.fire(rng.choice(sorted(sim.state.timers)))
        if self.checkpoint is None and rng.random() < 0.2:
            self.checkpoint = (dump_state(sim.state), len(sim.events))

    def check_replay(self) -> None:
        sim = self.sim
        live = dump_state(sim.state)
        assert dump_state(sim.replayed()) == live
        if self.checkpoint is not None:
            saved, upto = self.checkpoint
            state = load_state(saved)
            for event in sim.events[upto:]:
                evolve(self.flow, state, event)
            assert dump_state(state) == live


def run_to_end(sim_of: Any, flow: Flow, value: int, seed: int) -> Any:
    driver = Driver(sim_of, flow, random.Random(seed))
    driver.sim.start({"value": value})
    for _ in range(2000):
        if driver.sim.state.status in ("completed", "failed", "cancelled"):
            break
        driver.act()
        driver.check_replay()
    state = driver.sim.state
    assert state.status == "completed", state.error
    return state.output


@pytest.mark.parametrize("seed", SEEDS)
def test_replay_equals_the_live_state_for_random_flows_and_interleavings(sim_of, seed):
    flow = random_flow(seed).validate()
    assert any(n.kind in ("branch", "while") for n in flow.nodes)
    outputs = [run_to_end(sim_of, flow, seed % 7 + 1, seed * 1000 + k) for k in range(3)]
    assert outputs[0] == outputs[1] == outputs[2]
