"""Dags as a user writes them: a task of several parameters keeps its typed call."""

from typing import Any, assert_type

from pydantic import BaseModel

from water import Dag, Engine, ExecutionRef, TaskContext, task


class Rows(BaseModel):
    rows: list[int]


class Stats(BaseModel):
    total: int


class Report(BaseModel):
    text: str


@task
def extract(n: int) -> Rows:
    return Rows(rows=list(range(n)))


@task
def clean(extract: Rows) -> Rows:
    return extract


@task
def enrich(extract: Rows) -> Stats:
    return Stats(total=sum(extract.rows))


@task
def report(clean: Rows, enrich: Stats, ctx: TaskContext) -> Report:
    return Report(text=f"{len(clean.rows)} rows, total {enrich.total}")


@task
async def summary(clean: Rows, enrich: Stats) -> str:
    return str(enrich.total)


etl = (
    Dag("etl", "Nightly ETL", concurrency=2)
    .add(extract)
    .add(clean, depends_on=["extract"])
    .add(enrich, depends_on=[extract])
    .add(report, depends_on=["clean", "enrich"])
    .add(summary, depends_on=("clean", "enrich"))
)
assert_type(etl, Dag)


def calls(ctx: TaskContext) -> None:
    assert_type(report(Rows(rows=[]), Stats(total=0), ctx), Report)
    assert_type(ctx.output_of(report), Report)
    assert_type(ctx.output_of(summary), str)
    report(Rows(rows=[]), Rows(rows=[]), ctx)  # E: incompatible type "Rows"; expected "Stats"
    etl.add(len)  # E: Argument 1 to "add" of "Dag" has incompatible type


def run(engine: Engine) -> None:
    assert_type(engine.start(etl, 3), ExecutionRef[Any])
