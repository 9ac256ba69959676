"""Flows with a Dag for the engine tests; imported by the test and by the child it kills."""

from __future__ import annotations

import os
import threading

from pydantic import BaseModel

from water import Dag, Flow, TaskContext, task

BLOCK = "WATER_TEST_BLOCK_CLEAN"
"""Set in the child's environment: ``clean`` says BLOCKED and waits to be killed."""


class Num(BaseModel):
    value: int


class Totals(BaseModel):
    cleaned: int
    enriched: int


class EtlOutput(BaseModel):
    report: Totals


def record(ctx: TaskContext) -> None:
    """Log every run of a step body (both processes append to the same file)."""
    log = os.environ.get("WATER_TEST_RUN_LOG")
    if log:
        with open(log, "a") as f:
            f.write(f"{ctx.execution_id} {ctx.step} {ctx.attempt}\n")


@task
def prep(n: Num, ctx: TaskContext) -> Num:
    record(ctx)
    return Num(value=n.value + 1)


@task
def extract(n: Num, ctx: TaskContext) -> Num:
    record(ctx)
    return Num(value=n.value * 10)


@task
def clean(n: Num, ctx: TaskContext) -> Num:
    record(ctx)
    if os.environ.get(BLOCK):
        print("BLOCKED", flush=True)
        threading.Event().wait()  # the parent kills the process here
    return Num(value=n.value + 1)


@task
def enrich(n: Num, ctx: TaskContext) -> Num:
    record(ctx)
    return Num(value=n.value + 2)


@task
def report(clean: Num, enrich: Num, ctx: TaskContext) -> Totals:
    record(ctx)
    return Totals(cleaned=clean.value, enriched=enrich.value)


@task
def publish(out: EtlOutput, ctx: TaskContext) -> Num:
    record(ctx)
    return Num(value=out.report.cleaned + out.report.enriched)


def etl() -> Dag:
    return (
        Dag("etl", "extract, clean and enrich, report")
        .add(extract)
        .add(clean, depends_on=["extract"])
        .add(enrich, depends_on=["extract"])
        .add(report, depends_on=["clean", "enrich"])
    )


def nightly() -> Flow:
    """prep, the Dag (a child execution), publish: 1 -> 2 -> 20 -> (21, 22) -> 43."""
    return Flow("nightly").then(prep).then(etl()).then(publish)
