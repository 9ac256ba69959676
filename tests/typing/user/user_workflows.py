"""Code-first workflows as a user writes them: awaiting a task call is typed."""

import asyncio
from typing import assert_type

from pydantic import BaseModel

import water
from water import RetryPolicy, TaskContext, task, workflow


class Order(BaseModel):
    id: str
    items: list[str]


class Receipt(BaseModel):
    order_id: str
    amount: int


class Approval(BaseModel):
    ok: bool


class Signup(BaseModel):
    email: str


class Progress(BaseModel):
    account_id: str = ""
    welcomed: bool = False


@task(retry=RetryPolicy(max_attempts=5))
async def charge(order: Order) -> Receipt:
    return Receipt(order_id=order.id, amount=len(order.items))


@task
async def ship(item: str) -> str:
    return f"{item}: shipped"


@task
def reserve(order: Order) -> Order:
    return order


@task
def reserve_stock(order: Order, ctx: TaskContext) -> int:
    return len(order.items)


@task
async def notify(receipt: Receipt, ctx: TaskContext) -> bool:
    return bool(ctx.idempotency_key)


@task
async def create_account(signup: Signup) -> str:
    return signup.email


@workflow(id="invoice")
async def make_invoice(receipt: Receipt) -> str:
    return f"invoice {receipt.order_id}"


@workflow
async def no_input() -> int:
    return 1


@workflow(id="orders", version="2")
async def orders(order: Order) -> Receipt:
    receipt = await charge(order)
    assert_type(receipt, Receipt)
    shipped = await asyncio.gather(*(ship(i) for i in order.items))
    assert_type(shipped, list[str])
    invoice = await make_invoice(receipt)  # a child execution
    assert_type(invoice, str)
    assert_type(await no_input(), int)
    approval = await water.wait_for_signal("approve", model=Approval, timeout="2d")
    assert_type(approval, Approval)
    await water.sleep("10m")
    # a task that takes the context is called with its input alone: a durable step
    assert_type(await reserve_stock(order), int)
    assert_type(await notify(receipt), bool)
    await reserve_stock(receipt)  # E: No overload variant of "__call__" of "FunctionTask"
    await charge("A-1")  # E: has incompatible type "str"; expected "Order"  [arg-type]
    await make_invoice(order)  # E: has incompatible type "Order"; expected "Receipt"  [arg-type]
    # a plain `def` task without the context is typed as the plain function:
    # awaiting it is an error (the call is the step; its type is the function's)
    await reserve(order)  # E: Incompatible types in "await"  [misc]
    return receipt


@workflow
async def wrong_return(order: Order) -> Receipt:
    return await ship("x")  # E: Incompatible return value type (got "str", expected "Receipt")


class Onboarding(water.Workflow[Signup, Progress]):
    id = "onboarding"

    @water.step
    async def create(self, ctx: water.WorkflowContext[Signup, Progress]) -> None:
        ctx.state.account_id = await create_account(ctx.input)

    @water.step
    async def welcome(self, ctx: water.WorkflowContext[Signup, Progress]) -> None:
        await ctx.sleep("1d")
        ctx.state.welcomed = True
