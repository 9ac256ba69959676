"""The journal's promises to a coordinator: durable first, reported after, rebuilt on failure."""

from __future__ import annotations

import collections
import concurrent.futures
import sys
import threading
from pathlib import Path

import pytest
from pydantic import BaseModel

from water import Engine, Flow, GetStatus, Signal, TaskContext, task

sys.path.insert(0, str(Path(__file__).parents[1]))

from storefaults import faulty, has_event

# How long a held commit is given to leak an answer it must not give.
LEAK_WINDOW = 0.3


class Num(BaseModel):
    value: int


def durable_chain(storage, execution_id: str, refused: int) -> list[int]:
    """The ``expected_seq`` of every request the store got for an execution.

    Checks that each one follows what was durable when it was made (the request at
    index ``refused`` was answered with an error, so its events do not count).
    """
    requests = [r for r in storage.requests if r.execution_id == execution_id]
    durable, chain = 0, []
    for index, req in enumerate(requests):
        assert req.expected_seq == durable, f"request {index} builds on events never written"
        chain.append(req.expected_seq)
        if index != refused:
            durable += len(req.events)
    return chain


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_failed_commit_is_rebuilt_from_what_is_durable(kind: str, tmp_path: Path) -> None:
    storage = faulty(kind, tmp_path)
    runs: collections.Counter[str] = collections.Counter()

    @task
    def a(n: Num, ctx: TaskContext) -> Num:
        runs["a"] += 1
        return Num(value=n.value + 1)

    @task
    def b(n: Num) -> Num:
        runs["b"] += 1
        return Num(value=n.value * 2)

    flow = Flow("rebuild").then(a).then(b).wait_for_signal("go", Num)
    first_result = has_event("step_completed")
    storage.hold(first_result)
    storage.reject(first_result, ValueError("a value that cannot be encoded"))
    with Engine(storage, flows=[flow]) as engine:  # type: ignore[arg-type]
        try:
            ref = engine.start(flow, {"value": 1})
            assert storage.holding.wait(10)  # a's result is being committed (and will fail)
            ref.tell(Signal("go", {"value": 7}))  # decided on top of a's result
        finally:
            storage.release()
        ref.wait_for_status("waiting", timeout=10)  # rebuilt, ran a again, then b
        ref.tell(Signal("go", {"value": 42}))
        assert ref.result(timeout=10) == Num(value=42)
        events = engine.events(ref.execution_id)
    assert runs == {"a": 2, "b": 1}  # a's result was lost; b ran only after it was durable
    assert [e.seq for e in events] == list(range(1, len(events) + 1))
    assert [e.type for e in events].count("step_completed") == 2
    refused = next(
        i
        for i, r in enumerate(x for x in storage.requests if x.execution_id == ref.execution_id)
        if first_result(r)
    )
    chain = durable_chain(storage, ref.execution_id, refused)
    assert chain[refused + 1] == chain[refused]  # the next writer started from what is durable


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_nothing_is_reported_or_dispatched_before_its_commit(kind: str, tmp_path: Path) -> None:
    storage = faulty(kind, tmp_path)
    b_started = threading.Event()
    b_go = threading.Event()

    @task
    def a(n: Num) -> Num:
        return Num(value=n.value + 1)

    @task
    def b(n: Num) -> Num:
        b_started.set()
        assert b_go.wait(10), "the test never let b finish"
        return Num(value=n.value * 2)

    flow = Flow("held").then(a).then(b)
    pool = concurrent.futures.ThreadPoolExecutor(2)
    with Engine(storage, flows=[flow]) as engine:  # type: ignore[arg-type]
        try:
            storage.hold(has_event("step_completed"))  # a's result
            ref = engine.start(flow, {"value": 1})
            assert storage.holding.wait(10)
            status = pool.submit(ref.ask, GetStatus(), 10)
            done, _ = concurrent.futures.wait([status], timeout=LEAK_WINDOW)
            assert not done, "the status was answered before a's result was durable"
            assert not b_started.is_set(), "b was dispatched before a's result was durable"
            storage.release()
            assert status.result(10).completed_steps == ["0.a"]
            assert b_started.wait(10)

            storage.hold(has_event("execution_completed"))
            b_go.set()
            assert storage.holding.wait(10)
            result = pool.submit(ref.result, 10)
            done, _ = concurrent.futures.wait([result], timeout=LEAK_WINDOW)
            assert not done, "the result was reported before it was durable"
            storage.release()
            assert result.result(10) == Num(value=4)
        finally:
            b_go.set()
            storage.release()
            pool.shutdown()


def test_a_failing_observer_of_commits_does_not_wedge_the_execution(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    @task
    def a(n: Num) -> Num:
        return Num(value=n.value + 1)

    def broken(state: object, events: object) -> None:
        raise RuntimeError("metrics backend down")

    flow = Flow("observed").then(a).then(a)
    with Engine("memory://", flows=[flow]) as engine:
        assert engine.metrics is not None
        monkeypatch.setattr(engine.metrics, "events_committed", broken)
        ref = engine.start(flow, {"value": 1}, timeout=10)
        assert ref.result(timeout=10) == Num(value=3)
        assert ref.ask(GetStatus(), timeout=10).status == "completed"
    assert any("events_committed failed" in r.getMessage() for r in caplog.records)
