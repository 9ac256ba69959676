"""``Engine.stats``: figures that add up after successes, retries and failures."""

from __future__ import annotations

from pydantic import BaseModel

from water import Engine, ExecutionStatus, Flow, RetryPolicy, TaskContext, task


class Num(BaseModel):
    value: int


@task(retry=RetryPolicy(max_attempts=2, backoff="fixed", delay="1ms"))
def check(n: Num, ctx: TaskContext) -> Num:
    """Negative values always fail; 0 fails at its first attempt only."""
    if n.value < 0 or (n.value == 0 and ctx.attempt == 1):
        raise ValueError(f"cannot take {n.value}")
    return n


@task
def double(n: Num) -> Num:
    return Num(value=n.value * 2)


def test_stats_add_up_after_successes_retries_and_failures(engine: Engine) -> None:
    mix = engine.register(Flow("mix").then(check).then(double))
    plain = engine.register(Flow("plain").then(double))
    values = [1, 2, 3, 0, 0, -1, -2]
    refs = [engine.start(mix, {"value": v}) for v in values]
    refs.append(engine.start(plain, {"value": 5}))
    for ref in refs:
        ref.wait_for_status("completed", "failed", timeout=10)

    stats = engine.stats("mix")
    assert stats.flow_id == "mix"
    assert stats.counts[ExecutionStatus.COMPLETED] == 5
    assert stats.counts[ExecutionStatus.FAILED] == 2
    assert stats.total == len(values)
    checked = stats.steps["check"]
    assert checked.count == len(values)  # one step per execution
    assert checked.failures == 2
    assert checked.retries == 2 + 2  # the two zeros once each, the two failures once each
    doubled = stats.steps["double"]
    assert (doubled.count, doubled.failures, doubled.retries) == (5, 0, 0)
    for step in (checked, doubled):
        assert step.p50_ms is not None and step.p95_ms is not None
        assert 0 <= step.p50_ms <= step.p95_ms
    assert set(stats.steps) == {"check", "double"}

    everything = engine.stats()
    assert everything.total == len(values) + 1
    assert everything.counts[ExecutionStatus.COMPLETED] == 6
    assert everything.steps["double"].count == 6
    assert engine.stats("plain").steps["double"].count == 1
