"""The chaos test's flow: imported by the test, by its child processes and by the soak run.

Every step body appends ``<execution id> <step key> <attempt>`` to ``RUN_LOG`` when it
starts, so the test can count how often each step really ran and compare that with
the journal. Bodies take a few milliseconds (``WORK``) so that kills land inside them
too. Some items fail their first attempt, so retries (durable timers) are in flight
when a process dies.
"""

from __future__ import annotations

import asyncio
import time

from pydantic import BaseModel

from water import Flow, RetryPolicy, TaskContext, task

RUN_LOG = ""  # set by whoever runs the flow: the child from its arguments, the test
WORK = 0.01  # seconds of simulated work per step body

RETRY = RetryPolicy(max_attempts=3, backoff="fixed", delay="20ms")


class Num(BaseModel):
    value: int


class Batch(BaseModel):
    items: list[Num]


def record(ctx: TaskContext) -> None:
    """Log this run of a step body (one short append: a kill cannot split it)."""
    if RUN_LOG:
        with open(RUN_LOG, "a") as f:
            f.write(f"{ctx.execution_id} {ctx.step} {ctx.attempt}\n")


@task
def prepare(n: Num, ctx: TaskContext) -> Batch:
    record(ctx)
    time.sleep(WORK)
    return Batch(items=[Num(value=i) for i in range(n.value)])


@task(retry=RETRY)
def square(n: Num, ctx: TaskContext) -> Num:
    record(ctx)
    time.sleep(WORK)
    if n.value % 3 == 0 and ctx.attempt == 1:
        raise ConnectionError("flaky upstream")
    return Num(value=n.value * n.value)


@task
async def total(xs: list[Num], ctx: TaskContext) -> Num:
    record(ctx)
    await asyncio.sleep(WORK)
    return Num(value=sum(x.value for x in xs))


@task
def double(n: Num, ctx: TaskContext) -> Num:
    record(ctx)
    time.sleep(WORK)
    return Num(value=n.value * 2)


@task(retry=RETRY)
async def bump(n: Num, ctx: TaskContext) -> Num:
    record(ctx)
    await asyncio.sleep(WORK)
    if n.value % 2 == 0 and ctx.attempt == 1:
        raise ConnectionError("flaky upstream")
    return Num(value=n.value + 1)


@task
def combine(pair: list[Num], ctx: TaskContext) -> Num:
    record(ctx)
    time.sleep(WORK)
    size = len(ctx.output_of(prepare).items)
    return Num(value=pair[0].value + pair[1].value + size)


@task
def halve(n: Num, ctx: TaskContext) -> Num:
    record(ctx)
    time.sleep(WORK)
    return Num(value=n.value // 2)


def chaos_flow() -> Flow:
    return (
        Flow("chaos")
        .then(prepare)
        .for_(square, concurrency=4)
        .then(total)
        .parallel([double, bump])
        .then(combine)
        .while_(lambda v: v.value > 50, halve, max_iterations=100)
    )


def expected(n: int) -> Num:
    """What ``chaos_flow`` must answer for input ``n``, computed without Water."""
    squares = sum(i * i for i in range(n))
    value = 2 * squares + squares + 1 + n
    while value > 50:
        value //= 2
    return Num(value=value)


def batch(index: int, size: int) -> list[tuple[str, int]]:
    """The executions (id, input) that the child process number ``index`` starts."""
    return [(f"chaos-{index}-{j}", 6 + (index * 7 + j) % 5) for j in range(size)]
