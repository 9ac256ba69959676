"""A code-first workflow: plain async Python, run durably by replay.

Run it with ``python examples/code_first.py``. It starts an order workflow that
charges (retrying a flaky bank), sleeps durably, waits for a manager's signal,
ships the items concurrently and makes the invoice in a child workflow; then
it shows the journal the engine replays after a crash or a wait.
"""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

from pydantic import BaseModel

import water
from water import Engine, RetryPolicy, Signal, TaskContext, task, workflow


class Order(BaseModel):
    id: str
    items: list[str]


class Receipt(BaseModel):
    order_id: str
    amount: int


class Approval(BaseModel):
    ok: bool
    by: str


class Outcome(BaseModel):
    order_id: str
    tracking: str
    shipped: list[str]
    invoice: str
    approved_by: str


@task(retry=RetryPolicy(max_attempts=5, backoff="fixed", delay="100ms"))
def charge(order: Order, ctx: TaskContext) -> Receipt:
    if ctx.attempt < 3:  # the bank is flaky; the retry policy deals with it
        raise ConnectionError("the bank hung up")
    return Receipt(order_id=order.id, amount=12 * len(order.items))


@task
async def ship(item: str) -> str:
    return f"{item}: shipped"


@workflow(id="invoice")
async def make_invoice(receipt: Receipt) -> str:
    """A workflow called inside another one runs as its own child execution."""
    return f"invoice {receipt.order_id}: {receipt.amount} EUR"


@workflow(id="orders", version="2")
async def orders(order: Order) -> Outcome:
    receipt = await charge(order)  # a durable step
    await water.sleep("200ms")  # a durable timer: nothing waits in memory meanwhile
    approval = await water.wait_for_signal("approve", model=Approval, timeout="2d")
    shipped = await asyncio.gather(*(ship(i) for i in order.items))  # concurrent steps
    invoice = await make_invoice(receipt)
    tracking = f"TRK-{water.uuid4().hex[:8]}"  # drawn once, the same on every replay
    if water.patched("signed-invoices"):  # new executions take the new branch
        invoice += " (signed)"
    return Outcome(
        order_id=order.id,
        tracking=tracking,
        shipped=list(shipped),
        invoice=invoice,
        approved_by=approval.by if approval.ok else "nobody",
    )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'water.db'}"
        with Engine(url, flows=[orders]) as engine:
            ref = engine.start(orders, Order(id="A-1", items=["pen", "ink", "paper"]))
            snap = ref.wait_for_status("waiting", timeout=10)
            while "signal:approve" not in snap.waiting_for:  # first the sleep, then the signal
                snap = ref.wait_for_status("waiting", timeout=10)
            print("waiting for:", snap.waiting_for)
            ref.ask(Signal("approve", {"ok": True, "by": "ana"}))
            print("result:", ref.result(timeout=10))
            print("journal:")
            for event in engine.events(ref.execution_id):
                what = getattr(event, "key", None) or getattr(event, "timer", None) or ""
                print(f"  {event.seq:2} {event.type:20} {what}")


if __name__ == "__main__":
    main()
