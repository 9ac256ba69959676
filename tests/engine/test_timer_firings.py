"""Durable timers fire once, for the arming they belong to: retry back-offs keep their delays."""

from __future__ import annotations

import itertools
import threading
import time

import pytest
from pydantic import BaseModel

from water import ExecutionFailedError, Flow, RetryPolicy, Signal, TaskContext, task

BACKOFF = RetryPolicy(max_attempts=5, backoff="exponential", delay="20ms", max_delay="1s")
RUNS_PER_KIND = 3


class Num(BaseModel):
    value: int


def test_every_retry_waits_its_back_off_with_async_and_sync_bodies(engine):
    # Each back-off passivates the coordinator and the firing timer wakes it up again:
    # a firing must never be taken for the timer of a later attempt.
    starts: dict[str, list[float]] = {}
    lock = threading.Lock()

    def started(ctx: TaskContext) -> None:
        with lock:
            starts.setdefault(ctx.execution_id, []).append(time.time())

    @task(retry=BACKOFF)
    async def down_async(n: Num, ctx: TaskContext) -> Num:
        started(ctx)
        raise ConnectionError("down")

    @task(retry=BACKOFF)
    def down_sync(n: Num, ctx: TaskContext) -> Num:
        started(ctx)
        raise ConnectionError("down")

    flows = [Flow("backoff-async").then(down_async), Flow("backoff-sync").then(down_sync)]
    refs = [engine.start(f, {"value": 1}) for f in flows for _ in range(RUNS_PER_KIND)]
    delays = [BACKOFF.next_delay(a, ConnectionError()) for a in range(1, BACKOFF.max_attempts)]
    assert delays == [0.02, 0.04, 0.08, 0.16]
    too_early = []
    for ref in refs:
        with pytest.raises(ExecutionFailedError):
            ref.result(timeout=20)
        failed = [e for e in engine.events(ref.execution_id) if e.type == "step_failed"]
        assert [e.attempt for e in failed] == [1, 2, 3, 4, 5]
        assert [e.retry_at - e.ts for e in failed[:-1]] == pytest.approx(delays, abs=1e-6)
        times = starts[ref.execution_id]
        assert len(times) == BACKOFF.max_attempts
        gaps = [b - a for a, b in itertools.pairwise(times)]
        # a correctness bound, not a timing: no attempt may start before its back-off ends
        too_early += [
            (ref.execution_id, n + 2, round(gap, 4), delay)
            for n, (gap, delay) in enumerate(zip(gaps, delays, strict=True))
            if gap < delay - 1e-3
        ]
    assert too_early == []


def test_a_signal_before_its_timeout_disarms_the_timer(engine):
    release = threading.Event()

    @task
    def hold(n: Num) -> Num:
        assert release.wait(10)
        return n

    flow = Flow("signal-first").wait_for_signal("go", model=Num, timeout="1h").then(hold)
    ref = engine.start(flow, None)
    waiting = ref.wait_for_status("waiting", timeout=10)
    assert waiting.waiting_for == ["signal:go", "timer:signal:0"] and waiting.wake_at is not None
    try:
        ref.ask(Signal("go", {"value": 7}))  # answers once the signal is durable
        snap = ref.status()
        assert snap.running_steps == ["1.hold"]
        assert snap.waiting_for == [] and snap.wake_at is None
        assert engine.get_execution(ref.execution_id).wake_at is None
    finally:
        release.set()
    assert ref.result(timeout=10) == Num(value=7)
