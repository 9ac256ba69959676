"""A nightly ETL as a DAG: tasks with ``depends_on``, run as soon as their inputs exist.

``extract`` reads the day's orders; ``clean`` and ``enrich`` both need them and run at
the same time; ``report`` needs both (one parameter each); ``archive`` needs only the
cleaned rows, so it starts as soon as ``clean`` is done, whether ``enrich`` is or not.
The Dag then runs inside a flow, as its own child execution.

Run it with ``python examples/etl_dag.py``.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from pydantic import BaseModel

from water import Dag, Engine, Flow, RetryPolicy, TaskContext, task
from water.graph import to_mermaid


class Day(BaseModel):
    date: str


class Orders(BaseModel):
    date: str
    amounts: list[float]


class Totals(BaseModel):
    count: int
    revenue: float


class Report(BaseModel):
    date: str
    orders: int
    revenue: float
    biggest: float


class Archived(BaseModel):
    path: str


class Published(BaseModel):
    summary: str


@task
def extract(day: Day) -> Orders:
    """Read the day's orders (a fixed sample here)."""
    return Orders(date=day.date, amounts=[12.5, -1.0, 40.0, 7.25, 0.0, 99.9])


@task(retry=RetryPolicy(max_attempts=3, delay="100ms"))
def clean(extract: Orders, ctx: TaskContext) -> Orders:
    """Drop refunds and empty orders."""
    time.sleep(0.2)  # some work: enrich runs meanwhile
    ctx.logger.info("cleaning %d orders", len(extract.amounts))
    return Orders(date=extract.date, amounts=[a for a in extract.amounts if a > 0])


@task
async def enrich(extract: Orders) -> Totals:
    """Totals over every order, refunds included."""
    return Totals(count=len(extract.amounts), revenue=sum(extract.amounts))


@task
def report(clean: Orders, enrich: Totals) -> Report:
    """Needs both: one parameter per dependency, named after it."""
    return Report(
        date=clean.date,
        orders=len(clean.amounts),
        revenue=round(enrich.revenue, 2),
        biggest=max(clean.amounts),
    )


@task
def archive(clean: Orders) -> Archived:
    """Needs only the cleaned orders: it does not wait for enrich."""
    return Archived(path=f"/archive/{clean.date}.json")


etl = (
    Dag("etl", "Nightly ETL", concurrency=4)
    .add(extract)
    .add(clean, depends_on=["extract"])
    .add(enrich, depends_on=["extract"])
    .add(report, depends_on=["clean", "enrich"])
    .add(archive, depends_on=["clean"])
)


class EtlOutput(BaseModel):
    report: Report
    archive: Archived


@task
def publish(out: EtlOutput) -> Published:
    r = out.report
    return Published(
        summary=f"{r.date}: {r.orders} orders, {r.revenue} revenue (archived to {out.archive.path})"
    )


nightly = Flow("nightly", "the ETL, then publish").then(etl).then(publish)


def main() -> None:
    print(to_mermaid(etl))
    print("one-shot, in memory:", etl.run(Day(date="2025-01-31")))

    db = Path(tempfile.mkdtemp()) / "etl.db"
    with Engine(f"sqlite:///{db}", flows=[nightly]) as engine:
        ref = engine.start(nightly, {"date": "2025-01-31"})
        print(f"durable run {ref.execution_id}: {ref.result(timeout=30).summary}")
        child = engine.ref(f"{ref.execution_id}/0.etl").status()
        print(f"  the Dag ran as {child.execution_id}: {child.status}")
        for step in child.steps:
            assert step.started_at is not None and step.finished_at is not None
            took = (step.finished_at - step.started_at).total_seconds()
            print(f"    {step.key:<10} {step.status:<9} {took:.3f}s")


if __name__ == "__main__":
    main()
