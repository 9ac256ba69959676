"""Steering executions by message: pause, resume, cancel, status."""

from __future__ import annotations

import threading

import pytest
from pydantic import BaseModel

from water import (
    Cancel,
    Engine,
    ExecutionCancelledError,
    ExecutionStatus,
    Flow,
    GetStatus,
    Pause,
    Resume,
    StateConflictError,
    task,
)


class Num(BaseModel):
    value: int


def gated():
    started = threading.Event()
    gate = threading.Event()
    runs: list[int] = []

    @task
    def slow(n: Num) -> Num:
        runs.append(n.value)
        started.set()
        assert gate.wait(10), "test gate never opened"
        return Num(value=n.value + 1)

    return slow, started, gate, runs


@task
def inc(n: Num) -> Num:
    return Num(value=n.value + 1)


def test_pause_lets_the_running_step_finish_then_holds(engine):
    slow, started, gate, runs = gated()
    ref = engine.start(Flow("p").then(slow).then(inc), {"value": 1})
    assert started.wait(10)
    snap = ref.ask(Pause())
    assert snap.status == ExecutionStatus.PAUSING
    assert snap.running_steps == ["0.slow"]
    gate.set()
    paused = ref.wait_for_status("paused", timeout=10)
    assert paused.completed_steps == ["0.slow"]
    assert paused.step_outputs == {"0.slow": {"value": 2}}
    assert paused.running_steps == []
    resumed = ref.ask(Resume())
    assert resumed.status in (ExecutionStatus.RUNNING, ExecutionStatus.COMPLETED)
    assert ref.result(timeout=10) == Num(value=3)
    assert runs == [1]


def test_status_works_whether_or_not_the_coordinator_is_in_memory(engine):
    slow, started, gate, _ = gated()
    ref = engine.start(Flow("p2").then(slow).then(inc), {"value": 1})
    assert started.wait(10)
    ref.ask(Pause())
    gate.set()
    ref.wait_for_status("paused", timeout=10)
    # a paused execution holds no coordinator; asking rehydrates it
    assert b'water_actors{kind="coordinator"} 0.0' in engine.metrics_text()
    assert ref.ask(GetStatus()).status == ExecutionStatus.PAUSED
    assert engine.ref(ref.execution_id).ask(Resume()).status != ExecutionStatus.PAUSED
    assert ref.result(timeout=10) == Num(value=3)


def test_cancel_stops_a_running_execution(engine):
    slow, started, gate, _ = gated()
    ref = engine.start(Flow("c").then(slow).then(inc), {"value": 1})
    assert started.wait(10)
    ref.tell(Cancel("changed my mind"))
    ref.wait_for_status("cancelled", timeout=10)
    gate.set()
    with pytest.raises(ExecutionCancelledError):
        ref.result(timeout=10)
    snap = ref.status()
    assert snap.status == ExecutionStatus.CANCELLED
    assert "0.slow" not in snap.completed_steps


def test_messages_that_do_not_apply_are_refused_with_a_conflict(engine):
    ref = engine.start(Flow("done").then(inc), {"value": 1})
    ref.result(timeout=10)
    with pytest.raises(StateConflictError) as info:
        ref.ask(Resume())
    assert info.value.code == "conflict"
    with pytest.raises(StateConflictError):
        ref.ask(Pause())


def test_pause_and_resume_survive_an_engine_restart(sqlite_url):
    slow, started, gate, runs = gated()
    flow = Flow("restartable").then(slow).then(inc)
    with Engine(sqlite_url, flows=[flow]) as engine:
        ref = engine.start(flow, {"value": 1})
        assert started.wait(10)
        ref.ask(Pause())
        gate.set()
        ref.wait_for_status("paused", timeout=10)
        eid = ref.execution_id
    with Engine(sqlite_url, flows=[flow]) as engine:
        ref = engine.ref(eid)
        assert ref.status().status == ExecutionStatus.PAUSED
        ref.ask(Resume())
        assert ref.result(timeout=10) == Num(value=3)
    assert runs == [1]
