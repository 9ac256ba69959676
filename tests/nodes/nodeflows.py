"""Flows for the multi-node tests; imported by the tests and by the node processes.

Every run of a step body appends ``execution step attempt node`` to the file named by
``$WATER_TEST_RUN_LOG`` (one short ``O_APPEND`` write: lines of many processes never
mix), and returns the node's name, so that the journal says whose result it kept.
"""

from __future__ import annotations

import os
import time
from typing import Any

from water import Flow, RetryPolicy, Task, TaskContext, task

NODE = os.environ.get("WATER_TEST_NODE", "test")
STEPS = 5


def record(ctx: TaskContext) -> str:
    path = os.environ.get("WATER_TEST_RUN_LOG", "")
    if path:
        line = f"{ctx.execution_id} {ctx.step} {ctx.attempt} {NODE}\n".encode()
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
        finally:
            os.close(fd)
    time.sleep(float(os.environ.get("WATER_TEST_STEP_SLEEP", "0")))
    return NODE


def _step(n: int, prefix: str = "s") -> Task[Any, str]:
    @task(id=f"{prefix}{n}")
    def body(data: object, ctx: TaskContext) -> str:
        return record(ctx)

    return body


def work_flow() -> Flow:
    """Five steps, each recording its run."""
    flow = Flow("work")
    for n in range(1, STEPS + 1):
        flow.then(_step(n))
    return flow


@task(id="first")
def first(data: object, ctx: TaskContext) -> str:
    return record(ctx)


@task(id="last")
def last(data: object, ctx: TaskContext) -> dict[str, object]:
    record(ctx)
    return {"signal": data}


def steer_flow() -> Flow:
    """A step, a wait for the signal ``go``, and a step that returns its payload."""
    return Flow("steer").then(first).wait_for_signal("go").then(last)


def nap_flow() -> Flow:
    """A step, a durable sleep of 1.5 s, a step."""
    return Flow("nap").then(first).sleep("1500ms").then(last)


@task(id="flaky", retry=RetryPolicy(max_attempts=3, backoff="fixed", delay="1500ms"))
def flaky(data: object, ctx: TaskContext) -> str:
    record(ctx)
    if ctx.attempt == 1:
        raise ConnectionError("the first attempt fails")
    return NODE


def backoff_flow() -> Flow:
    """A step whose first attempt fails, retried after a durable back-off of 1.5 s."""
    return Flow("backoff").then(flaky)


def inner_flow() -> Flow:
    """Three steps: run as a child execution of ``nested_flow``."""
    inner = Flow("inner")
    for n in range(1, 4):
        inner.then(_step(n, "i"))
    return inner


def nested_flow() -> Flow:
    """A step, a nested flow of three steps (a child execution), a step."""
    return Flow("outer").then(first).then(inner_flow()).then(last)


FLOWS = {
    "nested": nested_flow,
    "inner": inner_flow,
    "work": work_flow,
    "steer": steer_flow,
    "nap": nap_flow,
    "backoff": backoff_flow,
}
