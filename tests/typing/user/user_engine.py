"""Starting and awaiting executions: the ref knows the output type where it is known."""

from typing import Any, assert_type

from user_tasks import Num, double
from user_workflows import Onboarding, Order, Progress, Receipt, orders

from water import Engine, ExecutionRef, Flow

numbers = Flow("numbers").then(double)


def run(engine: Engine) -> None:
    ref = engine.start(orders, {"id": "A-1", "items": ["pen"]})  # a dict or a model
    assert_type(ref, ExecutionRef[Receipt])
    assert_type(ref.result(timeout=60), Receipt)
    again = engine.start(orders, Order(id="A-2", items=[]), execution_id="A-2")
    assert_type(again, ExecutionRef[Receipt])
    batch = engine.start_many(orders, [{"id": "A-3", "items": []}])
    assert_type(batch, list[ExecutionRef[Receipt]])
    assert_type(engine.start(Onboarding, {"email": "a@b.c"}).result(), Progress)

    # a fluent Flow's output type is not known statically; a ref by id neither
    assert_type(engine.start(numbers, Num(value=1)).result(), Any)
    assert_type(engine.start("orders", {}).result(), Any)
    assert_type(engine.ref("A-1"), ExecutionRef[Any])
    untyped: ExecutionRef = engine.ref("A-1")  # a bare ExecutionRef is ExecutionRef[Any]
    assert_type(untyped, ExecutionRef[Any])

    engine.start(double, Num(value=1))  # E: No overload variant of "start" of "Engine" matches


def total(ref: ExecutionRef[Receipt]) -> int:
    return ref.result()  # E: Incompatible return value type (got "Receipt", expected "int")


async def run_async(engine: Engine) -> None:
    ref = await engine.start_async(orders, Order(id="A-1", items=[]))
    assert_type(ref, ExecutionRef[Receipt])
    assert_type(await ref.wait(timeout=60), Receipt)
    state = await (await engine.start_async(Onboarding, {"email": "a@b.c"})).wait()
    assert_type(state, Progress)
