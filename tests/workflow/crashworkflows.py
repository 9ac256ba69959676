"""Workflows for the crash tests; imported by the tests and by the child process they kill."""

from __future__ import annotations

import os
import time

from pydantic import BaseModel

import water
from water import Flow, TaskContext, task, workflow

RUN_LOG = os.environ.get("WATER_TEST_RUN_LOG", "")


class Num(BaseModel):
    value: int


class Total(BaseModel):
    token: str
    total: int


def record(ctx: TaskContext) -> None:
    """Log every run of a step body (both processes append to the same file)."""
    line = f"{ctx.execution_id} {ctx.step} {ctx.attempt}\n"
    if RUN_LOG:
        with open(RUN_LOG, "a") as f:
            f.write(line)
    print(line, end="", flush=True)
    time.sleep(0.002)  # simulated work, so that a kill lands mid-workflow


@task
def square(n: Num, ctx: TaskContext) -> Num:
    record(ctx)
    return Num(value=n.value * n.value)


@workflow(id="sums")
async def sums(n: Num) -> Total:
    token = water.uuid4()
    total = 0
    for i in range(n.value):
        total += (await square(Num(value=i))).value
    return Total(token=str(token), total=total)


class Signup(BaseModel):
    email: str


class Progress(BaseModel):
    account: str | None = None
    plan: str | None = None


@task
def open_account(s: Signup, ctx: TaskContext) -> str:
    record(ctx)
    return f"acct-{s.email}"


class Onboarding(water.Workflow[Signup, Progress]):
    id = "onboarding"

    @water.step
    async def create(self, ctx: water.WorkflowContext[Signup, Progress]) -> None:
        ctx.state.account = await open_account(ctx.input)

    @water.step
    async def choose_plan(self, ctx: water.WorkflowContext[Signup, Progress]) -> None:
        ctx.state.plan = await ctx.wait_for_signal("plan")


nested_sums = Flow("nested-sums").then(sums)  # a workflow nested in a flow

WORKFLOWS = {"sums": sums, "onboarding": Onboarding, "nested": nested_sums}
