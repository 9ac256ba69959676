"""Saga rollback decisions: reverse completion order, retries, a report."""

from __future__ import annotations

from pydantic import BaseModel

from actors.messages import RunFailed, RunSucceeded
from supervision import RetryPolicy
from water import Flow, Task, TaskContext, task


class Num(BaseModel):
    value: int


def undo(i, o, ctx):
    return None


@task(compensate=undo)
def reserve(n: Num) -> Num:
    return n


@task(compensate=undo)
def charge(n: Num) -> Num:
    return n


@task
def notify(n: Num) -> Num:
    return n


@task
def ship(n: Num) -> Num:
    return n


class Refundable(Task[Num, Num]):
    def __init__(self) -> None:
        super().__init__("refundable", retry=RetryPolicy(max_attempts=2, delay=1))

    def execute(self, input_data: Num, context: TaskContext) -> Num:
        return input_data

    def compensate(self, input_data: Num, output: Num, context: TaskContext) -> None:
        return None


def test_compensations_run_in_reverse_completion_order_then_the_execution_fails(sim_of):
    sim = sim_of(Flow("saga").then(reserve).then(notify).then(charge).then(ship))
    sim.start({"value": 1})
    for key in ("0.reserve", "1.notify", "2.charge"):
        sim.succeed(key, {"value": 1})
    sim.fail("3.ship", RuntimeError("carrier down"))
    comp = sim.state.compensation
    assert comp is not None and comp.keys == ["2.charge", "0.reserve"]
    assert sim.state.status == "running"
    undo_jobs = [d for d in sim.dispatched if d.ident[0] == "undo"]
    assert [d.ident[1] for d in undo_jobs] == ["2.charge"]
    assert undo_jobs[0].make_job().tag == "undo"
    sim.send(RunSucceeded("2.charge", 1, None, tag="undo"))
    sim.send(RunSucceeded("0.reserve", 1, None, tag="undo"))
    assert sim.state.status == "failed"
    assert sim.state.error.type == "RuntimeError" and sim.state.error.step == "3.ship"
    view = sim.view()
    assert [(c.key, c.status) for c in view.compensation] == [
        ("2.charge", "completed"),
        ("0.reserve", "completed"),
    ]
    sim.assert_replay_matches()


def test_a_failing_compensation_is_retried_then_reported_and_rollback_goes_on(sim_of):
    sim = sim_of(Flow("saga").then(Refundable()).then(reserve).then(ship))
    sim.start({"value": 1})
    sim.succeed("0.refundable", {"value": 1})
    sim.succeed("1.reserve", {"value": 1})
    sim.fail("2.ship", RuntimeError("no"))
    sim.send(RunFailed("1.reserve", 1, RuntimeError("undo failed"), tag="undo"))
    # reserve has no retry policy of its own: the rollback moves on
    assert sim.state.compensation.index == 1
    sim.send(RunFailed("0.refundable", 1, RuntimeError("flaky"), tag="undo"))
    assert "comp:0.refundable" in sim.timers
    sim.fire("comp:0.refundable")
    assert sim.dispatched[-1].ident == ("undo", "0.refundable", 2)
    sim.send(RunSucceeded("0.refundable", 2, None, tag="undo"))
    view = sim.view()
    report = {c.key: (c.status, c.attempts) for c in view.compensation}
    assert report == {"1.reserve": ("failed", 1), "0.refundable": ("completed", 2)}
    assert sim.state.status == "failed"
    assert sim.state.error.message == "no"
    sim.assert_replay_matches()


def test_without_compensations_the_failure_is_immediate(sim_of):
    sim = sim_of(Flow("plain").then(notify).then(ship))
    sim.start({"value": 1})
    sim.succeed("0.notify", {"value": 1})
    sim.fail("1.ship", RuntimeError("no"))
    assert sim.state.status == "failed" and sim.state.compensation is None
