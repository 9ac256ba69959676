"""A finished execution's state is freed as its coordinator stops, not at a later
collection (a large fan-out's state would otherwise stay in memory until then)."""

from __future__ import annotations

import gc
import time

from pydantic import BaseModel

from water import Engine, Flow, task
from water.interpreter.state import StepState


class Num(BaseModel):
    value: int


@task
async def inc(n: Num) -> Num:
    return Num(value=n.value + 1)


def _step_states() -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, StepState))


def test_a_finished_executions_steps_are_freed_without_a_garbage_collection() -> None:
    flow = Flow("freed").for_(inc, concurrency=10)
    with Engine("memory://", flows=[flow]) as engine:
        gc.collect()
        gc.disable()  # only reference counting frees anything now
        try:
            out = engine.start(flow, [Num(value=i) for i in range(200)]).result(timeout=30)
            assert out == [Num(value=i + 1) for i in range(200)]
            # the coordinator stops just after it delivers the result: nothing
            # signals the stop itself, so look until it has (or give up)
            deadline = time.monotonic() + 10
            left = _step_states()
            while left and time.monotonic() < deadline:
                time.sleep(0.001)
                left = _step_states()
        finally:
            gc.enable()
    assert left == 0
