"""Water quickstart: typed tasks, a fluent flow, and a durable run.

Run it with ``make demo`` (or ``python examples/quickstart.py``).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from pydantic import BaseModel

from water import Engine, Flow, Task, TaskContext, task


class Number(BaseModel):
    value: int


class Numbers(BaseModel):
    values: list[Number]


class DoubleTask(Task[Number, Number]):
    """A task as a class: models in, models out, async or plain ``def``."""

    def __init__(self) -> None:
        super().__init__("double", "Double the input value", Number, Number)

    async def execute(self, input_data: Number, context: TaskContext) -> Number:
        context.logger.info("doubling %s", input_data.value)
        return Number(value=input_data.value * 2)


@task
def add_ten(n: Number) -> Number:
    """A task as a function: the models come from the annotations."""
    return Number(value=n.value + 10)


@task
def negate(n: Number) -> Number:
    return Number(value=-n.value)


@task
def total(results: list[Number]) -> Number:
    return Number(value=sum(r.value for r in results))


@task
def spread(n: Number) -> Numbers:
    return Numbers(values=[Number(value=i) for i in range(n.value)])


@task
async def square(n: Number) -> Number:
    return Number(value=n.value * n.value)


flow = (
    Flow("quickstart", "Double, branch, fan out, loop")
    .then(DoubleTask())
    .branch([[lambda n: n.value > 10, add_ten], [lambda n: n.value < 0, negate]])
    .parallel([DoubleTask(), add_ten])
    .then(total)
    .then(spread)
    .for_(square, concurrency=8)
    .then(total)
    .while_(lambda n: n.value < 5_000, DoubleTask(), max_iterations=20)
)


def main() -> None:
    print("one-shot, in memory:", flow.run(Number(value=3)))

    db = Path(tempfile.mkdtemp()) / "quickstart.db"
    with Engine(f"sqlite:///{db}", flows=[flow]) as engine:
        ref = engine.start(flow, {"value": 3})
        result = ref.result(timeout=30)
        snapshot = ref.status()
        print(f"durable run {ref.execution_id}: {result}")
        print(f"  status={snapshot.status} steps={len(snapshot.completed_steps)}")
        print(f"  journal: {len(engine.events(ref.execution_id))} events in {db}")


if __name__ == "__main__":
    main()
