"""parallel, for_ and while_ in the decider."""

from __future__ import annotations

from pydantic import BaseModel

from water import Flow, task
from water.interpreter import dump_state, load_state


class Num(BaseModel):
    value: int


class Batch(BaseModel):
    label: str
    items: list[Num]


@task
def inc(n: Num) -> Num:
    return Num(value=n.value + 1)


@task
def dbl(n: Num) -> Num:
    return Num(value=n.value * 2)


@task
def make_batch(n: Num) -> Batch:
    return Batch(label="b", items=[Num(value=i) for i in range(n.value)])


def test_parallel_outputs_follow_declared_order_not_completion_order(sim_of):
    sim = sim_of(Flow("f").parallel([inc, dbl]))
    sim.start({"value": 5})
    assert sorted(sim.running) == ["0.dbl", "0.inc"]
    sim.succeed("0.dbl", {"value": 10})
    assert sim.state.status == "running"
    sim.succeed("0.inc", {"value": 6})
    assert sim.state.output == [{"value": 6}, {"value": 10}]
    sim.assert_replay_matches()


def test_for_respects_concurrency_and_keeps_item_order(sim_of):
    sim = sim_of(Flow("f").for_(inc, concurrency=2))
    sim.start([{"value": i} for i in range(5)])
    assert sim.running == ["0.inc[0]", "0.inc[1]"]
    sim.succeed("0.inc[1]", {"value": 2})
    assert sim.running == ["0.inc[0]", "0.inc[2]"]
    sim.succeed("0.inc[2]", {"value": 3})
    sim.succeed("0.inc[0]", {"value": 1})
    assert len(sim.running) == 2
    for key in list(sim.running):
        sim.succeed(key, {"value": sim.step(key).input["value"] + 1})
    for key in list(sim.running):
        sim.succeed(key, {"value": sim.step(key).input["value"] + 1})
    assert sim.state.status == "completed"
    assert sim.state.output == [{"value": i + 1} for i in range(5)]
    assert max(len(s) for s in [sim.running]) == 0
    sim.assert_replay_matches()


def test_for_takes_the_single_list_field_of_a_model(sim_of):
    sim = sim_of(Flow("f").then(make_batch).for_(dbl))
    sim.start({"value": 3})
    sim.succeed("0.make_batch", {"label": "b", "items": [{"value": i} for i in range(3)]})
    assert sim.running == ["1.dbl[0]", "1.dbl[1]", "1.dbl[2]"]


def test_for_over_an_empty_list_outputs_an_empty_list(sim_of):
    sim = sim_of(Flow("f").for_(inc))
    sim.start([])
    assert sim.state.status == "completed"
    assert sim.state.output == []


def test_for_over_a_non_list_fails_with_a_clear_error(sim_of):
    sim = sim_of(Flow("f").then(inc).for_(dbl))
    sim.start({"value": 1})
    sim.succeed("0.inc", {"value": 2})
    assert sim.state.status == "failed"
    assert "needs a list" in sim.state.error.message


def test_while_feeds_output_back_until_the_condition_fails(sim_of):
    sim = sim_of(Flow("f").while_(lambda v: v.value < 10, dbl, max_iterations=10))
    sim.start({"value": 3})
    assert sim.running == ["0.dbl#0"]
    sim.succeed("0.dbl#0", {"value": 6})
    assert sim.running == ["0.dbl#1"]
    sim.succeed("0.dbl#1", {"value": 12})
    assert sim.state.status == "completed"
    assert sim.state.output == {"value": 12}
    loops = [(e.iteration, e.proceed) for e in sim.events if e.type == "loop_decided"]
    assert loops == [(0, True), (1, True), (2, False)]
    sim.assert_replay_matches()


def test_while_that_never_runs_passes_the_value_through(sim_of):
    sim = sim_of(Flow("f").while_(lambda v: v.value < 0, dbl).then(inc))
    sim.start({"value": 3})
    assert sim.running == ["1.inc"]
    assert sim.step("1.inc").input == {"value": 3}


def test_while_beyond_max_iterations_fails(sim_of):
    sim = sim_of(Flow("f").while_(lambda v: True, inc, max_iterations=2))
    sim.start({"value": 0})
    sim.succeed("0.inc#0", {"value": 1})
    sim.succeed("0.inc#1", {"value": 2})
    assert sim.state.status == "failed"
    assert sim.state.error.type == "LoopLimitExceeded"
    assert "max_iterations=2" in sim.state.error.message


def test_a_checkpoint_plus_later_events_rebuilds_the_same_state(sim_of):
    from actors.protocols import Stored

    sim = sim_of(Flow("f").for_(inc, concurrency=3))
    sim.start([{"value": i} for i in range(6)])
    sim.succeed("0.inc[0]", {"value": 1})
    cut = len(sim.events)
    checkpoint = dump_state(sim.state)
    sim.succeed("0.inc[2]", {"value": 3})
    sim.succeed("0.inc[1]", {"value": 2})
    stored = Stored("f", checkpoint, sim.events[cut:], len(sim.events))
    rebuilt = sim.machine.restore("ex-1", stored)
    assert dump_state(rebuilt) == dump_state(sim.state)
    assert load_state(dump_state(sim.state)).running == sim.state.running
