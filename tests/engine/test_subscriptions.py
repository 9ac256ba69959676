"""``Engine.subscribe``: live events, in journal order, isolated from the engine."""

from __future__ import annotations

import logging
import sys
import threading
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from subscribers import Collector, Num, fan_out, inc, journal, other

import water
from water import Engine, Flow, RetryPolicy, task
from water.subscriptions import CommittedEvent


def test_a_subscriber_sees_every_execution_s_events_in_journal_order(engine: Engine) -> None:
    flow = fan_out()
    engine.register(flow)
    seen = Collector()
    engine.subscribe(seen)
    refs = [engine.start(flow, {"value": i}) for i in range(5)]
    for ref in refs:
        ref.result(timeout=10)
    seen.wait_finished(ref.execution_id for ref in refs)
    for ref in refs:
        assert seen.of(ref.execution_id) == journal(engine, ref.execution_id)
        assert {i.flow_id for i in seen.items if i.execution_id == ref.execution_id} == {"fan"}
    types = {i.type for i in seen.items}
    assert {"execution_started", "step_completed", "execution_completed"} <= types


def test_filters_by_flow_execution_and_type() -> None:
    with Engine("memory://", flows=[fan_out(), other()]) as engine:
        by_flow, by_execution, by_type = Collector(), Collector(), Collector()
        engine.subscribe(by_flow, flow_id="other")
        engine.subscribe(by_execution, execution_id="A-1")  # before it exists
        engine.subscribe(by_type, types={"step_completed", "execution_completed"})
        everything = Collector()
        engine.subscribe(everything)
        a = engine.start("fan", {"value": 1}, execution_id="A-1")
        b = engine.start("fan", {"value": 2})
        c = engine.start("other", {"value": 3})
        ids = [a.execution_id, b.execution_id, c.execution_id]
        for ref in (a, b, c):
            ref.result(timeout=10)
        everything.wait_finished(ids)
        by_flow.wait_finished([c.execution_id])
        by_execution.wait_finished(["A-1"])
        by_type.wait_finished(ids)

        assert {i.execution_id for i in by_flow.items} == {c.execution_id}
        assert by_flow.of(c.execution_id) == journal(engine, c.execution_id)
        assert {i.execution_id for i in by_execution.items} == {"A-1"}
        assert by_execution.of("A-1") == journal(engine, "A-1")
        for execution_id in ids:
            wanted = [
                (seq, kind)
                for seq, kind in journal(engine, execution_id)
                if kind in ("step_completed", "execution_completed")
            ]
            assert by_type.of(execution_id) == wanted


def test_nothing_arrives_after_unsubscribe() -> None:
    with Engine("memory://", flows=[other()]) as engine:
        before, witness = Collector(), Collector()
        unsubscribe = engine.subscribe(before)
        engine.subscribe(witness)
        first = engine.start("other", {"value": 1})
        first.result(timeout=10)
        before.wait_finished([first.execution_id])
        unsubscribe()
        assert not unsubscribe.active
        second = engine.start("other", {"value": 2})
        second.result(timeout=10)
        witness.wait_finished([second.execution_id])
        assert before.of(second.execution_id) == []
        assert before.of(first.execution_id) == journal(engine, first.execution_id)


def test_unsubscribe_waits_for_a_call_in_progress() -> None:
    order: list[str] = []
    entered, release = threading.Event(), threading.Event()

    def slow(item: CommittedEvent) -> None:
        if not entered.is_set():
            entered.set()
            release.wait(10)
            order.append("callback returned")

    with Engine("memory://", flows=[other()]) as engine:
        subscription = engine.subscribe(slow)
        engine.start("other", {"value": 1}).result(timeout=10)
        assert entered.wait(10)
        returned = threading.Event()

        def stop() -> None:
            subscription.unsubscribe()
            order.append("unsubscribed")
            returned.set()

        stopper = threading.Thread(target=stop)
        stopper.start()
        assert not returned.wait(0.2)  # still waiting for the callback
        release.set()
        stopper.join(10)
        assert order == ["callback returned", "unsubscribed"]


def test_a_raising_callback_is_logged_and_keeps_getting_events(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(item: CommittedEvent) -> None:
        seen(item)
        if item.type == "step_completed":
            raise RuntimeError("subscriber bug")

    seen = Collector()
    with Engine("memory://", flows=[fan_out()]) as engine:
        with caplog.at_level(logging.ERROR, logger="water.subscriptions"):
            engine.subscribe(broken)
            ref = engine.start("fan", {"value": 1})
            assert ref.result(timeout=10) == Num(value=3 + 4 + 4)
            seen.wait_finished([ref.execution_id])
        assert seen.of(ref.execution_id) == journal(engine, ref.execution_id)
    failures = [r for r in caplog.records if "failed on event" in r.getMessage()]
    assert len(failures) == 5  # one per step_completed: inc, 3 in parallel, total
    assert all(r.exc_info and "subscriber bug" in str(r.exc_info[1]) for r in failures)


def test_a_blocked_callback_does_not_hold_up_the_engine_or_other_subscribers() -> None:
    release = threading.Event()
    blocked = threading.Event()

    def stuck(item: CommittedEvent) -> None:
        blocked.set()
        release.wait(30)

    fast = Collector()
    try:
        with Engine("memory://", flows=[fan_out()]) as engine:
            slow = engine.subscribe(stuck)
            engine.subscribe(fast)
            refs = [engine.start("fan", {"value": i}) for i in range(3)]
            for ref in refs:
                ref.result(timeout=10)  # the engine finished while the callback is stuck
            fast.wait_finished(r.execution_id for r in refs)
            assert blocked.is_set()
            assert slow.active and slow.dropped == 0
            release.set()
    finally:
        release.set()


def test_a_subscriber_that_falls_behind_loses_events_and_is_told(
    caplog: pytest.LogCaptureFixture,
) -> None:
    release = threading.Event()
    got = Collector()

    def stuck(item: CommittedEvent) -> None:
        release.wait(30)
        got(item)

    try:
        with Engine("memory://", flows=[fan_out()]) as engine:
            with caplog.at_level(logging.WARNING, logger="water.subscriptions"):
                subscription = engine.subscribe(stuck, max_pending=3)
                ref = engine.start("fan", {"value": 1})
                ref.result(timeout=10)  # every event was handed over by now
                events = journal(engine, ref.execution_id)
                release.set()
                got.wait_for(lambda: len(got.items) + subscription.dropped == len(events))
            # at most the one in hand and three waiting were kept: the first ones
            assert 3 <= len(got.items) <= 4
            assert got.of(ref.execution_id) == events[: len(got.items)]
            assert any("dropping events" in r.getMessage() for r in caplog.records)
    finally:
        release.set()


def test_code_first_workflows_publish_their_events_too() -> None:
    @water.workflow(id="twice")
    async def twice(n: Num) -> Num:
        once = await inc(n)
        return await inc(once)

    with Engine("memory://") as engine:
        seen = Collector()
        engine.subscribe(seen, flow_id="twice")
        ref = engine.start(twice, Num(value=1))
        assert ref.result(timeout=10) == Num(value=3)
        seen.wait_finished([ref.execution_id])
        assert seen.of(ref.execution_id) == journal(engine, ref.execution_id)


def test_retries_and_failures_are_published() -> None:
    calls = {"n": 0}

    @task(retry=RetryPolicy(max_attempts=3, backoff="fixed", delay="1ms"))
    def flaky(n: Num) -> Num:
        calls["n"] += 1
        if calls["n"] < 3:
            raise ValueError("not yet")
        return n

    with Engine("memory://", flows=[Flow("flaky").then(flaky)]) as engine:
        seen = Collector()
        engine.subscribe(seen, types={"step_failed", "execution_completed"})
        ref = engine.start("flaky", {"value": 1})
        ref.result(timeout=10)
        seen.wait_finished([ref.execution_id])
        kinds = [kind for _, kind in seen.of(ref.execution_id)]
        assert kinds == ["step_failed", "step_failed", "execution_completed"]
        failed = [i.event for i in seen.items if i.type == "step_failed"]
        assert all(e.retry_at is not None for e in failed)  # type: ignore[union-attr]


def test_subscribing_to_a_shut_down_engine_is_refused() -> None:
    engine = Engine("memory://")
    engine.shutdown()
    with pytest.raises(RuntimeError, match="shut down"):
        engine.subscribe(Collector())


def test_shutdown_does_not_wait_for_a_stuck_callback() -> None:
    entered, release = threading.Event(), threading.Event()

    def stuck(item: CommittedEvent) -> None:
        entered.set()
        release.wait(30)

    engine = Engine("memory://", flows=[other()])
    try:
        subscription = engine.subscribe(stuck)
        engine.start("other", {"value": 1}).result(timeout=10)
        assert entered.wait(10)
        stopping = threading.Thread(target=engine.shutdown)
        stopping.start()
        stopping.join(10)
        assert not stopping.is_alive(), "shutdown waited for the callback"
        assert not subscription.active
    finally:
        release.set()
        engine.shutdown()
