"""The dashboard's Mermaid reader (``water/server/ui/graph.js``) on what ``water.graph`` writes
for Dags, run in Node.js: every node, edge and subgraph is read, and the layout ranks a
task below its dependencies.

Without ``node`` on PATH the test is skipped, saying so, except under ``CI=true``.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from water import Dag, Flow, task, workflow
from water.graph import to_mermaid

GRAPH_JS = Path(__file__).resolve().parents[2] / "water" / "server" / "ui" / "graph.js"
NODE = shutil.which("node")

READ = """
import { parseMermaid, layout } from %s;
import { readFileSync } from "node:fs";
const graph = parseMermaid(readFileSync(0, "utf8"));
const drawn = layout(graph, (text) => text.length * 7);
console.log(JSON.stringify({
  nodes: [...graph.nodes.values()].map((n) => ({
    label: n.label, shape: n.shape, cluster: n.cluster,
  })),
  edges: graph.edges.length,
  clusters: [...graph.clusters.values()].map((c) => c.label),
  y: Object.fromEntries(drawn.nodes.filter((n) => !n.dummy).map((n) => [n.label, n.y])),
}));
"""


@pytest.fixture(scope="module", autouse=True)
def node_available() -> None:
    if NODE is None:
        if os.environ.get("CI") == "true":
            pytest.fail("the dashboard's graph reader test must run under CI: node is missing")
        pytest.skip("node is not installed (apt-get install nodejs)")


def read(mermaid: str) -> dict[str, Any]:
    assert NODE is not None
    script = READ % json.dumps(GRAPH_JS.as_uri())
    done = subprocess.run(
        [NODE, "--input-type=module", "-e", script],
        input=mermaid,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


@task
def extract(n: int) -> int:
    return n


@task
def clean(extract: int) -> int:
    return extract


@task
def enrich(extract: int) -> int:
    return extract


@task
def report(clean: int, enrich: int) -> int:
    return clean + enrich


@workflow(id="audit")
async def audit(n: int) -> int:
    return n


def etl() -> Dag:
    return (
        Dag("etl")
        .add(extract)
        .add(clean, depends_on=["extract"])
        .add(enrich, depends_on=["extract"])
        .add(report, depends_on=["clean", "enrich"])
    )


def written(mermaid: str) -> tuple[list[str], int, int]:
    """The node labels, edges and subgraphs in the text, as graph.py writes them."""
    labels = re.findall(r'^\s*n\d+[\[{(/]+"(.*)"[\]})/]+$', mermaid, re.MULTILINE)
    edges = re.findall(r"^\s*n\d+ -->", mermaid, re.MULTILINE)
    subgraphs = re.findall(r"^\s*subgraph ", mermaid, re.MULTILINE)
    return labels, len(edges), len(subgraphs)


def test_a_dags_graph_is_read_whole_and_ranked_by_its_dependencies():
    mermaid = to_mermaid(etl())
    labels, edges, _ = written(mermaid)
    graph = read(mermaid)
    assert sorted(n["label"] for n in graph["nodes"]) == sorted(labels)
    assert {n["shape"] for n in graph["nodes"] if n["label"] in ("start", "end")} == {"circle"}
    assert graph["edges"] == edges == 6
    y = graph["y"]
    assert y["start"] < y["extract"] < y["clean"] == y["enrich"] < y["report"] < y["end"]


def test_a_dag_nested_in_a_flow_is_a_subgraph_and_a_workflow_in_it_a_subroutine_box():
    dag = Dag("checks").add(extract).add(audit, depends_on=["extract"]).add(clean, ["extract"])
    mermaid = to_mermaid(Flow("nightly").then(etl()).then(dag))
    labels, edges, subgraphs = written(mermaid)
    graph = read(mermaid)
    assert sorted(n["label"] for n in graph["nodes"]) == sorted(labels)
    assert graph["edges"] == edges
    assert graph["clusters"] == ["dag etl", "dag checks"] and subgraphs == 2
    shapes = {n["label"]: n["shape"] for n in graph["nodes"]}
    assert shapes["workflow audit"] == "subroutine"
    assert shapes["all done"] == "hexagon"
    inside = {n["label"] for n in graph["nodes"] if n["cluster"] is not None}
    assert {"extract", "clean", "enrich", "report", "workflow audit"} <= inside
