"""Small flows the server tests run."""

from __future__ import annotations

import threading

from pydantic import BaseModel

from water import FatalError, Flow, TaskContext, task


class Num(BaseModel):
    value: int


class Approval(BaseModel):
    approved: bool


class Extra(BaseModel):
    extra: int


@task
def inc(n: Num) -> Num:
    """Add one."""
    return Num(value=n.value + 1)


@task
def double(n: Num) -> Num:
    return Num(value=n.value * 2)


@task
def explode(n: Num) -> Num:
    raise FatalError(f"cannot handle {n.value}")


@task(resume_model=Extra)
async def ask_human(n: Num, ctx: TaskContext) -> Num:
    extra = await ctx.suspend({"question": f"how much to add to {n.value}?"})
    return Num(value=n.value + extra.extra)


def is_big(n: Num) -> bool:
    return n.value > 100


def arithmetic() -> Flow:
    return Flow("arithmetic", "inc then double").then(inc).then(double)


def failing() -> Flow:
    return Flow("failing", "always fails").then(explode)


def approval() -> Flow:
    return Flow("approval", "waits for a signal").then(inc).wait_for_signal("approve", Approval)


def human() -> Flow:
    return Flow("human", "a suspended step").then(ask_human)


def nested() -> Flow:
    inner = Flow("inner").then(inc).then(double)
    return Flow("outer", "branch and nested flow").branch(
        [[is_big, double], [lambda n: True, inner]]
    )


class Gate:
    """A flow whose only step blocks until the test opens the gate."""

    def __init__(self) -> None:
        self.started = threading.Event()
        self.opened = threading.Event()

        @task(id="gated")
        def gated(n: Num) -> Num:
            self.started.set()
            assert self.opened.wait(10), "the test never opened the gate"
            return Num(value=n.value + 1)

        self.flow = Flow("gated").then(gated).then(inc)
