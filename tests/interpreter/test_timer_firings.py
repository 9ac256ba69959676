"""A timer firing counts only for the arming it belongs to (its name and its deadline)."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from actors.messages import RunFailed, TimerDue
from supervision import RetryPolicy
from water import Flow, Task, TaskContext, task


class Num(BaseModel):
    value: int


@task
def inc(n: Num) -> Num:
    return Num(value=n.value + 1)


class Refundable(Task[Num, Num]):
    def __init__(self) -> None:
        super().__init__("refundable", retry=RetryPolicy(max_attempts=3, delay=1))

    def execute(self, input_data: Num, context: TaskContext) -> Num:
        return input_data

    def compensate(self, input_data: Num, output: Num, context: TaskContext) -> None:
        return None


def test_a_late_firing_of_the_previous_back_off_does_not_start_the_next_attempt(sim_of):
    policy = RetryPolicy(max_attempts=4, backoff="exponential", delay=2.0)
    sim = sim_of(Flow("f").then(inc), retry=policy)
    sim.start({"value": 1})
    sim.fail("0.inc", ConnectionError("down"))
    first = sim.timers["retry:0.inc"]
    sim.fire("retry:0.inc")
    assert sim.step("0.inc").attempt == 2
    # the passivated coordinator re-armed the timer that was firing: it fires again
    assert sim.send(TimerDue("retry:0.inc", first)) == []
    sim.fail("0.inc", ConnectionError("down"))
    assert sim.timers["retry:0.inc"] == sim.now + 4.0
    assert sim.send(TimerDue("retry:0.inc", first)) == []
    assert sim.step("0.inc").status == "backoff" and sim.running == []
    assert len(sim.dispatched) == 2
    sim.fire("retry:0.inc")
    assert sim.running == ["0.inc"] and sim.step("0.inc").attempt == 3
    sim.assert_replay_matches()


def test_a_late_firing_of_a_compensation_back_off_is_ignored(sim_of):
    sim = sim_of(Flow("saga").then(Refundable()).then(inc))
    sim.start({"value": 1})
    sim.succeed("0.refundable", {"value": 1})
    sim.fail("1.inc", RuntimeError("no"))
    sim.send(RunFailed("0.refundable", 1, RuntimeError("flaky"), tag="undo"))
    first = sim.timers["comp:0.refundable"]
    sim.fire("comp:0.refundable")
    sim.send(RunFailed("0.refundable", 2, RuntimeError("flaky"), tag="undo"))
    assert sim.send(TimerDue("comp:0.refundable", first)) == []
    assert [d.ident for d in sim.dispatched if d.ident[0] == "undo"] == [
        ("undo", "0.refundable", 1),
        ("undo", "0.refundable", 2),
    ]
    sim.fire("comp:0.refundable")
    assert sim.dispatched[-1].ident == ("undo", "0.refundable", 3)
    sim.assert_replay_matches()


@pytest.mark.parametrize("kind", ["sleep", "signal timeout"])
def test_a_firing_with_another_deadline_than_the_armed_one_is_ignored(sim_of, kind):
    flow = Flow("f").then(inc)
    flow = flow.sleep("5m") if kind == "sleep" else flow.wait_for_signal("go", timeout="5m")
    sim = sim_of(flow.then(inc))
    sim.start({"value": 1})
    sim.succeed("0.inc", {"value": 2})
    [(name, deadline)] = sim.timers.items()
    assert sim.send(TimerDue(name, deadline - 300)) == []
    assert sim.send(TimerDue("wake", deadline)) == []  # a recovery wake-up decides nothing
    assert sim.state.status == "waiting" and sim.state.timers == {name: deadline}
    sim.fire(name)
    assert sim.state.timers == {}
    if kind == "sleep":
        assert sim.running == ["2.inc"]
    else:
        assert sim.state.status == "failed" and sim.state.error.type == "SignalTimeout"
    sim.assert_replay_matches()
