"""Durable waiting through the engine: sleep, signals, suspend/resume, passivation."""

from __future__ import annotations

import threading

import pytest
from pydantic import BaseModel

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
    StateConflictError,
    TaskContext,
    task,
)


class Num(BaseModel):
    value: int


class Decision(BaseModel):
    approved: bool
    by: str = "someone"


@task
def inc(n: Num) -> Num:
    return Num(value=n.value + 1)


runs: dict[str, int] = {}
runs_lock = threading.Lock()


def count(ctx: TaskContext) -> None:
    with runs_lock:
        runs[f"{ctx.execution_id}:{ctx.step}"] = runs.get(f"{ctx.execution_id}:{ctx.step}", 0) + 1


@task
def counted_inc(n: Num, ctx: TaskContext) -> Num:
    count(ctx)
    return Num(value=n.value + 1)


@task(resume_model=Decision)
async def review(n: Num, ctx: TaskContext) -> Num:
    """Items with odd values need a person's approval."""
    count(ctx)
    if n.value % 2 == 1:
        decision = await ctx.suspend({"question": f"approve {n.value}?"})
        if not decision.approved:
            return Num(value=0)
    return Num(value=n.value * 10)


def test_sleep_waits_without_holding_a_coordinator(engine):
    gate = threading.Event()

    @task
    def after(n: Num) -> Num:
        gate.set()
        return n

    ref = engine.start(Flow("nap").then(inc).sleep("150ms").then(after), {"value": 1})
    snap = ref.wait_for_status("waiting", timeout=10)
    assert snap.waiting_for == ["timer:sleep:1"] and snap.wake_at is not None
    assert b'water_actors{kind="coordinator"} 0.0' in engine.metrics_text()
    assert not gate.is_set()
    assert ref.result(timeout=10) == Num(value=2)


def test_signal_after_and_before_the_wait_point(engine):
    flow = Flow("approval").then(inc).wait_for_signal("approve", model=Decision)
    ref = engine.start(flow, {"value": 1})
    ref.wait_for_status("waiting", timeout=10)
    assert ref.status().waiting_for == ["signal:approve"]
    ref.tell(Signal("approve", {"approved": True, "by": "ana"}))
    assert ref.result(timeout=10) == Decision(approved=True, by="ana")

    slow = threading.Event()

    @task
    def blocker(n: Num) -> Num:
        assert slow.wait(10)
        return n

    early = engine.start(Flow("early").then(blocker).wait_for_signal("go").then(inc), {"value": 1})
    early.ask(Signal("go", {"value": 41}))  # arrives before the flow waits: kept
    slow.set()
    assert early.result(timeout=10) == Num(value=42)


def test_bad_signals_are_refused(engine):
    ref = engine.start(Flow("strict").wait_for_signal("approve", model=Decision), None)
    with pytest.raises(StateConflictError) as bad:
        ref.ask(Signal("approve", {"approved": "perhaps"}))
    assert bad.value.code == "invalid"
    with pytest.raises(StateConflictError):
        ref.ask(Signal("unknown"))
    ref.ask(Cancel())


def test_signal_timeout_fails_clearly(engine):
    ref = engine.start(Flow("impatient").wait_for_signal("go", timeout="100ms"), None)
    with pytest.raises(ExecutionFailedError, match="no signal 'go' arrived"):
        ref.result(timeout=10)


def test_resume_one_suspended_item_of_a_for_with_concurrency(engine):
    flow = Flow("batch").for_(review, concurrency=3)
    ref = engine.start(flow, [{"value": i} for i in range(6)])
    snap = ref.wait_for_status("waiting", timeout=10)
    assert sorted(snap.suspended) == ["0.review[1]", "0.review[3]", "0.review[5]"]
    assert snap.suspended["0.review[3]"] == {"question": "approve 3?"}
    with pytest.raises(StateConflictError, match="several steps are suspended"):
        ref.ask(Resume({"approved": True}))
    snap = ref.ask(Resume({"approved": True}, step="0.review[3]"))
    snap = ref.wait_for_status("waiting", timeout=10)
    assert sorted(snap.suspended) == ["0.review[1]", "0.review[5]"]
    assert snap.step_outputs["0.review[3]"] == {"value": 30}
    ref.ask(Resume({"approved": False}, step="0.review[1]"))
    ref.wait_for_status("waiting", timeout=10)
    ref.ask(Resume({"approved": True}))
    assert ref.result(timeout=10) == [Num(value=v) for v in (0, 0, 20, 30, 40, 50)]
    eid = ref.execution_id
    assert runs[f"{eid}:0.review[0]"] == 1 and runs[f"{eid}:0.review[2]"] == 1
    assert runs[f"{eid}:0.review[3]"] == 2


def test_resume_one_branch_of_a_parallel(engine):
    flow = Flow("par").parallel([review, inc])
    ref = engine.start(flow, {"value": 3})
    snap = ref.wait_for_status("waiting", timeout=10)
    assert list(snap.suspended) == ["0.review"]
    assert snap.step_outputs == {"0.inc": {"value": 4}}
    ref.ask(Resume({"approved": True}))
    assert ref.result(timeout=10) == [{"value": 30}, {"value": 4}]


def test_suspend_inside_a_nested_flow_is_resumed_through_the_parent(engine):
    inner = Flow("inner").then(counted_inc).then(review)
    outer = Flow("outer").then(inc).then(inner).then(inc)
    ref = engine.start(outer, {"value": 1})
    snap = ref.wait_for_status("waiting", timeout=10)
    assert list(snap.suspended) == ["1.inner/1.review"]
    assert b'water_actors{kind="coordinator"} 0.0' in engine.metrics_text()
    ref.ask(Resume({"approved": True}, step="1.inner/1.review"))
    assert ref.result(timeout=10) == Num(value=31)
    eid = ref.execution_id
    assert runs[f"{eid}/1.inner:0.counted_inc"] == 1  # the child did not restart
    assert runs[f"{eid}/1.inner:1.review"] == 2


@pytest.mark.parametrize("state", ["sleeping", "signal", "suspended", "paused", "child-waiting"])
def test_cancel_works_in_every_waiting_state(engine, state):
    inner = Flow(f"inner-{state}").then(review)
    flows = {
        "sleeping": (Flow("c-sleep").sleep("1h"), {"value": 1}),
        "signal": (Flow("c-signal").wait_for_signal("go"), None),
        "suspended": (Flow("c-susp").then(review), {"value": 1}),
        "paused": (Flow("c-paused").sleep("1h"), {"value": 1}),
        "child-waiting": (Flow("c-child").then(inner), {"value": 1}),
    }
    flow, value = flows[state]
    ref = engine.start(flow, value)
    ref.wait_for_status("waiting", timeout=10)
    if state == "paused":
        assert ref.ask(Pause()).status == ExecutionStatus.PAUSED
    ref.ask(Cancel("no longer needed"))
    with pytest.raises(ExecutionCancelledError):
        ref.result(timeout=10)
    snap = ref.status()
    assert snap.status == ExecutionStatus.CANCELLED
    assert snap.wake_at is None and snap.suspended == {}
    if state == "suspended":
        assert [(s.key, s.status) for s in snap.steps] == [("0.review", "cancelled")]
    if state == "child-waiting":
        child = engine.ref(f"{ref.execution_id}/0.inner-child-waiting")
        assert child.wait_for_status("cancelled", timeout=10).status == ExecutionStatus.CANCELLED


def test_a_timer_survives_an_engine_restart(sqlite_url):
    flow = Flow("overnight").then(inc).sleep("300ms").then(inc)
    with Engine(sqlite_url, flows=[flow]) as engine:
        ref = engine.start(flow, {"value": 1})
        ref.wait_for_status("waiting", timeout=10)
        eid = ref.execution_id
    with Engine(sqlite_url, flows=[flow]) as engine:
        assert engine.ref(eid).result(timeout=10) == Num(value=3)
