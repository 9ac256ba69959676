"""The interpreter's work per message does not grow with what the execution did before.

Counted in function calls (``sys.setprofile``), not timed: the same count for the
same work on any machine. A code-first execution of thousands of steps must cost
each step about what it costs in a short one (bench/README.md measures the time).
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from water import task, workflow
from water.testing import Simulator


class Num(BaseModel):
    value: int


@task
def inc(n: Num) -> Num:
    return Num(value=n.value + 1)


LONG = 400


@workflow(id="sequential")
async def sequential(n: Num) -> Num:
    for _ in range(LONG):
        n = await inc(n)
    return n


@workflow(id="windowed")
async def windowed(items: list[Num]) -> list[Num]:
    window = asyncio.Semaphore(10)

    async def one(item: Num) -> Num:
        async with window:
            return await inc(item)

    return list(await asyncio.gather(*(one(item) for item in items)))


def calls(action: Callable[[], Any]) -> int:
    """How many Python and C functions ``action`` calls (generators resumed included)."""
    count = 0

    def profile(frame: Any, event: str, arg: Any) -> None:
        nonlocal count
        if event in ("call", "c_call"):
            count += 1

    sys.setprofile(profile)
    try:
        action()
    finally:
        sys.setprofile(None)
    return count


def test_a_step_late_in_a_long_execution_costs_what_an_early_one_costs():
    sim = Simulator(sequential)
    sim.start(Num(value=0))
    cost: dict[int, int] = {}
    for i in range(LONG):
        key = f"{i}.inc"
        cost[i] = calls(lambda key=key, i=i: sim.succeed(key, Num(value=i + 1)))
    final = sim.view()
    assert final.status == "completed" and final.output == {"value": LONG}
    early, late = cost[20], cost[LONG - 20]
    # before: every completion looked at every step so far (late ~ early + 380 calls)
    assert late <= early * 1.1, (early, late)


def test_starting_a_wide_gather_costs_the_same_per_item_at_any_width():
    def start_cost(width: int) -> float:
        sim = Simulator(windowed)
        items = [Num(value=i) for i in range(width)]
        spent = calls(lambda: sim.start(items))
        assert len(sim.running) == 10
        return spent / width

    narrow, wide = start_cost(100), start_cost(2000)
    # before: each new task looked at every unfinished one (wide ~ 20x narrow per item)
    assert wide <= narrow * 1.2, (narrow, wide)
