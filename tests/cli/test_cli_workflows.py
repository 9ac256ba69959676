"""Code-first workflows in a flows file: validated, run and drawn like flows."""

from __future__ import annotations

import json

from water.cli import app

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
    alone = invoke(runner, "graph", write(WORKFLOWS), "twice").stdout.splitlines()
    assert alone[0] == "flowchart TD" and '[["workflow twice"]]' in alone[2]
