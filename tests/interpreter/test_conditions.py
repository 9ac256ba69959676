"""Branch and loop conditions: what they are given and what they may return."""

from __future__ import annotations

import gc
import warnings
from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from actors.messages import Signal
from water import Flow, task


class Num(BaseModel):
    value: int


@task
def inc(n: Num) -> Num:
    return Num(value=n.value + 1)


async def holds(n: Num) -> bool:
    return True


@pytest.mark.parametrize("kind", ["branch", "while"])
def test_a_condition_returning_an_awaitable_fails_the_decision_clearly(sim_of, kind):
    def sneaky(n: Num):  # a plain def that hands back a coroutine
        return holds(n)

    flow = Flow("f").then(inc)
    flow = flow.branch([[sneaky, inc]]) if kind == "branch" else flow.while_(sneaky, inc)
    sim = sim_of(flow)
    sim.start({"value": 1})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sim.succeed("0.inc", {"value": 2})
        gc.collect()
    assert not [w for w in caught if "never awaited" in str(w.message)]  # closed, not leaked
    assert sim.running == [] and sim.state.status == "failed"
    error = sim.state.error
    assert error.type == "TypeError" and error.retryable is False
    assert "flow 'f' step 1" in error.message
    assert "condition 'sneaky' returned an awaitable (coroutine)" in error.message
    sim.assert_replay_matches()


def test_a_sleep_until_function_returning_an_awaitable_fails_the_decision_clearly(sim_of):
    async def tomorrow(n: Num) -> datetime:
        return datetime.now(UTC)

    sim = sim_of(Flow("f").then(inc).sleep_until(lambda n: tomorrow(n)).then(inc))
    sim.start({"value": 1})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sim.succeed("0.inc", {"value": 2})
        gc.collect()
    assert not [w for w in caught if "never awaited" in str(w.message)]
    assert sim.state.status == "failed" and sim.state.timers == {}
    assert "flow 'f' step 1 (sleep)" in sim.state.error.message
    assert "sleep_until function '<lambda>' returned an awaitable" in sim.state.error.message
    sim.assert_replay_matches()


class Approval(BaseModel):
    approved: bool


@task
def finish(a: Approval | None) -> Approval:
    return a or Approval(approved=False)


def test_a_condition_after_a_signal_gets_the_payload_or_the_default(sim_of):
    seen: list[object] = []

    def missing(a: Approval | None) -> bool:
        seen.append(a)
        return a is None

    flow = Flow("f").wait_for_signal("approve", model=Approval, timeout="1m", default=None)
    flow.branch([[missing, finish]])
    timed_out = sim_of(flow)
    timed_out.start(None)
    timed_out.fire("signal:0")
    assert timed_out.running == ["1.finish"] and timed_out.step("1.finish").input is None
    answered = sim_of(flow)
    answered.start(None)
    answered.send(Signal("approve", {"approved": True}))
    assert answered.running == [] and answered.state.output == {"approved": True}
    assert seen == [None, Approval(approved=True)]
    timed_out.assert_replay_matches()
    answered.assert_replay_matches()
