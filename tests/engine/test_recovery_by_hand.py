"""Recovery by hand through the engine: retrying a failed execution, forking any execution."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from pathlib import Path

import pytest
from pydantic import BaseModel

from water import (
    Engine,
    ExecutionFailedError,
    ExecutionNotFoundError,
    ExecutionStatus,
    FatalError,
    Flow,
    Retry,
    Signal,
    SQLiteStorage,
    StateConflictError,
    TaskContext,
    task,
    wait_for_signal,
    workflow,
)


class Num(BaseModel):
    value: int


class Shop:
    """Tasks that count their runs; ``charge`` fails while ``broken`` is set."""

    def __init__(self) -> None:
        self.runs: Counter[str] = Counter()
        self.broken = threading.Event()
        self.broken.set()
        self.attempts: list[int] = []
        self.keys: list[str] = []
        self.gate = threading.Event()
        self.gate.set()
        self.once = False  # the first failure of charge clears ``broken``
        shop = self

        def undo(n: Num, out: Num, ctx: TaskContext) -> None:
            shop.runs["undo"] += 1

        @task
        def reserve(n: Num) -> Num:
            shop.runs["reserve"] += 1
            return Num(value=n.value + 1)

        @task(compensate=undo)
        def hold(n: Num) -> Num:
            shop.runs["hold"] += 1
            return n

        @task
        def charge(n: Num, ctx: TaskContext) -> Num:
            shop.runs["charge"] += 1
            shop.attempts.append(ctx.attempt)
            shop.keys.append(ctx.idempotency_key)
            assert shop.gate.wait(10), "test gate never opened"
            if shop.broken.is_set():
                if shop.once:
                    shop.broken.clear()
                raise FatalError("card declined")
            return Num(value=n.value * 10)

        @task
        def ship(n: Num) -> Num:
            shop.runs["ship"] += 1
            return Num(value=n.value + 5)

        self.reserve, self.hold, self.charge, self.ship = reserve, hold, charge, ship

    def flow(self, name: str = "shop") -> Flow:
        return Flow(name).then(self.reserve).then(self.charge).then(self.ship)


def failed(engine: Engine, flow: Flow, value: int = 1):
    ref = engine.start(flow, {"value": value})
    with pytest.raises(ExecutionFailedError):
        ref.result(timeout=10)
    return ref


# -- retry -----------------------------------------------------------------------------------
def test_retry_runs_the_failed_step_again_and_not_the_completed_ones(engine):
    shop = Shop()
    ref = failed(engine, shop.flow())
    assert ref.status().failed_steps == ["1.charge"]
    shop.broken.clear()  # the card works now
    answer = ref.ask(Retry())
    assert answer.status == ExecutionStatus.RUNNING and answer.error is None
    assert ref.result(timeout=10) == Num(value=25)
    assert shop.runs == Counter(reserve=1, charge=2, ship=1)
    assert shop.attempts == [1, 1]  # a fresh attempt count
    assert len(set(shop.keys)) == 1  # the same idempotency key for the step
    final = ref.status()
    assert final.status == ExecutionStatus.COMPLETED and final.failed_steps == []
    assert final.completed_steps == ["0.reserve", "1.charge", "2.ship"]
    types = [e.type for e in engine.events(ref.execution_id)]
    assert types.count("execution_failed") == 1 and types.count("execution_retried") == 1
    assert types.index("execution_retried") == types.index("execution_failed") + 1
    assert b'water_active_executions{flow="shop"} 0.0' in engine.metrics_text()


def test_a_retry_that_fails_again_fails_the_execution_again(engine):
    shop = Shop()
    ref = failed(engine, shop.flow())
    ref.retry()
    with pytest.raises(ExecutionFailedError, match="card declined"):
        ref.result(timeout=10)
    shop.broken.clear()
    ref.retry()
    assert ref.result(timeout=10) == Num(value=25)
    assert shop.runs == Counter(reserve=1, charge=3, ship=1)


def test_a_retry_sent_as_the_execution_fails_runs_the_step_once_more():
    # the retry may reach the execution's coordinator as it stops after the failure: the
    # coordinator that takes over handles it (never the one that stops, which would leave
    # the retried step to be dispatched a second time)
    with Engine("memory://") as engine:
        for _ in range(10):
            shop = Shop()
            shop.once = True
            shop.gate.clear()
            ref = engine.start(shop.flow(), {"value": 1})
            threading.Timer(0.005, shop.gate.set).start()
            while True:
                try:
                    ref.ask(Retry())
                    break
                except StateConflictError:  # still running
                    pass
            assert ref.result(timeout=10) == Num(value=25)
            assert shop.runs["charge"] == 2


def test_only_a_failed_execution_can_be_retried(engine):
    shop = Shop()
    shop.broken.clear()
    shop.gate.clear()
    running = engine.start(shop.flow(), {"value": 1})
    with pytest.raises(StateConflictError, match="that is running") as refused:
        running.ask(Retry())
    assert refused.value.code == "conflict"
    shop.gate.set()
    running.result(timeout=10)
    with pytest.raises(StateConflictError, match="that is completed"):
        running.retry()
    with pytest.raises(ExecutionNotFoundError):
        engine.ref("no-such-execution").retry()


def test_a_rolled_back_execution_is_not_retried(engine):
    shop = Shop()
    ref = failed(engine, Flow("saga").then(shop.hold).then(shop.charge))
    assert shop.runs["undo"] == 1
    with pytest.raises(StateConflictError, match="rolled back"):
        ref.retry()


def test_a_retried_parent_retries_its_nested_flow_which_keeps_its_completed_steps(engine):
    shop = Shop()
    inner = Flow("payment").then(shop.reserve).then(shop.charge)
    ref = failed(engine, Flow("order").then(shop.ship).then(inner).then(shop.ship))
    child = engine.ref(f"{ref.execution_id}/1.payment")
    assert child.status().status == ExecutionStatus.FAILED
    shop.broken.clear()
    ref.retry()
    assert ref.result(timeout=10) == Num(value=(1 + 5 + 1) * 10 + 5)
    assert shop.runs == Counter(ship=2, reserve=1, charge=2)
    assert child.status().status == ExecutionStatus.COMPLETED
    assert "execution_retried" in [e.type for e in engine.events(child.execution_id)]


def test_a_retried_workflow_replays_its_code_and_runs_the_failed_step_again(engine):
    shop = Shop()

    @workflow(id="checkout")
    async def checkout(n: Num) -> Num:
        reserved = await shop.reserve(n)
        charged = await shop.charge(reserved)
        return await shop.ship(charged)

    ref = failed(engine, checkout)
    shop.broken.clear()
    assert ref.retry().status == ExecutionStatus.RUNNING
    assert ref.result(timeout=10) == Num(value=25)
    assert shop.runs == Counter(reserve=1, charge=2, ship=1)
    assert shop.attempts == [1, 1]


def test_the_stored_snapshot_of_a_retried_execution_no_longer_shows_its_end(tmp_path: Path):
    shop = Shop()
    db = tmp_path / "water.db"
    with Engine(f"sqlite:///{db}") as engine:
        ref = failed(engine, shop.flow())
        shop.broken.clear()
        shop.gate.clear()  # the retried step runs until the test opens the gate
        ref.retry()

        async def stored_status() -> str:
            storage = SQLiteStorage(db)  # what another process reads (water inspect)
            await storage.initialize()
            try:
                snapshot = await storage.load_snapshot(ref.execution_id)
            finally:
                await storage.close()
            assert snapshot is not None
            return str(snapshot.status)

        assert asyncio.run(stored_status()) == "running"
        shop.gate.set()
        ref.result(timeout=10)


def test_a_retried_execution_goes_on_in_the_next_process(tmp_path: Path):
    shop = Shop()
    url = f"sqlite:///{tmp_path}/water.db"
    flow = Flow("signed").then(shop.reserve).then(shop.charge).wait_for_signal("ship", Num)
    with Engine(url, flows=[flow]) as engine:
        ref = failed(engine, flow)
        shop.broken.clear()
        ref.retry()
        ref.wait_for_status("waiting", timeout=10)
    with Engine(url, flows=[flow]) as engine:
        ref = engine.ref(ref.execution_id)
        assert ref.status().completed_steps == ["0.reserve", "1.charge"]
        ref.ask(Signal("ship", {"value": 7}))
        assert ref.result(timeout=10) == Num(value=7)
    assert shop.runs == Counter(reserve=1, charge=2)


def test_a_retried_workflow_goes_on_in_the_next_process(tmp_path: Path):
    shop = Shop()
    url = f"sqlite:///{tmp_path}/water.db"

    @workflow(id="signed_checkout")
    async def signed(n: Num) -> Num:
        charged = await shop.charge(await shop.reserve(n))
        shipped: Num = await wait_for_signal("ship", Num)
        return Num(value=charged.value + shipped.value)

    with Engine(url, flows=[signed]) as engine:
        ref = failed(engine, signed)
        shop.broken.clear()
        ref.retry()
        ref.wait_for_status("waiting", timeout=10)
    with Engine(url, flows=[signed]) as engine:
        ref = engine.ref(ref.execution_id)
        ref.ask(Signal("ship", {"value": 7}))
        assert ref.result(timeout=10) == Num(value=27)
    assert shop.runs == Counter(reserve=1, charge=2)


# -- fork ---------------------------------------------------------------------------------------
def test_a_fork_from_a_middle_step_runs_only_from_there(engine):
    shop = Shop()
    shop.broken.clear()
    original = engine.start(shop.flow(), {"value": 1})
    assert original.result(timeout=10) == Num(value=25)
    before = original.status()
    fork = engine.fork(original.execution_id, from_step="1.charge")
    assert fork.execution_id != original.execution_id
    assert fork.result(timeout=10) == Num(value=25)
    assert shop.runs == Counter(reserve=1, charge=2, ship=2)
    view = fork.status()
    assert view.forked_from == original.execution_id
    assert view.input == before.input
    assert view.completed_steps == ["0.reserve", "1.charge", "2.ship"]
    assert view.step_outputs["0.reserve"] == before.step_outputs["0.reserve"]
    after = original.status()
    assert after.forked_from is None and after.seq == before.seq  # the original is untouched
    started = engine.events(fork.execution_id)[0]
    assert started.forked_from == original.execution_id
    assert [(c.key, c.output) for c in started.carried] == [("0.reserve", {"value": 2})]


def test_a_failed_execution_can_be_forked_from_its_failed_step(engine):
    shop = Shop()
    original = failed(engine, shop.flow())
    shop.broken.clear()
    fork = engine.fork(original.execution_id, "1.charge", execution_id="second-try")
    assert fork.execution_id == "second-try"
    assert fork.result(timeout=10) == Num(value=25)
    assert shop.runs == Counter(reserve=1, charge=2, ship=1)
    assert original.status().status == ExecutionStatus.FAILED
    # the same fork again is the same execution (as a start with an id)
    assert engine.fork(original.execution_id, "1.charge", execution_id="second-try") == fork
    assert shop.runs["charge"] == 2


def test_a_fork_names_a_step_of_the_original(engine):
    shop = Shop()
    shop.broken.clear()
    original = engine.start(shop.flow(), {"value": 1})
    original.result(timeout=10)
    with pytest.raises(StateConflictError, match=r"no step '9.nope'.*'0.reserve', '1.charge'") as e:
        engine.fork(original.execution_id, from_step="9.nope")
    assert e.value.code == "not_found"
    with pytest.raises(ExecutionNotFoundError):
        engine.fork("no-such-execution", from_step="0.reserve")
    engine.start(shop.flow(), {"value": 1}, execution_id="taken")
    with pytest.raises(StateConflictError, match="not a fork of"):
        engine.fork(original.execution_id, from_step="1.charge", execution_id="taken")


def test_a_fork_after_a_nested_flow_uses_its_output_and_starts_no_child(engine):
    shop = Shop()
    shop.broken.clear()
    inner = Flow("payment").then(shop.reserve).then(shop.charge)
    original = engine.start(Flow("order").then(inner).then(shop.ship), {"value": 1})
    assert original.result(timeout=10) == Num(value=25)
    fork = engine.fork(original.execution_id, from_step="1.ship")
    assert fork.result(timeout=10) == Num(value=25)
    assert shop.runs == Counter(reserve=1, charge=1, ship=2)
    assert engine.get_execution(f"{fork.execution_id}/0.payment") is None


def test_a_fork_of_a_workflow_answers_the_calls_before_the_step_from_the_original(engine):
    shop = Shop()
    shop.broken.clear()

    @workflow(id="checkout")
    async def checkout(n: Num) -> Num:
        reserved = await shop.reserve(n)
        charged = await shop.charge(reserved)
        return await shop.ship(charged)

    original = engine.start(checkout, {"value": 1})
    assert original.result(timeout=10) == Num(value=25)
    fork = engine.fork(original.execution_id, from_step="2.ship")
    assert fork.result(timeout=10) == Num(value=25)
    assert shop.runs == Counter(reserve=1, charge=1, ship=2)
    assert fork.status().forked_from == original.execution_id
