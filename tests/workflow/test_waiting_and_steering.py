"""Signals, pause/resume, cancel and child workflows in the code-first interpreter."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

import water
from actors.messages import Cancel, ChildUpdate, CommandRejected, Pause, Resume, Start
from water import task, workflow
from water.workflow import NotDurableError, SignalTimeoutError


class Num(BaseModel):
    value: int


class Approval(BaseModel):
    ok: bool


@task
def add_one(n: Num) -> Num:
    return Num(value=n.value + 1)


@workflow(id="approve")
async def approve(n: Num) -> Num:
    a = await add_one(n)
    answer = await water.wait_for_signal("approve", model=Approval)
    return a if answer.ok else Num(value=0)


def test_a_signal_waited_for_is_validated_and_returned(sim_of):
    sim = sim_of(approve)
    sim.start(Num(value=1))
    sim.run("0.add_one")
    assert sim.state.status == "waiting" and sim.state.run is None
    with pytest.raises(CommandRejected, match="payload is invalid"):
        sim.signal("approve", {"ok": "perhaps"})
    sim.signal("approve", {"ok": True})
    assert sim.state.output == {"value": 2}


def test_a_signal_sent_before_the_wait_is_kept(sim_of):
    sim = sim_of(approve)
    sim.start(Num(value=1))
    sim.signal("approve", {"ok": False})  # add_one still running
    sim.run("0.add_one")
    assert sim.state.output == {"value": 0}
    assert sim.crash().state.output == {"value": 0}


@workflow(id="patient")
async def patient() -> str:
    first = await water.wait_for_signal("a", timeout="1h", default="no answer")
    try:
        await water.wait_for_signal("b", timeout="2h")
    except SignalTimeoutError as exc:
        return f"{first}; {exc}"
    return "unexpected"


def test_signal_timeouts_give_the_default_or_raise_a_timeout_error(sim_of):
    sim = sim_of(patient)
    sim.start(None)
    assert sim.timers == {"signal:0": 1000.0 + 3600}
    sim.fire("signal:0")
    assert sim.timers == {"signal:0": 4600.0, "signal:1": 4600.0 + 7200}
    sim.fire("signal:1")
    assert sim.state.output == "no answer; no signal 'b' arrived within 7200s"


def test_pause_holds_new_calls_until_resume(sim_of):
    @workflow(id="two")
    async def two(n: Num) -> Num:
        return await add_one(await add_one(n))

    sim = sim_of(two)
    sim.start(Num(value=1))
    sim.send(Pause())
    assert sim.state.status == "pausing"  # the step in flight settles
    sim.run("0.add_one")
    assert sim.state.status == "paused"
    assert sim.keys == ["0.add_one"]  # 1.add_one was called but is held
    assert sim.view().steps[-1].status == "pending"
    assert sim.crash().keys == []  # a paused execution recovers paused
    sim.send(Resume())
    assert sim.keys == ["0.add_one", "1.add_one"]
    sim.run_all()
    assert sim.state.output == {"value": 3}


def test_cancel_stops_the_code_and_refuses_durable_calls_in_finally(sim_of):
    seen: list[str] = []

    @workflow(id="tidy")
    async def tidy(n: Num) -> Num:
        try:
            return await add_one(n)
        finally:
            seen.append("finally")
            try:
                await add_one(n)
            except BaseException as exc:
                seen.append(type(exc).__name__)
                raise

    sim = sim_of(tidy)
    sim.start(Num(value=1))
    sim.send(Cancel("changed my mind"))
    assert sim.state.status == "cancelled"
    assert sim.state.steps["0.add_one"].status == "cancelled"
    assert seen == ["finally", "WorkflowCodeStopped"]
    assert sim.keys == ["0.add_one"]


@workflow(id="invoice")
async def make_invoice(n: Num) -> Num:
    return await add_one(n)


@workflow(id="order")
async def order(n: Num) -> Num:
    invoice = await make_invoice(n)
    return Num(value=invoice.value * 10)


def test_a_workflow_called_inside_one_is_a_child_execution(sim_of):
    sim = sim_of(order)
    sim.start(Num(value=1))
    [route] = sim.routes
    assert route.execution_id == "ex-1/0.invoice"
    assert route.message == Start("invoice", {"value": 1}, "ex-1", "0.invoice")
    sim.send(ChildUpdate("0.invoice", "ex-1/0.invoice", "waiting"))
    assert sim.state.status == "waiting"
    sim.send(Pause())
    assert sim.state.status == "paused"
    assert sim.routes[-1].message == Pause()
    sim.send(Resume())
    sim.send(ChildUpdate("0.invoice", "ex-1/0.invoice", "completed", output={"value": 2}))
    assert sim.state.output == {"value": 20}
    view = sim.view()
    assert view.steps[0].child_execution_id == "ex-1/0.invoice"


def test_a_child_reports_to_its_parent(sim_of):
    sim = sim_of(make_invoice)
    sim.send(Start("invoice", {"value": 1}, "ex-0", "0.invoice"))
    sim.run_all()
    done = sim.routes[-1]
    assert done.execution_id == "ex-0"
    assert done.message.status == "completed" and done.message.output == {"value": 2}


def test_outside_a_workflow_tasks_are_functions_and_durable_calls_refuse():
    assert add_one(Num(value=1)) == Num(value=2)
    with pytest.raises(NotDurableError, match="inside a code-first workflow"):
        water.now()
    with pytest.raises(NotDurableError):
        water.patched("x")


def test_a_signal_payload_the_journal_cannot_store_is_refused(sim_of):
    sim = sim_of(patient)
    sim.start(None)
    with pytest.raises(CommandRejected, match="payload of signal 'a'") as refused:
        sim.signal("a", float("nan"))
    assert refused.value.code == "invalid"
    assert sim.types() == ["execution_started", "timer_armed"]
