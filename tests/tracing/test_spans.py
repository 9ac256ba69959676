"""Spans of executions and step attempts, read back from the SDK's in-memory exporter."""

from __future__ import annotations

import asyncio

from opentelemetry import trace
from opentelemetry.trace import StatusCode

from water import Engine, Flow, Resume, RetryPolicy, Signal, TaskContext, task, workflow


@task
def fetch(n: int) -> int:
    return n + 1


@task
async def store(n: int) -> int:
    return n * 10


def ids(span) -> tuple[int, int]:
    return span.context.trace_id, span.context.span_id


def parent_of(span) -> int | None:
    return span.parent.span_id if span.parent is not None else None


def test_a_two_task_flow_has_an_execution_span_and_a_step_span_per_task(spans):
    flow = Flow("two").then(fetch).then(store)
    with Engine("memory://", flows=[flow]) as engine:
        ref = engine.start(flow, 1)
        assert ref.result(timeout=10) == 20

    eid = ref.execution_id
    start = spans.one("water.start")
    execution = spans.one("water.execution")
    first = spans.one("water.step", task_id="fetch")
    second = spans.one("water.step", task_id="store")
    assert dict(execution.attributes) == {
        "water.execution_id": eid,
        "water.flow_id": "two",
        "water.status": "completed",
    }
    assert dict(first.attributes) == {
        "water.execution_id": eid,
        "water.flow_id": "two",
        "water.step": "0.fetch",
        "water.attempt": 1,
        "water.task_id": "fetch",
    }
    assert second.attributes["water.step"] == "1.store"
    # one trace: the start, under it the execution, under that its steps
    assert {s.context.trace_id for s in spans.all()} == {start.context.trace_id}
    assert parent_of(execution) == start.context.span_id
    assert parent_of(first) == parent_of(second) == execution.context.span_id
    assert first.end_time <= second.start_time
    assert execution.start_time <= first.start_time and second.end_time <= execution.end_time
    assert [s.status.status_code for s in (execution, first, second)] == [StatusCode.OK] * 3


def test_a_failed_attempt_is_an_error_with_the_exception_then_the_retry_is_ok(spans):
    attempts = []

    @task(retry=RetryPolicy(max_attempts=2, backoff="fixed", delay="1ms"))
    def flaky(n: int) -> int:
        attempts.append(n)
        if len(attempts) == 1:
            raise ConnectionError("the bank hung up")
        return n

    flow = Flow("flaky").then(flaky)
    with Engine("memory://", flows=[flow]) as engine:
        assert engine.start(flow, 7).result(timeout=10) == 7

    failed = spans.one("water.step", attempt=1)
    retried = spans.one("water.step", attempt=2)
    assert failed.status.status_code is StatusCode.ERROR
    assert failed.status.description == "ConnectionError"
    [event] = failed.events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "ConnectionError"
    assert event.attributes["exception.message"] == "the bank hung up"
    assert retried.status.status_code is StatusCode.OK and not retried.events
    execution = spans.one("water.execution")
    assert parent_of(failed) == parent_of(retried) == execution.context.span_id
    assert execution.status.status_code is StatusCode.OK


def test_a_failed_execution_is_an_error_naming_the_step(spans):
    @task
    def broken(n: int) -> int:
        raise ValueError("no")

    flow = Flow("broken").then(broken)
    with Engine("memory://", flows=[flow]) as engine:
        ref = engine.start(flow, 1)
        ref.wait_for_status("failed", timeout=10)

    execution = spans.one("water.execution")
    assert execution.status.status_code is StatusCode.ERROR
    assert execution.status.description == "ValueError in step 0.broken"
    assert execution.attributes["water.status"] == "failed"
    assert spans.one("water.step").status.status_code is StatusCode.ERROR


def test_a_rollback_runs_each_undo_in_a_compensation_span(spans):
    @task(compensate=lambda n, out, ctx: None)
    def reserve(n: int) -> int:
        return n

    @task
    def ship(n: int) -> int:
        raise RuntimeError("carrier down")

    flow = Flow("saga").then(reserve).then(ship)
    with Engine("memory://", flows=[flow]) as engine:
        engine.start(flow, 1).wait_for_status("failed", timeout=10)

    undo = spans.one("water.compensation")
    assert undo.attributes["water.step"] == "0.reserve"
    assert undo.status.status_code is StatusCode.OK
    assert parent_of(undo) == spans.one("water.execution").context.span_id


def test_the_execution_joins_the_callers_trace_at_start(spans, tracer):
    flow = Flow("joined").then(fetch).then(store)
    with Engine("memory://", flows=[flow]) as engine:
        with tracer.start_as_current_span("handle request") as request:
            ref = engine.start(flow, 1)
        ref.result(timeout=10)
        journaled = engine.events(ref.execution_id)[0].trace

    trace_id = request.get_span_context().trace_id
    start = spans.one("water.start")
    assert parent_of(start) == request.get_span_context().span_id
    assert start.attributes["water.execution_id"] == ref.execution_id
    assert {s.context.trace_id for s in spans.all()} == {trace_id}
    assert parent_of(spans.one("water.execution")) == start.context.span_id
    # what is journaled with the start is the W3C context of that start
    assert journaled is not None
    version, trace_hex, parent_hex, _flags = journaled["traceparent"].split("-")
    assert (version, trace_hex, parent_hex) == (
        "00",
        trace.format_trace_id(trace_id),
        trace.format_span_id(start.context.span_id),
    )


def test_start_many_shares_one_start_span(spans):
    flow = Flow("many").then(fetch)
    with Engine("memory://", flows=[flow]) as engine:
        refs = engine.start_many(flow, [1, 2, 3])
        assert [r.result(timeout=10) for r in refs] == [2, 3, 4]

    start = spans.one("water.start")
    assert start.attributes["water.executions"] == 3
    executions = spans.named("water.execution")
    assert len(executions) == 3
    assert {parent_of(s) for s in executions} == {start.context.span_id}


def test_the_spans_a_step_body_makes_nest_under_its_step_span(spans, tracer):
    @task
    def sync_call(n: int) -> int:
        with tracer.start_as_current_span("GET /sync"):
            return n

    @task
    async def async_call(n: int) -> int:
        with tracer.start_as_current_span("GET /async"):
            await asyncio.sleep(0)
            return n

    flow = Flow("calls").then(sync_call).then(async_call)
    with Engine("memory://", flows=[flow]) as engine:
        engine.start(flow, 1).result(timeout=10)

    sync_step = spans.one("water.step", task_id="sync_call")
    async_step = spans.one("water.step", task_id="async_call")
    assert parent_of(spans.one("GET /sync")) == sync_step.context.span_id
    assert parent_of(spans.one("GET /async")) == async_step.context.span_id


def test_a_nested_flows_execution_is_a_child_of_its_parents_execution(spans):
    inner = Flow("inner").then(store)
    outer = Flow("outer").then(fetch).then(inner)
    with Engine("memory://", flows=[outer]) as engine:
        ref = engine.start(outer, 1)
        assert ref.result(timeout=10) == 20

    parent = spans.one("water.execution", flow_id="outer")
    child = spans.one("water.execution", flow_id="inner")
    assert parent_of(child) == parent.context.span_id
    assert child.attributes["water.parent_execution_id"] == ref.execution_id
    assert parent_of(spans.one("water.step", task_id="store")) == child.context.span_id
    assert child.context.trace_id == parent.context.trace_id


@workflow(id="traced-order")
async def traced_order(n: int) -> int:
    a, b = await asyncio.gather(fetch(n), store(n))
    return a + b


def test_a_code_first_workflow_has_the_same_spans(spans, tracer):
    with Engine("memory://", flows=[traced_order]) as engine:
        with tracer.start_as_current_span("caller") as caller:
            ref = engine.start(traced_order, 1)
        assert ref.result(timeout=10) == 12

    execution = spans.one("water.execution", flow_id="traced-order")
    steps = spans.named("water.step", execution_id=ref.execution_id)
    assert sorted(s.attributes["water.task_id"] for s in steps) == ["fetch", "store"]
    assert {parent_of(s) for s in steps} == {execution.context.span_id}
    assert execution.status.status_code is StatusCode.OK
    assert execution.context.trace_id == caller.get_span_context().trace_id


def test_a_suspended_step_is_marked_and_not_an_error(spans):
    @task
    def approve(n: int, ctx: TaskContext) -> int:
        if ctx.resume_data is None:
            ctx.suspend({"ask": "approve?"})
        return n

    flow = Flow("approval").then(approve)
    with Engine("memory://", flows=[flow]) as engine:
        ref = engine.start(flow, 3)
        ref.wait_for_status("waiting", timeout=10)
        ref.tell(Resume(data="yes"))
        assert ref.result(timeout=10) == 3

    suspended, resumed = sorted(spans.named("water.step"), key=lambda s: s.start_time)
    assert suspended.attributes["water.outcome"] == "suspended"
    assert suspended.status.status_code is StatusCode.UNSET and not suspended.events
    assert resumed.status.status_code is StatusCode.OK


def test_a_restart_ends_the_segment_and_the_next_process_continues_the_trace(spans, tmp_path):
    flow = Flow("waits").then(fetch).wait_for_signal("go").then(store)
    url = f"sqlite:///{tmp_path}/water.db"
    with Engine(url, flows=[flow]) as engine:
        ref = engine.start(flow, 1)
        ref.wait_for_status("waiting", timeout=10)
    first = spans.one("water.execution")
    assert first.attributes["water.status"] == "interrupted"
    assert first.status.status_code is StatusCode.UNSET

    with Engine(url, flows=[flow]) as engine:
        engine.ref(ref.execution_id).tell(Signal("go", 2))
        assert engine.ref(ref.execution_id).result(timeout=10) == 20

    start = spans.one("water.start")
    second = spans.one("water.execution", resumed=True)
    assert second.context.trace_id == first.context.trace_id == start.context.trace_id
    assert parent_of(second) == parent_of(first) == start.context.span_id
    assert second.attributes["water.status"] == "completed"
    assert parent_of(spans.one("water.step", task_id="store")) == second.context.span_id


def test_a_failing_metrics_observer_does_not_stop_the_spans(spans, monkeypatch):
    flow = Flow("observed").then(fetch)
    with Engine("memory://", flows=[flow]) as engine:
        assert engine.metrics is not None

        def broken(state, events):
            raise RuntimeError("metrics backend down")

        monkeypatch.setattr(engine.metrics, "events_committed", broken)
        engine.start(flow, 1).result(timeout=10)

    execution = spans.one("water.execution")
    assert execution.attributes["water.status"] == "completed"
