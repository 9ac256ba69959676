"""``TaskContext.output_of``: an earlier step's output, typed, reached by its task."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from water import (
    Engine,
    ExecutionFailedError,
    Flow,
    OutputNotFoundError,
    Signal,
    Task,
    TaskContext,
    WaterError,
    task,
)


class Order(BaseModel):
    order_id: str
    amount: int


class Quote(BaseModel):
    price: int


class Receipt(BaseModel):
    order_id: str
    paid: int


@task
def receive(order: Order) -> Order:
    return order


class PriceQuote(Task[Order, Quote]):
    def __init__(self) -> None:
        super().__init__("price_quote")

    def execute(self, input_data: Order, context: TaskContext) -> Quote:
        return Quote(price=input_data.amount * 2)


quote = PriceQuote()


@task
def tax(order: Order) -> int:
    return order.amount // 10


@task
def settle(_: object, ctx: TaskContext) -> Receipt:
    order = ctx.output_of(receive)  # two steps back, across a parallel and a signal
    price = ctx.output_of(quote)
    assert isinstance(order, Order) and isinstance(price, Quote)
    return Receipt(order_id=order.order_id, paid=price.price + ctx.output_of(tax))


def test_output_of_reads_an_earlier_step_typed_across_a_parallel_and_a_signal(tmp_path):
    flow = (
        Flow("checkout")
        .then(receive)
        .parallel([quote, tax])
        .wait_for_signal("confirmed")
        .then(settle)
    )
    with Engine(f"sqlite:///{tmp_path}/water.db", flows=[flow]) as engine:
        ref = engine.start(flow, {"order_id": "A-1", "amount": 40})
        ref.wait_for_status("waiting", timeout=10)
        ref.tell(Signal("confirmed"))
        assert ref.result(timeout=10) == Receipt(order_id="A-1", paid=84)


def test_output_of_a_nested_flow_is_its_output():
    inner = Flow("pricing").then(PriceQuote())

    @task
    def total(q: Quote, ctx: TaskContext) -> int:
        return ctx.output_of(inner).price + ctx.output_of(receive).amount

    flow = Flow("outer").then(receive).then(inner).then(total)
    assert flow.run({"order_id": "A-2", "amount": 5}) == 15


def test_output_of_a_task_that_has_not_completed_names_it():
    @task
    def later(order: Order) -> Order:
        return order

    @task
    def early(order: Order, ctx: TaskContext) -> Order:
        return ctx.output_of(later)

    with pytest.raises(ExecutionFailedError) as info:
        Flow("too-early").then(receive).then(early).then(later).run(
            {"order_id": "A-3", "amount": 1}
        )
    assert info.value.error.type == "OutputNotFoundError"
    assert "task 'later' has no completed step" in info.value.error.message
    assert "['receive']" in info.value.error.message
    assert issubclass(OutputNotFoundError, KeyError) and issubclass(OutputNotFoundError, WaterError)
