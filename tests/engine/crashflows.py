"""Flows for the crash tests; imported by the test and by the child process it kills."""

from __future__ import annotations

import os
import time

from pydantic import BaseModel

from water import Flow, TaskContext, task

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
