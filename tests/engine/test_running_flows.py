"""Running flows end to end through the public API."""

from __future__ import annotations

import asyncio
import socket
import threading

import pytest
from pydantic import BaseModel

from water import (
    Engine,
    ExecutionFailedError,
    ExecutionNotFoundError,
    ExecutionStatus,
    Flow,
    StepError,
    Task,
    TaskContext,
    task,
)


class Num(BaseModel):
    value: int


class Text(BaseModel):
    text: str


class Double(Task[Num, Num]):
    def __init__(self) -> None:
        super().__init__("double", "Double the input value", Num, Num)

    async def execute(self, input_data: Num, context: TaskContext) -> Num:
        return Num(value=input_data.value * 2)


@task
def inc(n: Num) -> Num:
    return Num(value=n.value + 1)


@task
async def add10(n: Num) -> Num:
    await asyncio.sleep(0)
    return Num(value=n.value + 10)


@task
def total(xs: list[Num]) -> Num:
    return Num(value=sum(x.value for x in xs))


@task
def upto(n: Num) -> list[Num]:
    return [Num(value=i) for i in range(n.value)]


def test_quickstart_flow_gives_the_same_result_everywhere(engine):
    flow = (
        Flow("quick", "Example")
        .then(Double())
        .branch([[lambda v: v.value > 10, add10], [lambda v: True, inc]])
        .parallel([inc, add10])
        .then(total)
        .then(upto)
        .for_(inc, concurrency=4)
        .then(total)
        .while_(lambda v: v.value < 1000, Double(), max_iterations=20)
    )
    ref = engine.start(flow, Num(value=3))
    assert ref.result(timeout=30) == Num(value=1300)
    assert flow.run({"value": 3}) == Num(value=1300)


def test_dict_input_is_coerced_and_bad_input_is_refused_before_starting(engine):
    flow = Flow("coerce").then(inc)
    assert engine.start(flow, {"value": "41"}).result(timeout=10) == Num(value=42)
    from pydantic import ValidationError

    with pytest.raises(ValidationError) as info:
        engine.start(flow, {"wrong": 1})
    assert "value" in str(info.value)
    assert engine.count_executions("coerce") == 1


def test_a_step_output_that_does_not_fit_fails_without_retry_naming_task_and_field(engine):
    @task
    def liar(n: Num) -> Num:
        return {"value": "not a number"}  # type: ignore[return-value]

    ref = engine.start(Flow("liar").then(liar), {"value": 1})
    with pytest.raises(ExecutionFailedError) as info:
        ref.result(timeout=10)
    cause = info.value.__cause__
    assert isinstance(cause, StepError)
    assert cause.info.type == "StepOutputError"
    assert "liar" in cause.info.message and "value" in cause.info.message
    assert cause.info.retryable is False


def test_mismatched_step_input_fails_clearly(engine):
    @task
    def make_text(n: Num):  # no output model: validate() cannot see the mismatch
        return Text(text="x")

    ref = engine.start(Flow("mismatch").then(make_text).then(inc), {"value": 1})
    with pytest.raises(ExecutionFailedError) as info:
        ref.result(timeout=10)
    assert info.value.error.type == "StepInputError"
    assert "'inc'" in info.value.error.message and "value" in info.value.error.message


def test_unserializable_output_is_a_clear_step_error(engine):
    @task
    def weird(n: Num):
        return threading.Lock()

    ref = engine.start(Flow("weird").then(weird), {"value": 1})
    with pytest.raises(ExecutionFailedError) as info:
        ref.result(timeout=10)
    assert info.value.error.type == "StepOutputError"
    assert "JSON" in info.value.error.message


def test_a_failing_task_fails_its_execution_and_not_the_engine(engine):
    @task
    def boom(n: Num) -> Num:
        raise RuntimeError("kaput")

    ref = engine.start(Flow("boom").then(boom), {"value": 1})
    with pytest.raises(ExecutionFailedError, match="kaput"):
        ref.result(timeout=10)
    snap = ref.status()
    assert snap.status == ExecutionStatus.FAILED
    assert snap.failed_steps == ["0.boom"]
    # the engine still runs other work
    assert engine.start(Flow("ok").then(inc), {"value": 1}).result(timeout=10) == Num(value=2)


def test_context_carries_ids_outputs_variables_and_a_stable_idempotency_key(engine):
    seen: dict[str, object] = {}

    @task
    def first(n: Num) -> Num:
        return Num(value=n.value + 1)

    @task
    def probe(n: Num, ctx: TaskContext) -> Num:
        seen.update(
            flow_id=ctx.flow_id,
            execution_id=ctx.execution_id,
            task_id=ctx.task_id,
            step=ctx.step,
            attempt=ctx.attempt,
            first=ctx.outputs["first"],
            region=ctx.variables["region"],
            owner=ctx.metadata["owner"],
            key=ctx.idempotency_key,
        )
        ctx.logger.info("probing")
        return n

    flow = Flow("ctx", variables={"region": "eu"}, metadata={"owner": "ops"})
    flow.then(first).then(probe)
    ref = engine.start(flow, {"value": 1}, execution_id="ctx-1")
    ref.result(timeout=10)
    assert seen == {
        "flow_id": "ctx",
        "execution_id": "ctx-1",
        "task_id": "probe",
        "step": "1.probe",
        "attempt": 1,
        "first": Num(value=2),
        "region": "eu",
        "owner": "ops",
        "key": "ctx-1:1.probe",
    }


def test_start_with_an_existing_execution_id_returns_that_execution(engine):
    runs: list[int] = []

    @task
    def once(n: Num) -> Num:
        runs.append(n.value)
        return n

    flow = Flow("idem").then(once)
    a = engine.start(flow, {"value": 1}, execution_id="order-7")
    a.result(timeout=10)
    b = engine.start(flow, {"value": 2}, execution_id="order-7")
    assert b.execution_id == "order-7"
    assert b.result(timeout=10) == Num(value=1)
    assert runs == [1]


def test_list_executions_filters_and_pages(engine):
    flow = Flow("listing").then(inc)
    refs = [engine.start(flow, {"value": i}) for i in range(5)]
    for r in refs:
        r.result(timeout=10)
    assert engine.count_executions("listing") == 5
    page = engine.list_executions("listing", limit=2, offset=1)
    assert len(page) == 2
    assert all(r.status == ExecutionStatus.COMPLETED for r in page)
    assert engine.list_executions("listing", status="failed") == []


def test_unknown_execution(engine):
    with pytest.raises(ExecutionNotFoundError):
        engine.ref("nope").result(timeout=5)
    with pytest.raises(ExecutionNotFoundError):
        engine.ref("nope").status()


def test_wait_is_the_async_twin_of_result(engine):
    flow = Flow("waiting").then(add10)

    async def main() -> Num:
        ref = await engine.start_async(flow, {"value": 1})
        return await ref.wait(timeout=10)

    assert asyncio.run(main()) == Num(value=11)
    assert asyncio.run(flow.run_async({"value": 2})) == Num(value=12)


def test_nested_flow_runs_as_a_linked_child_execution(engine):
    inner = Flow("inner").then(inc).then(Double())
    outer = Flow("outer").then(inc).then(inner).then(inc)
    ref = engine.start(outer, {"value": 1})
    assert ref.result(timeout=10) == Num(value=7)
    child = engine.ref(f"{ref.execution_id}/1.inner").status()
    assert child.parent_id == ref.execution_id
    assert child.status == ExecutionStatus.COMPLETED
    assert child.output == {"value": 6}


def test_a_completed_nested_step_still_names_its_child_execution(sqlite_url):
    inner = Flow("inner").then(inc)
    outer = Flow("outer").then(inner).then(inc)

    def children(engine: Engine, execution_id: str) -> dict[str, str | None]:
        return {s.key: s.child_execution_id for s in engine.ref(execution_id).status().steps}

    with Engine(sqlite_url, flows=[outer]) as engine:
        ref = engine.start(outer, {"value": 1})
        assert ref.result(timeout=10) == Num(value=3)
        eid = ref.execution_id
        expected = {"0.inner": f"{eid}/0.inner", "1.inc": None}
        assert children(engine, eid) == expected
        child = engine.ref(expected["0.inner"]).status()
        assert child.parent_id == eid and child.status == ExecutionStatus.COMPLETED
    with Engine(sqlite_url) as engine:  # a new process reads it from storage
        assert children(engine, eid) == expected


def test_engine_shutdown_is_clean_and_idempotent(tmp_path):
    before = set(threading.enumerate())
    port = free_port()
    e = Engine(f"sqlite:///{tmp_path}/x.db", metrics_port=port)
    e.start(Flow("s").then(inc).then(add10), {"value": 1}).result(timeout=10)
    started = [t for t in threading.enumerate() if t not in before]
    assert started  # workers, the reactor, storage, the metrics server
    e.shutdown()
    e.shutdown()
    with pytest.raises(RuntimeError):
        e.start(Flow("s2").then(inc), {"value": 1})
    for thread in started:
        thread.join(timeout=5)
    assert [t.name for t in started if t.is_alive()] == []  # daemon or not: none left behind
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # and the metrics port is free again


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_metrics_can_be_served_on_a_port(tmp_path):
    import urllib.request

    port = free_port()
    with Engine("memory://", metrics_port=port) as engine:
        engine.start(Flow("scraped").then(inc), {"value": 1}).result(timeout=10)
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
    assert b'water_executions_finished_total{flow="scraped",status="completed"} 1.0' in body
