"""Retries, timeouts, circuit breakers, supervisor restarts and compensation, end to end."""

from __future__ import annotations

import asyncio
import random
import threading
import time

import pytest
from pydantic import BaseModel

from supervision import ManualClock
from water import (
    Cancel,
    CircuitBreaker,
    Engine,
    ExecutionFailedError,
    FatalError,
    Flow,
    RetryableError,
    RetryPolicy,
    TaskContext,
    task,
)


class Num(BaseModel):
    value: int


FAST = RetryPolicy(max_attempts=4, backoff="fixed", delay="10ms")


def test_a_flaky_step_is_retried_with_the_attempt_number_in_its_context(engine):
    attempts: list[int] = []

    @task(retry=FAST)
    def flaky(n: Num, ctx: TaskContext) -> Num:
        attempts.append(ctx.attempt)
        if ctx.attempt < 3:
            raise ConnectionError("try again")
        return Num(value=n.value + 1)

    ref = engine.start(Flow("retry").then(flaky), {"value": 1})
    assert ref.result(timeout=10) == Num(value=2)
    assert attempts == [1, 2, 3]
    failures = [e for e in engine.events(ref.execution_id) if e.type == "step_failed"]
    assert [(e.attempt, e.retry_at is not None) for e in failures] == [(1, True), (2, True)]
    assert all(e.retry_at - e.ts == pytest.approx(0.01, abs=1e-6) for e in failures)


def test_policies_come_from_the_task_then_the_flow_then_the_engine(tmp_path):
    seen: dict[str, int] = {}

    def failing(name: str):
        @task(id=name)
        def body(n: Num, ctx: TaskContext) -> Num:
            seen[name] = ctx.attempt
            raise ConnectionError("down")

        return body

    engine_policy = RetryPolicy(max_attempts=2, backoff="fixed", delay="1ms")
    flow_policy = RetryPolicy(max_attempts=3, backoff="fixed", delay="1ms")
    with Engine("memory://", retry=engine_policy) as engine:
        for flow in (
            Flow("by-engine").then(failing("a")),
            Flow("by-flow", retry=flow_policy).then(failing("b")),
        ):
            with pytest.raises(ExecutionFailedError):
                engine.start(flow, {"value": 1}).result(timeout=10)
        own = failing("c")
        own.retry = RetryPolicy(max_attempts=4, backoff="fixed", delay="1ms")
        with pytest.raises(ExecutionFailedError):
            engine.start(Flow("by-task", retry=flow_policy).then(own), {"value": 1}).result(10)
    assert seen == {"a": 2, "b": 3, "c": 4}


def test_fatal_errors_are_not_retried_and_retry_after_is_honoured(engine):
    calls: list[float] = []

    @task(retry=RetryPolicy(max_attempts=5, delay="1ms"))
    def fatal(n: Num) -> Num:
        calls.append(time.monotonic())
        raise FatalError("bad request")

    with pytest.raises(ExecutionFailedError, match="bad request"):
        engine.start(Flow("fatal").then(fatal), {"value": 1}).result(timeout=10)
    assert len(calls) == 1

    @task(retry=RetryPolicy(max_attempts=2, delay="1ms"))
    def busy(n: Num, ctx: TaskContext) -> Num:
        if ctx.attempt == 1:
            raise RetryableError("rate limited", retry_after="80ms")
        return n

    ref = engine.start(Flow("busy").then(busy), {"value": 1})
    ref.result(timeout=10)
    failed = next(e for e in engine.events(ref.execution_id) if e.type == "step_failed")
    assert failed.retry_at - failed.ts == pytest.approx(0.08)


def test_an_async_body_past_its_timeout_is_cancelled(engine):
    cancelled = threading.Event()

    @task(timeout="50ms")
    async def hang(n: Num) -> Num:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return n

    with pytest.raises(ExecutionFailedError) as info:
        engine.start(Flow("hang").then(hang), {"value": 1}).result(timeout=10)
    assert info.value.error.type == "StepTimeoutError"
    assert "timed out after 0.05s" in info.value.error.message
    assert cancelled.wait(5)


def test_a_sync_body_past_its_timeout_is_abandoned_its_worker_replaced(engine):
    release = threading.Event()
    late: list[int] = []

    @task(
        timeout="50ms",
        retry=RetryPolicy(max_attempts=2, backoff="fixed", delay="1ms"),
        max_workers=1,
    )
    def stuck(n: Num, ctx: TaskContext) -> Num:
        if ctx.attempt == 1:
            release.wait(10)
            late.append(ctx.attempt)
            return Num(value=-1)  # a late result: must be ignored
        return Num(value=n.value + 1)

    ref = engine.start(Flow("stuck").then(stuck), {"value": 1})
    # the second attempt runs although the only worker is still stuck: it was replaced
    assert ref.result(timeout=10) == Num(value=2)
    release.set()
    snap = ref.status()
    assert snap.output == {"value": 2}
    assert engine.metrics_text().count(b'water_actor_restarts_total{kind="worker"} 1.0') == 1


def test_circuit_breaker_opens_fails_fast_half_opens_and_closes(engine):
    healthy = threading.Event()
    bodies: list[int] = []

    @task(circuit_breaker=CircuitBreaker(failure_threshold=2, reset_timeout="150ms"))
    def remote(n: Num) -> Num:
        bodies.append(n.value)
        if not healthy.is_set():
            raise ConnectionError("down")
        return n

    flow = Flow("breaker").then(remote)
    refs = [engine.start(flow, {"value": 0})]
    with pytest.raises(ExecutionFailedError, match="down"):
        refs[0].result(timeout=10)
    refs.append(engine.start(flow, {"value": 1}))
    with pytest.raises(ExecutionFailedError, match="down"):
        refs[1].result(timeout=10)
    assert engine.circuit_breakers()["remote"]["state"] == "open"
    # the failures' events carry the state of the breaker they led to
    states = [
        next(e for e in engine.events(r.execution_id) if e.type == "step_failed").error.details
        for r in refs
    ]
    assert [d["breaker_state"] for d in states] == ["closed", "open"]
    with pytest.raises(ExecutionFailedError) as info:
        engine.start(flow, {"value": 2}).result(timeout=10)
    assert info.value.error.type == "CircuitOpenError"
    assert bodies == [0, 1]  # failed fast: the body did not run
    healthy.set()
    # an engine retry policy can wait the open breaker out
    patient = Flow("patient", retry=RetryPolicy(max_attempts=5, backoff="fixed", delay="10ms"))
    patient.then(remote)
    assert engine.start(patient, {"value": 3}).result(timeout=10) == Num(value=3)
    assert engine.circuit_breakers()["remote"]["state"] == "closed"
    assert b'water_circuit_breaker_state{breaker="remote"} 0.0' in engine.metrics_text()


def test_half_open_admits_a_bounded_number_of_trials_under_concurrency():
    clock = ManualClock(time.time())
    both_inside = threading.Barrier(3)
    gate = threading.Event()
    trials: list[str] = []
    broken = [True]

    @task(
        circuit_breaker=CircuitBreaker(
            failure_threshold=1, reset_timeout="30s", half_open_max_calls=2
        ),
        max_workers=8,
    )
    def probe(n: Num, ctx: TaskContext) -> Num:
        if broken[0]:
            raise ConnectionError("down")
        trials.append(ctx.execution_id)
        both_inside.wait(10)
        assert gate.wait(10)
        return n

    with Engine("memory://", clock=clock) as engine:
        flow = Flow("trial").then(probe)
        with pytest.raises(ExecutionFailedError):
            engine.start(flow, {"value": 0}).result(timeout=10)
        assert engine.circuit_breakers()["probe"]["state"] == "open"
        broken[0] = False
        clock.advance("31s")  # past the reset timeout: the next calls are trials
        refs = [engine.start(flow, {"value": i}, execution_id=f"t{i}") for i in range(6)]
        both_inside.wait(10)  # two trials are running and hold the half-open slots
        others = [r for r in refs if r.execution_id not in trials]
        assert len(trials) == 2 and len(others) == 4
        for ref in others:
            with pytest.raises(ExecutionFailedError) as info:
                ref.result(timeout=10)
            assert info.value.error.type == "CircuitOpenError"
        gate.set()
        for ref in refs:
            if ref.execution_id in trials:
                assert ref.result(timeout=10).value == int(ref.execution_id[1:])
        assert engine.circuit_breakers()["probe"]["state"] == "closed"


def test_a_crashing_worker_is_replaced_and_restart_storms_escalate(engine):
    @task(retry=RetryPolicy(max_attempts=3, backoff="fixed", delay="1ms"), max_workers=1)
    def crashy(n: Num, ctx: TaskContext) -> Num:
        if ctx.attempt < 3:
            raise SystemExit("worker dies")  # escapes a normal except Exception
        return n

    assert engine.start(Flow("crashy").then(crashy), {"value": 5}).result(10) == Num(value=5)
    text = engine.metrics_text()
    assert b'water_actor_restarts_total{kind="worker"} 2.0' in text

    @task(retry=RetryPolicy(max_attempts=6, backoff="fixed", delay="1ms"), max_workers=1)
    def storm(n: Num, ctx: TaskContext) -> Num:
        if ctx.attempt <= 4:
            raise SystemExit("again")
        return n

    assert engine.start(Flow("storm").then(storm), {"value": 1}).result(10) == Num(value=1)
    assert b'water_actor_restarts_total{kind="supervisor"} 1.0' in engine.metrics_text()


def test_compensation_rolls_back_in_reverse_and_reports(engine):
    log: list[str] = []

    def undo(name: str):
        def run(i: Num, o: Num, ctx: TaskContext) -> None:
            log.append(f"undo {name} {o.value}")

        return run

    @task(compensate=undo("reserve"))
    def reserve(n: Num) -> Num:
        log.append("reserve")
        return Num(value=n.value + 1)

    @task(compensate=undo("charge"))
    async def charge(n: Num) -> Num:
        log.append("charge")
        return Num(value=n.value + 10)

    @task
    def ship(n: Num) -> Num:
        raise RuntimeError("carrier down")

    ref = engine.start(Flow("order").then(reserve).then(charge).then(ship), {"value": 0})
    with pytest.raises(ExecutionFailedError, match="carrier down"):
        ref.result(timeout=10)
    assert log == ["reserve", "charge", "undo charge 11", "undo reserve 1"]
    snap = ref.status()
    assert [(c.key, c.status) for c in snap.compensation] == [
        ("1.charge", "completed"),
        ("0.reserve", "completed"),
    ]
    types = [e.type for e in engine.events(ref.execution_id)]
    assert types.index("compensation_started") < types.index("execution_failed")


def test_fault_injection_many_flaky_executions_all_complete_exactly(tmp_path):
    rng = random.Random(7)
    lock = threading.Lock()
    ran: dict[tuple[str, str], list[int]] = {}

    @task(retry=RetryPolicy(max_attempts=20, backoff="fixed", delay="1ms"))
    async def flaky(n: Num, ctx: TaskContext) -> Num:
        with lock:
            ran.setdefault((ctx.execution_id, ctx.step), []).append(ctx.attempt)
            fail = rng.random() < 0.3
        if fail:
            raise ConnectionError("injected")
        return Num(value=n.value * 2)

    @task(retry=RetryPolicy(max_attempts=20, backoff="fixed", delay="1ms"))
    def sync_flaky(n: Num, ctx: TaskContext) -> Num:
        with lock:
            ran.setdefault((ctx.execution_id, ctx.step), []).append(ctx.attempt)
            fail = rng.random() < 0.3
        if fail:
            raise ConnectionError("injected")
        return Num(value=n.value + 1)

    flow = Flow("faulty").then(flaky).then(sync_flaky).then(flaky)
    with Engine(f"sqlite:///{tmp_path}/f.db") as engine:
        refs = engine.start_many(flow, [{"value": i} for i in range(60)])
        results = [r.result(timeout=60) for r in refs]
        assert results == [Num(value=(i * 2 + 1) * 2) for i in range(60)]
        for ref in refs:
            events = engine.events(ref.execution_id)
            for key in ("0.flaky", "1.sync_flaky", "2.flaky"):
                attempts = ran[(ref.execution_id, key)]
                assert attempts == list(range(1, len(attempts) + 1))
                failed = [e for e in events if e.type == "step_failed" and e.key == key]
                done = [e for e in events if e.type == "step_completed" and e.key == key]
                assert len(failed) == len(attempts) - 1  # retry count matches the journal
                assert len(done) == 1 and done[0].attempt == attempts[-1]


def test_a_crashed_coordinator_is_rehydrated_from_its_events(engine):
    crashes = []

    def flaky_condition(n: Num) -> bool:
        if not crashes:
            crashes.append(1)
            raise SystemExit("a bug that kills the coordinator")
        return n.value > 0

    @task
    def plus(n: Num) -> Num:
        return Num(value=n.value + 1)

    flow = Flow("fragile").then(plus).branch([[flaky_condition, plus]]).then(plus)
    ref = engine.start(flow, {"value": 1})
    assert ref.result(timeout=10) == Num(value=4)
    assert crashes == [1]
    assert b'water_actor_restarts_total{kind="coordinator"} 1.0' in engine.metrics_text()


def test_cancel_cancels_a_running_async_body(engine):
    started = threading.Event()
    cancelled = threading.Event()

    @task
    async def long_call(n: Num) -> Num:
        started.set()
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return n

    ref = engine.start(Flow("long").then(long_call), {"value": 1})
    assert started.wait(10)
    ref.ask(Cancel("stop"))
    assert cancelled.wait(10)
    assert ref.status().status == "cancelled"
