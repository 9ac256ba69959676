"""``water validate``, ``water graph`` and ``water run`` over a flows file with Dags."""

from __future__ import annotations

import json
import re

from water.cli import app

DAGS = """
from pydantic import BaseModel

from water import Dag, Flow, task


class Num(BaseModel):
    value: int


@task
def extract(n: Num) -> Num:
    return Num(value=n.value + 1)


@task
def clean(extract: Num) -> Num:
    return Num(value=extract.value * 2)


@task
def enrich(extract: Num) -> Num:
    return Num(value=extract.value * 10)


@task
def report(clean: Num, enrich: Num) -> Num:
    return Num(value=clean.value + enrich.value)


etl = (
    Dag("etl", "extract, clean and enrich, report")
    .add(extract)
    .add(clean, depends_on=["extract"])
    .add(enrich, depends_on=["extract"])
    .add(report, depends_on=["clean", "enrich"])
)
nightly = Flow("nightly").then(extract).then(etl)
"""

BROKEN = """
from water import Dag, task


@task
def a(n: int) -> int:
    return n


@task
def b(a: int, c: int) -> int:
    return a


broken = Dag("broken").add(a).add(b, depends_on=["a", "missing"]).add(a)
"""


def invoke(runner, *args: str):
    return runner.invoke(app, [str(a) for a in args])


def test_validate_checks_dags_and_names_their_tasks(runner, write):
    result = invoke(runner, "validate", write(DAGS))
    assert result.exit_code == 0, result.output
    assert "✓ etl (4 steps)" in result.output
    assert "✓ nightly (2 steps)" in result.output

    result = invoke(runner, "validate", write(BROKEN, "broken.py"))
    assert result.exit_code == 1
    out = result.output
    assert "✗ broken" in out
    assert "ids ['a'] each name several tasks" in out
    assert "task 'b' depends on 'missing', which is not in the dag" in out
    assert "Traceback" not in out


def test_graph_draws_a_dag_with_an_edge_per_dependency(runner, write):
    result = invoke(runner, "graph", write(DAGS), "etl")
    assert result.exit_code == 0, result.output
    names = dict(re.findall(r'^\s*(n\d+)\["(\w+)"\]$', result.stdout, re.MULTILINE))
    edges = {
        (names.get(a, a), names.get(b, b))
        for a, b in re.findall(r"^\s*(n\d+) --> (n\d+)$", result.stdout, re.MULTILINE)
    }
    assert {
        ("extract", "clean"),
        ("extract", "enrich"),
        ("clean", "report"),
        ("enrich", "report"),
    } <= edges

    nested = invoke(runner, "graph", write(DAGS), "nightly")
    assert re.search(r'subgraph \w+\["dag etl"\]', nested.stdout), nested.stdout


def test_run_prints_the_output_of_the_sinks(runner, write, tmp_path):
    db = tmp_path / "water.db"
    result = invoke(runner, "run", write(DAGS), "etl", "-i", '{"value": 1}', "--db", db)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"report": {"value": 24}}
