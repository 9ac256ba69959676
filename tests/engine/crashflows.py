"""Flows for the crash tests; imported by the test and by the child process it kills."""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from pydantic import BaseModel

from water import FatalError, Flow, RetryPolicy, TaskContext, task
from water.types import MAX_DEPTH

RUN_LOG = os.environ.get("WATER_TEST_RUN_LOG", "")


class Num(BaseModel):
    value: int


class Batch(BaseModel):
    items: list[Num]


def record(ctx: TaskContext) -> None:
    """Log every run of a step body (both processes append to the same file)."""
    line = f"{ctx.execution_id} {ctx.step} {ctx.attempt}\n"
    if RUN_LOG:
        with open(RUN_LOG, "a") as f:
            f.write(line)
    print(line, end="", flush=True)
    time.sleep(0.002)  # simulated work, so that a kill lands mid-flow


@task
def prepare(n: Num, ctx: TaskContext) -> Batch:
    record(ctx)
    return Batch(items=[Num(value=i) for i in range(n.value)])


@task
def work(n: Num, ctx: TaskContext) -> Num:
    record(ctx)
    return Num(value=n.value * n.value)


@task
async def summarize(xs: list[Num], ctx: TaskContext) -> Num:
    record(ctx)
    return Num(value=sum(x.value for x in xs))


@task
def halve(n: Num, ctx: TaskContext) -> Num:
    record(ctx)
    return Num(value=n.value // 2)


def crash_flow() -> Flow:
    return (
        Flow("crashy")
        .then(prepare)
        .for_(work, concurrency=4)
        .then(summarize)
        .while_(lambda v: v.value > 10, halve, max_iterations=100)
    )


# -- retries and rollbacks across a crash ---------------------------------------------
RETRY = RetryPolicy(max_attempts=3, backoff="fixed", delay="700ms")


@task(retry=RETRY)
def flaky_once(n: Num, ctx: TaskContext) -> Num:
    record(ctx)
    if ctx.attempt == 1:
        raise ConnectionError("first attempt fails")
    return Num(value=n.value + 100)


def backoff_flow() -> Flow:
    return Flow("backoff").then(flaky_once)


def _undo(name: str, slow: bool):
    def run(i: Num, o: Num, ctx: TaskContext) -> None:
        line = f"{ctx.execution_id} undo:{name} {ctx.attempt}\n"
        if RUN_LOG:
            with open(RUN_LOG, "a") as f:
                f.write(line)
        print(line, end="", flush=True)
        if slow and os.environ.get("WATER_TEST_SLOW_UNDO"):
            time.sleep(60)  # the parent kills the process here

    return run


@task(compensate=_undo("reserve", slow=False))
def reserve(n: Num, ctx: TaskContext) -> Num:
    record(ctx)
    return n


@task(compensate=_undo("charge", slow=True))
def charge(n: Num, ctx: TaskContext) -> Num:
    record(ctx)
    return n


@task
def ship(n: Num, ctx: TaskContext) -> Num:
    record(ctx)
    raise FatalError("carrier refused the parcel")


def saga_flow() -> Flow:
    return Flow("saga").then(reserve).then(charge).then(ship)


@task
def stamp(n: Num, ctx: TaskContext) -> Num:
    record(ctx)
    return Num(value=n.value + 1)


def nap_flow() -> Flow:
    return Flow("nap").then(stamp).sleep("800ms").then(stamp)


# -- a value nested as deeply as the journal accepts ---------------------------------------
def deep_value() -> Any:
    """Lists and objects in turn, ``MAX_DEPTH`` levels deep."""
    value: Any = "leaf"
    for level in range(MAX_DEPTH):
        value = {"down": value} if level % 2 else [value]
    return value


@task
def carry(value: Any, ctx: TaskContext) -> Any:
    record(ctx)
    return value


@task
def left(value: Any, ctx: TaskContext) -> Any:
    record(ctx)
    return value


@task
def right(value: Any, ctx: TaskContext) -> Any:
    record(ctx)
    return value


@task
def park(pair: list[Any], ctx: TaskContext) -> Any:
    record(ctx)
    if os.environ.get("WATER_TEST_PARK"):
        print("PARKED", flush=True)
        threading.Event().wait()  # the parent kills the process here
    return pair[0]


def deep_flow() -> Flow:
    # the parallel's output, a list of two deepest values, is one level deeper than
    # a step may return: the sleep checkpoints it before park runs
    return Flow("deep").then(carry).parallel([left, right]).sleep("10ms").then(park)


FLOWS = {
    "crashy": crash_flow,
    "backoff": backoff_flow,
    "saga": saga_flow,
    "nap": nap_flow,
    "deep": deep_flow,
}
