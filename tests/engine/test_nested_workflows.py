"""A code-first workflow nested in a Flow: its own child execution, like a nested flow."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

import water
from water import (
    Cancel,
    Engine,
    ExecutionCancelledError,
    ExecutionFailedError,
    ExecutionStatus,
    Flow,
    Pause,
    Resume,
    Signal,
    Workflow,
    WorkflowContext,
    step,
    task,
    workflow,
)


class Num(BaseModel):
    value: int


class Approval(BaseModel):
    ok: bool


class Total(BaseModel):
    total: int = 0


@task
def inc(n: Num) -> Num:
    return Num(value=n.value + 1)


@workflow(id="twice")
async def twice(n: Num) -> Num:
    once = await inc(n)
    return Num(value=once.value * 2)


@workflow(id="approved")
async def approved(n: Num) -> Num:
    answer = await water.wait_for_signal("approve", model=Approval)
    return n if answer.ok else Num(value=0)


@workflow(id="broken")
async def broken(n: Num) -> Num:
    await inc(n)
    raise ValueError("no way")


class Summed(Workflow[Num, Total]):
    id = "summed"

    @step
    async def add(self, ctx: WorkflowContext[Num, Total]) -> None:
        ctx.state.total = (await inc(ctx.input)).value + 100


def test_a_workflow_nested_in_a_flow_runs_as_a_linked_child_execution(engine):
    outer = Flow("wf-outer").then(inc).then(twice).then(inc)
    ref = engine.start(outer, {"value": 1})
    assert ref.result(timeout=10) == Num(value=7)
    eid = ref.execution_id
    steps = {s.key: s.child_execution_id for s in ref.status().steps}
    assert steps == {"0.inc": None, "1.twice": f"{eid}/1.twice", "2.inc": None}
    child = engine.ref(f"{eid}/1.twice").status()
    assert child.flow_id == "twice" and child.parent_id == eid
    assert child.status == ExecutionStatus.COMPLETED
    assert child.output == {"value": 6}
    assert "twice" in engine.flows  # registered with the flow that nests it


def test_workflows_nest_in_every_kind_of_stage_and_as_classes(engine):
    fan = Flow("wf-fan", input_model=list[Num]).for_(twice, concurrency=2)
    assert engine.start(fan, [{"value": 1}, {"value": 2}]).result(timeout=10) == [
        Num(value=4),
        Num(value=6),
    ]
    both = Flow("wf-both").parallel([twice, inc])
    assert engine.start(both, {"value": 1}).result(timeout=10) == [{"value": 4}, {"value": 2}]
    cls = Flow("wf-class").then(inc).then(Summed)
    assert engine.start(cls, {"value": 1}).result(timeout=10) == Total(total=103)
    chosen = Flow("wf-branch").branch([[lambda n: n.value > 5, inc], [lambda n: True, twice]])
    assert engine.start(chosen, {"value": 1}).result(timeout=10) == Num(value=4)
    looped = Flow("wf-while").while_(lambda n: n.value < 20, twice)
    assert engine.start(looped, {"value": 1}).result(timeout=10) == Num(value=22)


def test_pause_resume_and_signals_reach_a_nested_workflow(engine):
    outer = Flow("wf-gate").then(inc).then(approved).then(inc)
    ref = engine.start(outer, {"value": 1})
    ref.wait_for_status("waiting", timeout=10)
    child = engine.ref(f"{ref.execution_id}/1.approved")
    assert ref.ask(Pause(), timeout=10).status in ("pausing", "paused")
    assert child.wait_for_status("paused", timeout=10).status == ExecutionStatus.PAUSED
    assert ref.wait_for_status("paused", timeout=10).status == ExecutionStatus.PAUSED
    ref.ask(Resume(), timeout=10)
    assert child.wait_for_status("waiting", timeout=10).status == ExecutionStatus.WAITING
    ref.ask(Signal("approve", {"ok": True}), timeout=10)  # forwarded to the child
    assert ref.result(timeout=10) == Num(value=3)
    assert child.status().status == ExecutionStatus.COMPLETED


def test_cancelling_the_parent_cancels_the_nested_workflow(engine):
    outer = Flow("wf-cancel").then(approved)
    ref = engine.start(outer, {"value": 1})
    ref.wait_for_status("waiting", timeout=10)
    ref.ask(Cancel("not needed"), timeout=10)
    with pytest.raises(ExecutionCancelledError):
        ref.result(timeout=10)
    child = engine.ref(f"{ref.execution_id}/0.approved")
    assert child.wait_for_status("cancelled", timeout=10).status == ExecutionStatus.CANCELLED


def test_a_failing_nested_workflow_fails_its_parent_with_its_error(engine):
    ref = engine.start(Flow("wf-fails").then(broken).then(inc), {"value": 1})
    with pytest.raises(ExecutionFailedError) as info:
        ref.result(timeout=10)
    assert "no way" in str(info.value)
    assert ref.status().failed_steps == ["0.broken"]


def test_a_flow_nesting_a_workflow_is_typed_and_validated_through_it():
    class Word(BaseModel):
        text: str

    @task
    def word(n: Num) -> Word:
        return Word(text=str(n.value))

    flow = Flow("wf-typed").then(word).then(twice)
    with pytest.raises(water.FlowValidationError) as info:
        flow.validate()
    assert info.value.problems == [
        "flow 'wf-typed' step 1 (task twice): output of the previous step (Word) cannot feed "
        "'twice' (needs Num): Num requires ['value'] which Word does not have"
    ]
    assert Flow("wf-out").then(inc).then(twice).output_type is Num


def test_a_nested_workflow_version_is_part_of_the_flow_fingerprint():
    @workflow(id="versioned", version="1")
    async def v1(n: Num) -> Num:
        return n

    @workflow(id="versioned", version="2")
    async def v2(n: Num) -> Num:
        return n

    first = Flow("wf-fp").then(inc).then(v1).fingerprint
    assert Flow("wf-fp").then(inc).then(v1).fingerprint == first
    assert Flow("wf-fp").then(inc).then(v2).fingerprint != first


def test_another_definition_under_a_registered_id_is_refused(engine):
    engine.register(Flow("wf-taken").then(twice))
    with pytest.raises(ValueError, match="a workflow with id 'twice' is already registered"):
        engine.register(Flow("twice").then(inc))
    assert engine.flow("twice") is twice


def test_workflows_run_once_like_flows():
    assert twice.run(Num(value=1)) == Num(value=4)
    assert Flow("wf-once").then(twice).run({"value": 2}) == Num(value=6)


def test_a_recovering_engine_needs_only_the_flow_to_resume_its_nested_workflow(sqlite_url):
    outer = Flow("wf-restart").then(inc).then(approved).then(inc)
    with Engine(sqlite_url, flows=[outer]) as engine:
        ref = engine.start(outer, {"value": 1})
        ref.wait_for_status("waiting", timeout=10)
        eid = ref.execution_id
    with Engine(sqlite_url, flows=[outer]) as engine:
        ref = engine.ref(eid)
        ref.ask(Signal("approve", {"ok": True}), timeout=10)
        assert ref.result(timeout=10) == Num(value=3)


@workflow(id="ping")
async def ping(n: Num) -> Num:
    return n if n.value <= 0 else await pong(Num(value=n.value - 1))


@workflow(id="pong")
async def pong(n: Num) -> Num:
    return n if n.value <= 0 else await ping(Num(value=n.value - 1))


def test_workflows_that_call_each_other_are_not_refused_as_cycles(engine):
    """A workflow decides as it runs whether to call itself; a flow nested in itself is
    refused because it would never end."""
    flow = Flow("wf-ping").then(ping)
    assert flow.validate() is flow
    assert engine.start(flow, {"value": 3}).result(timeout=10) == Num(value=0)
    assert {"ping", "pong"} <= set(engine.flows)
    looped = Flow("wf-loop").then(inc)
    looped.then(Flow("wf-loop-inner").then(looped))
    with pytest.raises(water.FlowValidationError, match="'wf-loop' is nested in itself"):
        looped.validate()
