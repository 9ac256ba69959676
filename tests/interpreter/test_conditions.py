"""Branch and loop conditions: what they are given and what they may return."""

from __future__ import annotations

import gc
import warnings

import pytest
from pydantic import BaseModel

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
