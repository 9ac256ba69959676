"""Order processing: retries, a circuit breaker, a saga rollback and a human approval.

``python examples/orders.py`` runs three orders: a small one that ships, a large
one that waits for a manager's approval, and one whose shipping fails for good,
so that the payment and the stock reservation are compensated.

Serve the same flow over HTTP with ``water dev examples/orders.py``.
"""

from __future__ import annotations

import random
import tempfile
from pathlib import Path

from pydantic import BaseModel

from water import (
    CircuitBreaker,
    Engine,
    FatalError,
    Flow,
    Resume,
    RetryPolicy,
    TaskContext,
    task,
)


class Order(BaseModel):
    order_id: str
    amount: float
    items: list[str]


class Approval(BaseModel):
    approved: bool
    by: str


payments = CircuitBreaker(failure_threshold=5, reset_timeout="30s", name="payments")
flaky = random.Random(42)


def release_stock(order: Order, _: Order, ctx: TaskContext) -> None:
    ctx.logger.info("releasing stock of %s", order.order_id)


@task(compensate=release_stock)
def reserve_stock(order: Order) -> Order:
    return order


def refund(order: Order, _: Order, ctx: TaskContext) -> None:
    # the idempotency key is the same for every attempt of this step
    ctx.logger.info("refunding %s (key %s)", order.order_id, ctx.idempotency_key)


@task(
    retry=RetryPolicy(max_attempts=5, backoff="exponential", delay="20ms", jitter="10ms"),
    circuit_breaker=payments,
    compensate=refund,
    timeout="5s",
)
async def charge_card(order: Order, ctx: TaskContext) -> Order:
    if flaky.random() < 0.3:  # the payment provider is flaky
        raise ConnectionError("payment provider timed out")
    ctx.logger.info("charged %.2f for %s (attempt %d)", order.amount, order.order_id, ctx.attempt)
    return order


@task(resume_model=Approval)
async def manager_approval(order: Order, ctx: TaskContext) -> Order:
    if order.amount < 1_000:
        return order
    decision = await ctx.suspend({"order": order.order_id, "amount": order.amount})
    if not decision.approved:
        raise FatalError(f"order {order.order_id} rejected by {decision.by}")
    return order


@task
def ship(order: Order) -> Order:
    if "fragile-glass" in order.items:
        raise FatalError("no carrier accepts fragile glass")
    return order


orders = (
    Flow("orders", "Reserve, charge, approve and ship an order")
    .then(reserve_stock)
    .then(charge_card)
    .then(manager_approval)
    .then(ship)
)


def main() -> None:
    db = Path(tempfile.mkdtemp()) / "orders.db"
    with Engine(f"sqlite:///{db}", flows=[orders]) as engine:
        small = engine.start(orders, Order(order_id="A-1", amount=40, items=["book"]))
        large = engine.start(orders, Order(order_id="A-2", amount=2_500, items=["sofa"]))
        broken = engine.start(orders, Order(order_id="A-3", amount=90, items=["fragile-glass"]))

        print("A-1 shipped:", small.result(timeout=30).order_id)

        waiting = large.wait_for_status("waiting", timeout=30)
        print("A-2 waits for approval:", waiting.suspended)
        large.ask(Resume({"approved": True, "by": "maria"}))
        print("A-2 shipped:", large.result(timeout=30).order_id)

        try:
            broken.result(timeout=30)
        except Exception as exc:
            snap = broken.status()
            print("A-3 failed:", exc)
            for step in snap.compensation:
                print(f"  rolled back {step.key}: {step.status}")
        print("breakers:", engine.circuit_breakers())


if __name__ == "__main__":
    main()
