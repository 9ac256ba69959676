"""Tasks as a user writes them: the call keeps the function's signature."""

from collections.abc import Coroutine
from typing import Any, assert_type

from pydantic import BaseModel

from water import Flow, RetryPolicy, TaskContext, task


class Num(BaseModel):
    value: int


@task
def double(n: Num) -> Num:
    return Num(value=n.value * 2)


@task(id="add_ten", timeout="30s")
def add_ten(n: Num, ctx: TaskContext) -> Num:
    return Num(value=n.value + 10)


@task(retry=RetryPolicy(max_attempts=3))
async def describe(n: Num) -> str:
    return str(n.value)


@task
async def report(n: Num, ctx: TaskContext) -> str:
    first = ctx.output_of(double)
    assert_type(first, Num)
    assert_type(ctx.output_of(describe), str)
    return f"{first.value} -> {n.value}"


def plain_calls(ctx: TaskContext) -> None:
    assert_type(double(Num(value=1)), Num)
    assert_type(add_ten(Num(value=1), ctx), Num)
    pending: Coroutine[Any, Any, str] = describe(Num(value=1))  # an async def: a coroutine
    pending.close()
    double("x")  # E: has incompatible type "str"; expected "Num"  [arg-type]
    double(Num(value=1), ctx)  # E: Too many arguments  [call-arg]
    add_ten("x", ctx)  # E: No overload variant of "__call__" of "FunctionTask" matches
    add_ten(Num(value=1), ctx, 3)  # E: No overload variant  [call-overload]


def label(n: Num) -> int:
    return double(n)  # E: Incompatible return value type (got "Num", expected "int")


async def awaited(ctx: TaskContext) -> None:
    assert_type(await describe(Num(value=1)), str)
    assert_type(await report(Num(value=1), ctx=ctx), str)
    await double(Num(value=1))  # E: Incompatible types in "await"  [misc]


pipeline = Flow("pipeline").then(double).then(add_ten).then(describe)
