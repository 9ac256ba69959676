"""Code-first workflows in a flows file: validated, run and drawn like flows."""

from __future__ import annotations

import json
import textwrap

import pytest

from actors.messages import Signal
from water import Engine
from water.cli import app
from water.server.discovery import load_flows

WORKFLOWS = """
from pydantic import BaseModel

import water
from water import Flow, task, workflow


class Num(BaseModel):
    value: int


class Total(BaseModel):
    total: int = 0


@task
def inc(n: Num) -> Num:
    return Num(value=n.value + 1)


@workflow(id="twice")
async def twice(n: Num) -> Num:
    return Num(value=(await inc(n)).value * 2)


class Summed(water.Workflow[Num, Total]):
    id = "summed"

    @water.step
    async def add(self, ctx: water.WorkflowContext[Num, Total]) -> None:
        ctx.state.total = (await inc(ctx.input)).value


outer = Flow("outer").then(inc).then(twice)
"""

TOURED = (
    WORKFLOWS
    + """
import asyncio


@task
def double(n: Num) -> Num:
    return Num(value=n.value * 2)


@workflow(id="tour")
async def tour(n: Num) -> Num:
    a = await inc(n)
    b, c = await asyncio.gather(inc(a), double(a))
    if n.value < 0:
        return c
    d = await twice(b)
    await water.wait_for_signal("late", timeout="1h")
    await water.wait_for_signal("go")
    await water.sleep(0.01)
    await water.wait_for_signal("never", timeout=0.01, default=None)
    return Num(value=d.value + c.value)
"""
)


def invoke(runner, *args):
    return runner.invoke(app, [str(a) for a in args])


def test_validate_lists_the_workflows_of_a_flows_file(runner, write):
    result = invoke(runner, "validate", write(WORKFLOWS))
    assert result.exit_code == 0, result.output
    assert "✓ twice (0 steps)" in result.output
    assert "✓ summed (1 step)" in result.output
    assert "✓ outer (2 steps)" in result.output
    assert "3 flows valid" in result.output


def test_run_runs_a_workflow_and_a_flow_nesting_one(runner, write, tmp_path):
    path, db = write(WORKFLOWS), tmp_path / "water.db"
    result = invoke(runner, "run", path, "twice", "-i", '{"value": 1}', "--db", db)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"value": 4}
    result = invoke(runner, "run", path, "summed", "-i", '{"value": 1}', "--db", db)
    assert json.loads(result.stdout) == {"total": 2}
    result = invoke(runner, "run", path, "outer", "-i", '{"value": 1}', "--db", db)
    assert json.loads(result.stdout) == {"value": 6}


def test_graph_draws_a_nested_workflow_as_one_box(runner, write):
    result = invoke(runner, "graph", write(WORKFLOWS), "outer")
    assert result.exit_code == 0, result.output
    assert '[["workflow twice"]]' in result.stdout


def mermaid(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


TOUR = mermaid(
    """
    flowchart TD
        n1(("start"))
        n2["inc"]
        n1 --> n2
        n3{{"parallel"}}
        n2 --> n3
        n4{{"all done"}}
        n5["inc"]
        n3 --> n5
        n5 --> n4
        n6["double"]
        n3 --> n6
        n6 --> n4
        n7[["workflow twice"]]
        n4 --> n7
        n8[/"wait for signal 'late' (timeout 3600.0s)"/]
        n7 --> n8
        n9[/"wait for signal 'go'"/]
        n8 --> n9
        n10(["sleep 0.01s"])
        n9 --> n10
        n11[/"wait for a signal (timed out)"/]
        n10 --> n11
        n12(("end"))
        n11 --> n12
    """
)


@pytest.fixture
def toured(write, tmp_path):
    """A flows file and a database holding a finished execution of ``tour``."""
    path, db = write(TOURED), tmp_path / "water.db"
    engine = Engine(f"sqlite:///{db}", flows=load_flows(path))
    try:
        ref = engine.start("tour", {"value": 1})
        ref.wait_for_status("waiting")
        assert ref.ask(Signal("late", None)).waiting_for == ["signal:go"]
        ref.ask(Signal("go", None))
        assert ref.result(30).value == 12
        short = engine.start("tour", {"value": -2})
        short.result(30)
    finally:
        engine.shutdown()
    return path, db, ref.execution_id, short.execution_id


def test_graph_of_a_workflow_draws_what_an_execution_recorded(runner, toured):
    path, db, long, _ = toured
    result = invoke(runner, "graph", path, "tour", "--execution", long, "--db", db)
    assert result.exit_code == 0, result.output
    assert result.stdout == TOUR


def test_graph_of_a_workflow_draws_its_most_recent_execution(runner, toured):
    path, db, _, short = toured
    result = invoke(runner, "graph", path, "tour", "--db", db)
    assert result.exit_code == 0, result.output
    assert f"the most recent execution of tour: {short} (completed)" in result.stderr
    assert result.stdout == mermaid(
        """
        flowchart TD
            n1(("start"))
            n2["inc"]
            n1 --> n2
            n3{{"parallel"}}
            n2 --> n3
            n4{{"all done"}}
            n5["inc"]
            n3 --> n5
            n5 --> n4
            n6["double"]
            n3 --> n6
            n6 --> n4
            n7(("end"))
            n4 --> n7
        """
    )


def test_graph_of_a_workflow_says_it_needs_an_execution(runner, write, tmp_path):
    path = write(TOURED)
    for db in (tmp_path / "none.db", None):
        if db is None:  # a database without an execution of the workflow
            db = tmp_path / "water.db"
            assert (
                invoke(runner, "run", path, "twice", "-i", '{"value": 1}', "--db", db).exit_code
                == 0
            )
        result = invoke(runner, "graph", path, "tour", "--db", db)
        assert result.exit_code == 1
        assert (
            "workflow 'tour' is code: its steps are known from an execution only" in result.stderr
        )
        assert "--execution ID --db FILE" in result.stderr and not result.stdout


def test_graph_of_a_workflow_refuses_another_flows_execution(runner, toured):
    path, db, long, _ = toured
    other = invoke(runner, "graph", path, "twice", "--execution", long, "--db", db)
    assert other.exit_code == 1
    assert f"execution '{long}' runs 'tour', not workflow 'twice'" in other.stderr
    unknown = invoke(runner, "graph", path, "tour", "--execution", "nope", "--db", db)
    assert unknown.exit_code == 1 and "no execution 'nope'" in unknown.stderr
    flow = invoke(runner, "graph", path, "outer", "--execution", long, "--db", db)
    assert flow.exit_code == 1 and "outer is a flow" in flow.stderr
