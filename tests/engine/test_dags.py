"""Dags on a real engine: concurrent tasks, the sinks' outputs, nesting, a SIGKILL restart."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from pydantic import BaseModel

from water import Dag, Engine, ExecutionFailedError, Flow, task
from water.storage import SQLiteStorage

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from dagflows import BLOCK, Num, Totals, etl, nightly  # noqa: E402


class Raw(BaseModel):
    rows: list[int]


class Clean(BaseModel):
    rows: list[int]


class Stats(BaseModel):
    total: int


class Report(BaseModel):
    text: str


def test_the_two_middle_tasks_of_a_diamond_run_at_the_same_time(engine):
    # each middle task waits for the other inside its body: they pass only if they overlap
    both = threading.Barrier(2, timeout=10)

    @task
    def extract(n: int) -> Raw:
        return Raw(rows=list(range(n)))

    @task
    def clean(extract: Raw) -> Clean:
        both.wait()
        return Clean(rows=[r for r in extract.rows if r % 2 == 0])

    @task
    async def enrich(extract: Raw) -> Stats:
        await asyncio.to_thread(both.wait)
        return Stats(total=sum(extract.rows))

    @task
    def report(clean: Clean, enrich: Stats) -> Report:
        return Report(text=f"{len(clean.rows)} rows, total {enrich.total}")

    dag = (
        Dag("etl")
        .add(extract)
        .add(clean, depends_on=["extract"])
        .add(enrich, depends_on=["extract"])
        .add(report, depends_on=["clean", "enrich"])
    )
    ref = engine.start(dag, 5)
    assert ref.result(timeout=30) == {"report": Report(text="3 rows, total 10")}
    view = ref.status()
    assert view.output == {"report": {"text": "3 rows, total 10"}}
    assert sorted(view.completed_steps) == ["0.clean", "0.enrich", "0.extract", "0.report"]
    assert view.completed_steps[0] == "0.extract" and view.completed_steps[-1] == "0.report"


def test_the_output_is_every_sink_by_task_id(engine):
    @task
    def double(n: int) -> int:
        return n * 2

    @task
    def square(double: int) -> int:
        return double * double

    @task
    def negate(double: int) -> int:
        return -double

    dag = Dag("fan").add(double).add(square, ["double"]).add(negate, ["double"])
    assert engine.start(dag, 3).result(timeout=30) == {"square": 36, "negate": -6}


def test_a_failing_task_fails_the_dag_naming_its_step(engine):
    @task
    def first(n: int) -> int:
        return n

    @task
    def broken(first: int) -> int:
        raise ValueError("no such table")

    ref = engine.start(Dag("failing").add(first).add(broken, ["first"]), 1)
    with pytest.raises(ExecutionFailedError) as caught:
        ref.result(timeout=30)
    assert caught.value.error is not None and caught.value.error.step == "0.broken"


def test_a_dag_nested_in_a_flow_runs_as_its_child_execution(engine):
    flow = nightly()
    ref = engine.start(flow, Num(value=1))
    assert ref.result(timeout=30) == Num(value=43)
    child = engine.ref(f"{ref.execution_id}/1.etl").status()
    assert (child.flow_id, child.parent_id, child.status) == ("etl", ref.execution_id, "completed")
    assert child.output == {"report": {"cleaned": 21, "enriched": 22}}
    assert [r.execution_id for r in engine.list_executions(flow_id="etl")] == [child.execution_id]


def test_a_flow_inside_a_dag_runs_as_its_child_execution(engine):
    @task
    def add_one(n: int) -> int:
        return n + 1

    inner = Flow("twice").then(add_one).then(add_one)
    dag = Dag("outer").add(add_one).add(inner, depends_on=["add_one"])
    ref = engine.start(dag, 1)
    assert ref.result(timeout=30) == {"twice": 4}
    assert engine.ref(f"{ref.execution_id}/0.twice").status().output == 4


def test_a_dag_runs_once_on_its_own(tmp_path):
    assert etl().run(Num(value=2)) == {"report": Totals(cleaned=21, enriched=22)}


# -- a SIGKILL in the middle of a Dag nested in a flow ------------------------------------
def completed_steps(db: Path, execution_id: str) -> set[str]:
    async def read() -> set[str]:
        storage = SQLiteStorage(db)
        await storage.initialize()
        try:
            events = await storage.load_events(execution_id)
        finally:
            await storage.close()
        return {e.key for e in events if e.type == "step_completed"}

    return asyncio.run(read())


def test_a_dag_nested_in_a_flow_survives_a_sigkill_and_resumes_in_a_new_process(
    tmp_path, monkeypatch
):
    db, run_log = tmp_path / "dag.db", tmp_path / "runs.log"
    monkeypatch.setenv("WATER_TEST_RUN_LOG", str(run_log))
    child = subprocess.Popen(
        [sys.executable, str(HERE / "dag_crash_child.py"), str(db), "ex-dag"],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, BLOCK: "1"},
    )
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith("BLOCKED"):  # clean runs: extract's output is durable
                break
        else:
            raise AssertionError("the child exited before clean ran")
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=30)
        if child.stdout is not None:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL

    inner = "ex-dag/1.etl"
    durable = completed_steps(db, inner)
    assert "0.extract" in durable and "0.clean" not in durable
    with Engine(f"sqlite:///{db}", flows=[nightly()]) as engine:
        assert engine.ref("ex-dag").result(timeout=60) == Num(value=43)
        assert engine.ref(inner).status().parent_id == "ex-dag"

    runs = collections.Counter(tuple(line.split()[:2]) for line in run_log.read_text().splitlines())
    assert runs[("ex-dag", "0.prep")] == 1 and runs[("ex-dag", "2.publish")] == 1
    assert runs[(inner, "0.clean")] == 2  # killed in its body, then run again
    again = {k for k in durable if runs[(inner, k)] != 1}
    assert not again, f"completed steps ran again after the restart: {sorted(again)}"
    assert runs[(inner, "0.report")] == 1


# -- recovery by hand: a failed Dag retried, a Dag forked from a task ----------------------
def test_a_dag_forked_from_a_task_reruns_that_task_and_what_depends_on_it(engine):
    runs: collections.Counter[str] = collections.Counter()
    broken = {"clean": True}

    @task
    def extract(n: int) -> int:
        runs["extract"] += 1
        return n

    @task
    def clean(extract: int, enrich: int) -> int:
        runs["clean"] += 1
        if broken["clean"]:
            raise ValueError("bad rows")
        return extract * enrich

    @task
    def enrich(extract: int) -> int:
        runs["enrich"] += 1
        return extract + 1

    @task
    def report(clean: int, enrich: int) -> int:
        runs["report"] += 1
        return clean + enrich

    dag = (
        Dag("forkable")
        .add(extract)
        .add(enrich, ["extract"])
        .add(clean, ["extract", "enrich"])
        .add(report, ["clean", "enrich"])
    )
    original = engine.start(dag, 2)
    with pytest.raises(ExecutionFailedError):
        original.result(timeout=30)
    assert runs["report"] == 0

    broken["clean"] = False
    fork = engine.fork(original.execution_id, from_step="0.clean")
    assert fork.result(timeout=30) == {"report": 9}  # clean = 2 * 3, report = 6 + 3
    # extract and enrich completed before the failing task: carried over, not run again
    assert runs == {"extract": 1, "enrich": 1, "clean": 2, "report": 1}
    assert fork.status().forked_from == original.execution_id
    assert engine.ref(original.execution_id).status().status == "failed"  # left as it was
