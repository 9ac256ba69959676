"""The decider drives sequences and branches; decisions are recorded, never re-made."""

from __future__ import annotations

from pydantic import BaseModel

from water import Flow, task


class Num(BaseModel):
    value: int


@task
def inc(n: Num) -> Num:
    return Num(value=n.value + 1)


@task
def dbl(n: Num) -> Num:
    return Num(value=n.value * 2)


@task
def neg(n: Num) -> Num:
    return Num(value=-n.value)


def test_then_runs_one_step_at_a_time_and_feeds_outputs_forward(sim_of):
    sim = sim_of(Flow("f").then(inc).then(dbl))
    sim.start({"value": 1})
    assert sim.running == ["0.inc"]
    assert [d.ident[1] for d in sim.dispatched] == ["0.inc"]
    sim.succeed("0.inc", {"value": 2})
    assert sim.running == ["1.dbl"]
    assert sim.step("1.dbl").input == {"value": 2}
    sim.succeed("1.dbl", {"value": 4})
    assert sim.state.status == "completed"
    assert sim.state.output == {"value": 4}
    assert sim.types() == [
        "execution_started",
        "step_completed",
        "step_completed",
        "execution_completed",
    ]
    sim.assert_replay_matches()


def test_dispatched_job_runs_the_task_with_a_validated_typed_input(sim_of):
    sim = sim_of(Flow("f").then(inc))
    sim.start({"value": 41})
    job = sim.dispatched[0].make_job()
    assert job.is_async is False
    assert job.body() == {"value": 42}


def test_a_late_or_duplicate_result_is_ignored(sim_of):
    sim = sim_of(Flow("f").then(inc).then(dbl))
    sim.start({"value": 1})
    sim.succeed("0.inc", {"value": 2})
    from actors.messages import RunSucceeded

    assert sim.send(RunSucceeded("0.inc", 1, {"value": 99})) == []
    assert sim.step("1.dbl").input == {"value": 2}


def test_branch_runs_first_matching_case_and_records_the_choice(sim_of):
    calls: list[int] = []

    def big(v: Num) -> bool:
        calls.append(v.value)
        return v.value > 10

    flow = Flow("f").then(inc).branch([[big, dbl], [lambda v: v.value > 0, neg]])
    sim = sim_of(flow)
    sim.start({"value": 1})
    sim.succeed("0.inc", {"value": 2})
    assert sim.running == ["1.neg"]
    decided = [e for e in sim.events if e.type == "branch_decided"]
    assert [(e.node, e.case) for e in decided] == [(1, 1)]
    sim.succeed("1.neg", {"value": -2})
    assert sim.state.output == {"value": -2}
    # replay folds the recorded decision and never calls the condition again
    before = list(calls)
    sim.assert_replay_matches()
    assert calls == before


def test_branch_without_match_passes_the_value_through(sim_of):
    flow = Flow("f").then(inc).branch([[lambda v: v.value > 100, dbl]]).then(inc)
    sim = sim_of(flow)
    sim.start({"value": 1})
    sim.succeed("0.inc", {"value": 2})
    assert sim.running == ["2.inc"]
    assert sim.step("2.inc").input == {"value": 2}


def test_a_condition_that_raises_fails_the_execution_clearly(sim_of):
    def boom(v: Num) -> bool:
        raise ValueError("bad condition")

    sim = sim_of(Flow("f").then(inc).branch([[boom, dbl]]))
    sim.start({"value": 1})
    sim.succeed("0.inc", {"value": 2})
    assert sim.state.status == "failed"
    assert sim.state.error.type == "ValueError"
    assert "bad condition" in sim.state.error.message
