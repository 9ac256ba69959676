"""Recovery by hand in the code-first replayer: retrying a failed execution, forking one."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel

import water
from actors.messages import ChildUpdate, CommandRejected, Retry, RetryChild, Start
from supervision import FatalError
from water import StepError, task, workflow


class Num(BaseModel):
    value: int


@task
def add_one(n: Num) -> Num:
    return Num(value=n.value + 1)


@task
def charge(n: Num) -> Num:
    return n


@task
def fallback(n: Num) -> Num:
    return n


@workflow(id="chain")
async def chain(n: Num) -> Num:
    a = await add_one(n)
    stamp = water.uuid4()  # a decision before the failing step: replayed, not drawn again
    b = await charge(a)
    assert stamp
    return await add_one(b)


@workflow(id="careful")
async def careful(n: Num) -> Num:
    try:
        a = await charge(n)
    except StepError:
        a = await fallback(n)  # a failure the code handles
    return await add_one(a)


@workflow(id="fan")
async def fan(n: Num) -> list[Num]:
    return list(await asyncio.gather(add_one(n), charge(n)))


@workflow(id="strict")
async def strict(n: Num) -> Num:
    a = await add_one(n)
    if a.value > 1:
        raise ValueError("the workflow's own rule")
    return a


@workflow(id="parent")
async def parent(n: Num) -> Num:
    a = await add_one(n)
    return await chain(a)


def failed_chain(sim_of):
    sim = sim_of(chain)
    sim.start(Num(value=1))
    sim.succeed("0.add_one", {"value": 2})
    sim.fail("2.charge", FatalError("card declined"))
    assert sim.state.status == "failed"
    return sim


def test_retry_replays_the_code_and_runs_the_failed_step_again(sim_of):
    sim = failed_chain(sim_of)
    events = sim.send(Retry())
    assert [e.type for e in events] == ["execution_retried"]
    assert events[0].keys == ["2.charge"]
    assert sim.state.status == "running"
    assert sim.keys == ["0.add_one", "2.charge", "2.charge"]  # 0.add_one not again
    assert sim.step("2.charge").attempt == 1
    sim.succeed("2.charge", {"value": 2})
    sim.succeed("3.add_one", {"value": 3})
    view = sim.view()
    assert view.status == "completed" and view.output == {"value": 3}
    assert view.failed_steps == []
    assert sim.types().count("value_recorded") == 1  # the uuid was replayed, not drawn
    rebuilt = sim.crash()
    assert rebuilt.view().output == {"value": 3}
    assert rebuilt.view().completed_steps == view.completed_steps


def test_a_retried_execution_that_is_recovered_goes_on(sim_of):
    sim = failed_chain(sim_of)
    sim.send(Retry())
    rebuilt = sim.crash()  # the retried step is in flight when the process dies
    assert rebuilt.running == ["2.charge"]
    rebuilt.succeed("2.charge", {"value": 2})
    rebuilt.succeed("3.add_one", {"value": 3})
    assert rebuilt.view().output == {"value": 3}


def test_a_retry_keeps_the_failures_the_code_handled(sim_of):
    sim = sim_of(careful)
    sim.start(Num(value=1))
    sim.fail("0.charge", FatalError("declined"))  # handled: the code takes its fallback
    sim.succeed("1.fallback", {"value": 1})
    sim.fail("2.add_one", FatalError("broken"))
    events = sim.send(Retry())
    assert events[0].keys == ["2.add_one"]
    assert sim.running == ["2.add_one"]  # replay took the same path: no divergence
    sim.succeed("2.add_one", {"value": 2})
    assert sim.view().output == {"value": 2}


def test_a_retry_runs_the_steps_cancelled_by_the_failure_too(sim_of):
    sim = sim_of(fan)
    sim.start(Num(value=1))
    sim.fail("1.charge", FatalError("declined"))  # 0.add_one was in flight
    assert sim.state.status == "failed"
    sim.send(Retry())
    assert sorted(sim.running) == ["0.add_one", "1.charge"]
    sim.succeed("0.add_one", {"value": 2})
    sim.succeed("1.charge", {"value": 1})
    assert sim.view().output == [{"value": 2}, {"value": 1}]


def test_a_failure_of_the_code_itself_is_not_retried(sim_of):
    sim = sim_of(strict)
    sim.start(Num(value=1))
    sim.succeed("0.add_one", {"value": 2})
    assert sim.state.status == "failed"
    with pytest.raises(CommandRejected, match=r"in its workflow code \(ValueError\), not in a"):
        sim.send(Retry())


def test_an_input_the_workflow_refuses_is_not_retried(sim_of):
    sim = sim_of(chain)
    sim.start({"value": "not a number"})
    assert sim.state.status == "failed" and sim.state.error.type == "WorkflowInputError"
    with pytest.raises(CommandRejected, match=r"\(WorkflowInputError\), not in a step"):
        sim.send(Retry())


@pytest.mark.parametrize("status", ["running", "completed"])
def test_only_a_failed_execution_can_be_retried(sim_of, status):
    sim = sim_of(chain)
    sim.start(Num(value=1))
    if status == "completed":
        sim.run_all()
    with pytest.raises(CommandRejected, match=f"that is {status}"):
        sim.send(Retry())


def test_a_retried_parent_retries_the_child_it_called_before_the_failure(sim_of):
    sim = sim_of(parent)
    sim.start(Num(value=1))
    sim.succeed("0.add_one", {"value": 2})
    sim.send(ChildUpdate("1.chain", "ex-1/1.chain", "failed"))
    assert sim.state.status == "failed"
    sim.send(Retry())
    retry, start = sim.routes[-2:]
    assert (retry.execution_id, retry.message) == ("ex-1/1.chain", RetryChild(1))
    assert (start.execution_id, type(start.message)) == ("ex-1/1.chain", Start)
    sim.send(ChildUpdate("1.chain", "ex-1/1.chain", "completed", output={"value": 5}))
    assert sim.view().output == {"value": 5}


def test_a_parents_retry_applies_to_a_cancelled_child_once(sim_of):
    sim = sim_of(chain)
    sim.start(Num(value=1))
    sim.succeed("0.add_one", {"value": 2})
    sim.cancel()
    assert [e.type for e in sim.send(RetryChild(1))] == ["execution_retried"]
    assert sim.running == ["2.charge"]
    assert sim.send(RetryChild(1)) == []
    sim.succeed("2.charge", {"value": 2})
    sim.succeed("3.add_one", {"value": 3})
    assert sim.view().output == {"value": 3}


def test_a_fork_answers_the_carried_calls_and_runs_from_the_first_other_one(sim_of):
    sim = sim_of(chain, execution_id="fork-1")
    carried = (("0.add_one", {"value": 2}),)
    sim.send(Start("chain", {"value": 1}, forked_from="ex-1", carried=carried))
    assert sim.keys == ["2.charge"]
    assert sim.step("2.charge").input == {"value": 2}
    assert sim.types() == ["execution_started", "step_completed", "value_recorded"]
    sim.succeed("2.charge", {"value": 2})
    sim.succeed("3.add_one", {"value": 3})
    view = sim.view()
    assert view.output == {"value": 3} and view.forked_from == "ex-1"
    assert view.completed_steps == ["0.add_one", "2.charge", "3.add_one"]
    assert sim.crash().view().forked_from == "ex-1"


def test_a_fork_recovered_mid_way_answers_its_carried_calls_from_its_own_journal(sim_of):
    sim = sim_of(parent, execution_id="fork-1")
    carried = (("0.add_one", {"value": 2}), ("1.chain", {"value": 9}))
    sim.send(Start("parent", {"value": 1}, forked_from="ex-1", carried=carried))
    assert sim.routes == []  # the child's output is carried: no child starts
    assert sim.view().output == {"value": 9}
    assert sim.crash().view().output == {"value": 9}


class Tally(BaseModel):
    total: int = 0


class Checkout(water.Workflow[Num, Tally]):
    id = "checkout_class"

    @water.step
    async def first(self, ctx: water.WorkflowContext[Num, Tally]) -> None:
        ctx.state.total = (await add_one(ctx.input)).value

    @water.step
    async def second(self, ctx: water.WorkflowContext[Num, Tally]) -> None:
        ctx.state.total = (await add_one(Num(value=ctx.state.total))).value
        ctx.state.total = (await charge(Num(value=ctx.state.total))).value


def test_a_class_workflow_is_retried_in_the_step_method_that_failed(sim_of):
    sim = sim_of(Checkout)
    sim.start(Num(value=1))
    sim.succeed("first.0.add_one", {"value": 2})
    sim.succeed("second.0.add_one", {"value": 3})
    sim.fail("second.1.charge", FatalError("declined"))
    sim.send(Retry())
    assert sim.running == ["second.1.charge"]
    assert sim.keys.count("second.0.add_one") == 1
    sim.succeed("second.1.charge", {"value": 3})
    assert sim.view().output == {"total": 3}
    fork = sim_of(Checkout, execution_id="fork-1")
    carried = (("first.0.add_one", {"value": 2}),)
    fork.send(Start("checkout_class", {"value": 1}, forked_from="ex-1", carried=carried))
    assert fork.keys == ["second.0.add_one"]
