"""Code-first workflows through the engine: the same refs, messages, storage and metrics."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator

import pytest
from pydantic import BaseModel

import water
from water import (
    Cancel,
    Engine,
    ExecutionFailedError,
    Pause,
    Resume,
    Signal,
    StateConflictError,
    TaskContext,
    task,
    workflow,
)


@pytest.fixture(params=["memory", "sqlite"])
def engine(request, tmp_path) -> Iterator[Engine]:
    url = "memory://" if request.param == "memory" else f"sqlite:///{tmp_path}/water.db"
    with Engine(url) as e:
        yield e


class Order(BaseModel):
    id: str
    items: list[str]


class Receipt(BaseModel):
    order_id: str
    amount: int


class Approval(BaseModel):
    ok: bool


class Shipped(BaseModel):
    order_id: str
    items: list[str]
    approved: bool


runs: dict[str, int] = {}
runs_lock = threading.Lock()


def count(ctx: TaskContext) -> None:
    with runs_lock:
        key = f"{ctx.execution_id}:{ctx.step}"
        runs[key] = runs.get(key, 0) + 1


@task(retry=water.RetryPolicy(max_attempts=3, backoff="fixed", delay="10ms"))
def charge(order: Order, ctx: TaskContext) -> Receipt:
    count(ctx)
    if ctx.attempt == 1:
        raise ConnectionError("the bank hung up")
    return Receipt(order_id=order.id, amount=10 * len(order.items))


@task
async def ship(item: str) -> str:
    return f"shipped {item}"


@workflow(id="invoice")
async def make_invoice(receipt: Receipt) -> str:
    return f"invoice for {receipt.order_id}: {receipt.amount}"


@workflow(id="orders", version="2")
async def orders(order: Order) -> Shipped:
    receipt = await charge(order)
    await water.sleep("20ms")
    approval = await water.wait_for_signal("approve", model=Approval, timeout="1h")
    shipped = await asyncio.gather(*(ship(i) for i in order.items))
    invoice = await make_invoice(receipt)
    assert invoice.startswith("invoice for")
    return Shipped(order_id=order.id, items=list(shipped), approved=approval.ok)


def test_the_example_of_the_issue_runs_end_to_end(engine):
    ref = engine.start(orders, Order(id="A-1", items=["pen", "ink"]))
    snap = ref.wait_for_status("waiting", timeout=10)
    while snap.waiting_for != ["signal:approve", "timer:signal:2"]:  # past the sleep
        snap = ref.wait_for_status("waiting", timeout=10)
    # a waiting execution holds nothing: its coordinator stops after its last append
    # (it may answer a status ask just before it does; nothing signals the stop itself)
    deadline = time.monotonic() + 5
    while engine.system.active_coordinators() and time.monotonic() < deadline:
        time.sleep(0.001)
    assert engine.system.active_coordinators() == 0
    ref.ask(Signal("approve", {"ok": True}))
    result = ref.result(timeout=10)
    assert result == Shipped(order_id="A-1", items=["shipped pen", "shipped ink"], approved=True)
    eid = ref.execution_id
    assert runs[f"{eid}:0.charge"] == 2  # a retry under the task's policy
    snap = ref.status()
    assert snap.flow_id == "orders" and snap.metadata == {"version": "2"}
    assert [s.key for s in snap.steps] == [
        "0.charge",
        "3.ship",
        "4.ship",
        "5.invoice",
    ]
    [child] = engine.list_executions(flow_id="invoice")
    assert child.execution_id == f"{eid}/5.invoice" and child.parent_id == eid
    assert [r.execution_id for r in engine.list_executions(flow_id="orders")] == [eid]
    metrics = engine.metrics_text().decode()
    assert 'water_steps_total{flow="orders",outcome="completed",task="ship"} 2.0' in metrics


def test_gathered_tasks_run_at_the_same_time(engine):
    both = threading.Barrier(2, timeout=10)

    @task
    def meet(name: str) -> str:
        both.wait()  # returns only once the other one is running too
        return name

    @workflow(id="meeting")
    async def meeting() -> list[str]:
        return list(await asyncio.gather(meet("a"), meet("b")))

    assert engine.start(meeting).result(timeout=10) == ["a", "b"]


def test_pause_holds_the_next_step_and_resume_runs_it(engine):
    release, started_second = threading.Event(), threading.Event()

    @task
    def first(n: int) -> int:
        assert release.wait(10)
        return n + 1

    @task
    def second(n: int) -> int:
        started_second.set()
        return n * 10

    @workflow(id="pausable")
    async def pausable(n: int) -> int:
        return await second(await first(n))

    ref = engine.start(pausable, 1)
    assert ref.ask(Pause()).status == "pausing"
    release.set()
    snap = ref.wait_for_status("paused", timeout=10)
    assert snap.completed_steps == ["0.first"]
    assert not started_second.is_set()
    with pytest.raises(StateConflictError):
        ref.ask(Resume(step="nope"))  # nothing is suspended
    ref.ask(Resume())
    assert ref.result(timeout=10) == 20


def test_cancel_a_waiting_workflow(engine):
    @workflow(id="forever")
    async def forever() -> None:
        await water.wait_for_signal("never")

    ref = engine.start(forever)
    ref.wait_for_status("waiting", timeout=10)
    ref.ask(Cancel("no longer needed"))
    with pytest.raises(water.ExecutionCancelledError):
        ref.result(timeout=10)


@task
def add(n: int) -> int:
    return n + 1


@task
def subtract(n: int) -> int:
    return n - 1


def test_changed_code_under_a_waiting_execution_fails_with_non_determinism(tmp_path):
    url = f"sqlite:///{tmp_path}/nd.db"

    @workflow(id="evolving")
    async def v1(n: int) -> int:
        n = await add(n)
        await water.wait_for_signal("go")
        return await add(n)

    @workflow(id="evolving")
    async def v2(n: int) -> int:
        n = await subtract(n)  # another task where the journal recorded add
        await water.wait_for_signal("go")
        return await add(n)

    with Engine(url, flows=[v1]) as engine:
        ref = engine.start(v1, 1)
        ref.wait_for_status("waiting", timeout=10)
        eid = ref.execution_id
    with Engine(url, flows=[v2]) as engine:
        ref = engine.ref(eid)
        ref.tell(Signal("go"))
        with pytest.raises(ExecutionFailedError, match="NonDeterminismError") as failed:
            ref.result(timeout=10)
        error = failed.value.error
        assert error is not None and error.type == "NonDeterminismError"
        assert "position 0" in error.message
        assert "'add'" in error.message and "'subtract'" in error.message


def test_patched_takes_the_new_branch_only_for_executions_that_reach_it_after(tmp_path):
    url = f"sqlite:///{tmp_path}/patch.db"

    @workflow(id="pricing")
    async def old(n: int) -> int:
        await water.wait_for_signal("go")
        return await add(n)

    @workflow(id="pricing")
    async def new(n: int) -> int:
        if water.patched("discount"):
            n = await subtract(n)
        await water.wait_for_signal("go")
        return await add(n)

    with Engine(url, flows=[old]) as engine:
        before = engine.start(old, 10)
        before.wait_for_status("waiting", timeout=10)
    with Engine(url, flows=[new]) as engine:
        after = engine.start(new, 10)
        after.wait_for_status("waiting", timeout=10)
        for ref in (engine.ref(before.execution_id), after):
            ref.ask(Signal("go"))
        assert engine.ref(before.execution_id).result(timeout=10) == 11  # old branch
        assert after.result(timeout=10) == 10  # new branch: 10 - 1 + 1


def test_a_class_workflow_through_the_engine(engine):
    class Signup(BaseModel):
        email: str

    class Progress(BaseModel):
        account: str = ""
        plan: str = "free"

    @task
    def open_account(email: str) -> str:
        return f"acct-{email}"

    class Onboarding(water.Workflow[Signup, Progress]):
        id = "onboarding-engine"

        @water.step
        async def create(self, ctx: water.WorkflowContext[Signup, Progress]) -> None:
            ctx.state.account = await open_account(ctx.input.email)

        @water.step
        async def choose(self, ctx: water.WorkflowContext[Signup, Progress]) -> None:
            ctx.state.plan = await ctx.wait_for_signal("plan")

    ref = engine.start(Onboarding, {"email": "ana"})
    ref.wait_for_status("waiting", timeout=10)
    ref.ask(Signal("plan", "pro"))
    assert ref.result(timeout=10) == Progress(account="acct-ana", plan="pro")


def test_a_step_that_suspends_is_resumed_with_data(engine):
    @task(resume_model=Approval)
    async def review(order_id: str, ctx: TaskContext) -> bool:
        decision = await ctx.suspend({"question": f"ship {order_id}?"})
        return decision.ok

    @workflow(id="reviewed")
    async def reviewed(order_id: str) -> str:
        return "ship" if await review(order_id) else "hold"

    ref = engine.start(reviewed, "A-7")
    snap = ref.wait_for_status("waiting", timeout=10)
    assert snap.suspended == {"0.review": {"question": "ship A-7?"}}
    with pytest.raises(StateConflictError):
        ref.ask(Resume({"ok": "maybe"}))
    ref.ask(Resume({"ok": True}))
    assert ref.result(timeout=10) == "ship"
