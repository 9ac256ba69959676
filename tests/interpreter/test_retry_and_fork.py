"""Recovery by hand in the flow interpreter: retrying a failed execution, forking one."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from actors.messages import ChildUpdate, CommandRejected, Retry, RetryChild, RunSucceeded, Start
from supervision import FatalError, RetryPolicy
from water import Flow, task
from water.interpreter import dump_state


class Num(BaseModel):
    value: int


def undo(i, o, ctx):
    return None


@task
def inc(n: Num) -> Num:
    return Num(value=n.value + 1)


@task
def dbl(n: Num) -> Num:
    return Num(value=n.value * 2)


@task
def charge(n: Num) -> Num:
    return n


@task(compensate=undo)
def reserve(n: Num) -> Num:
    return n


def failed_at_charge(sim_of, flow: Flow, **options):
    """A simulation of ``flow`` whose step ``1.charge`` failed for good."""
    sim = sim_of(flow, **options)
    sim.start({"value": 1})
    sim.succeed("0.inc", {"value": 2})
    sim.fail("1.charge", FatalError("card declined"))
    assert sim.state.status == "failed"
    return sim


# -- retry ---------------------------------------------------------------------------------
def test_retry_runs_the_failed_step_again_from_attempt_1_and_keeps_completed_ones(sim_of):
    sim = failed_at_charge(sim_of, Flow("f").then(inc).then(charge).then(dbl))
    events = sim.send(Retry())
    assert [e.type for e in events] == ["execution_retried"]
    assert events[0].keys == ["1.charge"]
    assert sim.state.status == "running" and sim.state.error is None
    assert sim.keys == ["0.inc", "1.charge", "1.charge"]  # 0.inc is not dispatched again
    assert sim.step("1.charge").attempt == 1
    assert sim.dispatched[-1].make_job().attempt == 1
    sim.succeed("1.charge", {"value": 2})
    sim.succeed("2.dbl", {"value": 4})
    assert sim.state.status == "completed" and sim.state.output == {"value": 4}
    assert sim.view().failed_steps == []
    sim.assert_replay_matches()
    assert sim.crash().view().output == {"value": 4}


def test_a_retried_step_gets_a_fresh_retry_budget(sim_of):
    policy = RetryPolicy(max_attempts=2, backoff="fixed", delay=1.0)
    sim = sim_of(Flow("f").then(charge), retry=policy)
    sim.start({"value": 1})
    sim.fail("0.charge", ConnectionError("down"))
    sim.fire("retry:0.charge")
    sim.fail("0.charge", ConnectionError("down"))
    assert sim.state.status == "failed" and sim.step("0.charge").attempt == 2
    sim.send(Retry())
    sim.fail("0.charge", ConnectionError("down again"))
    # attempt 1 of the new budget failed: another attempt is scheduled, not a failure
    assert sim.state.status == "running" and sim.timers["retry:0.charge"] == sim.now + 1.0
    sim.fire("retry:0.charge")
    assert sim.step("0.charge").attempt == 2
    sim.succeed("0.charge", {"value": 1})
    assert sim.state.status == "completed"
    sim.assert_replay_matches()


def test_retry_after_a_crash_goes_on_where_the_journal_says(sim_of):
    sim = failed_at_charge(sim_of, Flow("f").then(inc).then(charge))
    rebuilt = sim.crash()
    rebuilt.send(Retry())
    assert rebuilt.running == ["1.charge"] and rebuilt.keys == ["1.charge"]
    rebuilt.succeed("1.charge", {"value": 2})
    assert rebuilt.state.output == {"value": 2}
    assert dump_state(rebuilt.replayed()) == dump_state(rebuilt.state)


def test_retry_runs_the_cancelled_siblings_of_the_failed_step_too(sim_of):
    sim = sim_of(Flow("f").parallel([inc, charge, dbl]))
    sim.start({"value": 1})
    sim.succeed("0.inc", {"value": 2})
    sim.fail("0.charge", FatalError("declined"))  # 0.dbl was still running: cancelled
    assert sim.step("0.dbl").status == "cancelled"
    assert sim.send(Retry())[0].keys == ["0.charge", "0.dbl"]
    assert sorted(sim.running) == ["0.charge", "0.dbl"]
    sim.succeed("0.charge", {"value": 1})
    sim.succeed("0.dbl", {"value": 2})
    assert sim.state.output == [{"value": 2}, {"value": 1}, {"value": 2}]
    sim.assert_replay_matches()


def test_retry_of_a_for_each_reruns_the_failed_item_and_fills_the_rest(sim_of):
    sim = sim_of(Flow("f").for_(charge, concurrency=1))
    sim.start([{"value": 1}, {"value": 2}, {"value": 3}])
    sim.succeed("0.charge[0]", {"value": 1})
    sim.fail("0.charge[1]", FatalError("declined"))
    sim.send(Retry())
    assert sim.running == ["0.charge[1]"]
    sim.succeed("0.charge[1]", {"value": 2})
    sim.succeed("0.charge[2]", {"value": 3})
    assert sim.state.output == [{"value": 1}, {"value": 2}, {"value": 3}]
    sim.assert_replay_matches()


@pytest.mark.parametrize("status", ["running", "completed"])
def test_only_a_failed_execution_can_be_retried(sim_of, status):
    sim = sim_of(Flow("f").then(inc))
    sim.start({"value": 1})
    if status == "completed":
        sim.succeed("0.inc", {"value": 2})
    with pytest.raises(CommandRejected, match=f"cannot retry an execution that is {status}"):
        sim.send(Retry())


def test_a_cancelled_execution_is_not_retried_by_a_user(sim_of):
    sim = sim_of(Flow("f").then(inc))
    sim.start({"value": 1})
    sim.cancel()
    with pytest.raises(CommandRejected, match="that is cancelled"):
        sim.send(Retry())


def test_a_rolled_back_execution_is_not_retried(sim_of):
    sim = sim_of(Flow("saga").then(reserve).then(charge))
    sim.start({"value": 1})
    sim.succeed("0.reserve", {"value": 1})
    sim.fail("1.charge", FatalError("card declined"))
    sim.send(RunSucceeded("0.reserve", 1, None, tag="undo"))
    assert sim.state.status == "failed"
    with pytest.raises(CommandRejected, match=r"rolled back.*\['0.reserve'\]") as refused:
        sim.send(Retry())
    assert refused.value.code == "conflict"


def test_a_failure_outside_any_step_is_not_retried(sim_of):
    def broken(n: Num) -> bool:
        raise ValueError("condition bug")

    sim = sim_of(Flow("f").then(inc).branch([[broken, dbl]]))
    sim.start({"value": 1})
    sim.succeed("0.inc", {"value": 2})
    assert sim.state.status == "failed"
    with pytest.raises(CommandRejected, match="not in a step"):
        sim.send(Retry())


def test_a_retry_under_a_changed_flow_is_refused(sim_of):
    sim = failed_at_charge(sim_of, Flow("f").then(inc).then(charge))
    changed = sim.restarted_with(Flow("f").then(inc).then(charge).then(dbl))
    with pytest.raises(CommandRejected, match=r"changed since .* fork it"):
        changed.send(Retry())


def test_a_retried_parent_retries_its_failed_child_then_starts_it_again(sim_of):
    child = Flow("child").then(inc).then(charge)
    sim = sim_of(Flow("parent").then(child).then(dbl))
    sim.start({"value": 1})
    sim.send(ChildUpdate("0.child", "ex-1/0.child", "failed", error=None))
    assert sim.state.status == "failed"
    sim.send(Retry())
    retry, start = sim.routes[-2:]
    assert (retry.execution_id, retry.message) == ("ex-1/0.child", RetryChild(1))
    assert (start.execution_id, type(start.message)) == ("ex-1/0.child", Start)
    sim.send(ChildUpdate("0.child", "ex-1/0.child", "completed", output={"value": 3}))
    assert sim.running == ["1.dbl"]
    sim.assert_replay_matches()


def test_a_parents_retry_applies_to_a_cancelled_child_once(sim_of):
    sim = sim_of(Flow("child").then(inc).then(charge))
    sim.start({"value": 1})
    sim.succeed("0.inc", {"value": 2})
    sim.cancel()
    with pytest.raises(CommandRejected):
        sim.send(Retry())  # a user does not retry a cancelled execution
    assert [e.type for e in sim.send(RetryChild(1))] == ["execution_retried"]
    assert sim.running == ["1.charge"] and sim.keys == ["0.inc", "1.charge", "1.charge"]
    assert sim.send(RetryChild(1)) == []  # the same retry of the parent, again
    sim.succeed("1.charge", {"value": 2})
    assert sim.state.status == "completed"
    sim.assert_replay_matches()


def test_a_cancelled_child_waiting_on_a_sleep_sleeps_again_when_retried(sim_of):
    sim = sim_of(Flow("child").then(inc).sleep("1m").then(dbl))
    sim.start({"value": 1})
    sim.succeed("0.inc", {"value": 2})
    sim.cancel()
    assert sim.timers  # armed before the cancel
    sim.send(RetryChild(1))
    assert sim.state.status == "waiting"
    sim.fire("sleep:1")
    assert sim.running == ["2.dbl"] and sim.step("2.dbl").input == {"value": 2}
    sim.assert_replay_matches()


# -- fork ------------------------------------------------------------------------------------
def fork_of(sim_of, flow: Flow, carried: dict, value: object = None):
    sim = sim_of(flow, execution_id="fork-1")
    sim.send(Start(flow.id, value, forked_from="ex-1", carried=tuple(carried.items())))
    return sim


def test_a_fork_completes_the_carried_steps_and_runs_from_the_first_other_one(sim_of):
    flow = Flow("f").then(inc).then(charge).then(dbl)
    sim = fork_of(sim_of, flow, {"0.inc": {"value": 2}}, {"value": 1})
    assert sim.types() == ["execution_started", "step_completed"]
    assert sim.keys == ["1.charge"]  # 0.inc was not dispatched
    assert sim.step("1.charge").input == {"value": 2}
    sim.succeed("1.charge", {"value": 5})
    sim.succeed("2.dbl", {"value": 10})
    view = sim.view()
    assert view.output == {"value": 10} and view.forked_from == "ex-1"
    assert view.completed_steps == ["0.inc", "1.charge", "2.dbl"]
    sim.assert_replay_matches()
    assert sim.crash().view().forked_from == "ex-1"


def test_a_fork_carries_fan_outs_loops_and_nested_flows_by_step_key(sim_of):
    inner = Flow("inner").then(inc)
    flow = Flow("f").parallel([inc, dbl]).then(inner).for_(inc).then(charge)
    carried = {
        "0.inc": {"value": 2},
        "0.dbl": {"value": 2},
        "1.inner": [{"value": 7}, {"value": 8}],
        "2.inc[0]": {"value": 8},
    }
    sim = fork_of(sim_of, flow, carried, {"value": 1})
    assert sim.routes == []  # the nested flow's output is carried: no child starts
    assert sim.step("1.inner").child_id is None
    assert sim.keys == ["2.inc[1]"]
    sim.succeed("2.inc[1]", {"value": 9})
    assert sim.step("3.charge").input == [{"value": 8}, {"value": 9}]
    sim.assert_replay_matches()


def test_a_step_of_a_fork_that_is_not_carried_runs(sim_of):
    # a carried key the fork does not reach (another branch) is never used
    flow = Flow("f").branch([[lambda n: n.value > 5, dbl], [lambda n: True, inc]])
    sim = fork_of(sim_of, flow, {"0.dbl": {"value": 99}}, {"value": 1})
    assert sim.keys == ["0.inc"]
    sim.succeed("0.inc", {"value": 2})
    assert sim.view().output == {"value": 2}


def test_a_pause_in_a_fork_settles_like_in_any_execution(sim_of):
    flow = Flow("f").then(inc).then(dbl)
    sim = fork_of(sim_of, flow, {"0.inc": {"value": 2}}, {"value": 1})
    sim.pause()
    sim.send(RunSucceeded("1.dbl", 1, {"value": 4}))
    assert sim.state.status == "paused"
    sim.resume()
    assert sim.state.status == "completed"
    sim.assert_replay_matches()
