"""A Dag's graph in the dashboard: what ``water.graph`` writes for Dags, drawn by
``water/server/ui/graph.js`` in a real browser (Debian's chromium driven by Playwright):
every node, edge and subgraph is drawn, and a task sits below its dependencies.

The page is served by Playwright itself (no server); without chromium or playwright the
test is skipped, saying which is missing, except under ``CI=true``, where it fails.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from water import Dag, Flow, task, workflow
from water.graph import to_mermaid

try:
    from playwright.sync_api import Page, Route, sync_playwright
except ImportError:  # pragma: no cover - depends on the environment
    sync_playwright = None

CHROMIUM = os.environ.get("WATER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
UI = Path(__file__).resolve().parents[2] / "water" / "server" / "ui"
ORIGIN = "http://dashboard.test"
PAGE = """<!doctype html><meta charset="utf-8"><body>
<script type="module">
import { drawGraph } from "./graph.js";
window.drawGraph = drawGraph;
document.body.dataset.ready = "1";
</script>"""

DRAW = """(text) => {
  const svg = window.drawGraph(text, { title: "Graph" });
  document.body.replaceChildren(svg);
  const nodes = [...svg.querySelectorAll("g.node")].map((g) => ({
    label: g.dataset.label,
    shape: [...g.classList].find((c) => c.startsWith("shape-")).slice(6),
    top: g.dataset.top === "1",
    y: Number(g.querySelector("text").getAttribute("y")),
  }));
  const clusters = [...svg.querySelectorAll("g.cluster")].map((g) => g.dataset.label);
  return { nodes, clusters, edges: svg.querySelectorAll("path.edge").length };
}"""


def browser_missing() -> str | None:
    if sync_playwright is None:
        return "playwright is not installed (pip install -e '.[dev]')"
    if not Path(CHROMIUM).exists():
        return f"chromium is not installed at {CHROMIUM} (apt-get install chromium)"
    return None


def serve(route: Route) -> None:
    name = route.request.url.removeprefix(ORIGIN + "/")
    if name == "page.html":
        route.fulfill(body=PAGE, content_type="text/html")
    elif re.fullmatch(r"\w+\.js", name) and (UI / name).is_file():
        route.fulfill(body=(UI / name).read_text(), content_type="text/javascript")
    else:
        route.fulfill(status=404)


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    missing = browser_missing()
    if missing is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"the dashboard's graph test must run under CI: {missing}")
        pytest.skip(missing)
    assert sync_playwright is not None
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            tab = browser.new_page()
            errors: list[str] = []
            tab.on("pageerror", lambda error: errors.append(str(error)))
            tab.route(f"{ORIGIN}/**", serve)
            tab.goto(f"{ORIGIN}/page.html")
            tab.wait_for_selector("body[data-ready='1']", state="attached")
            yield tab
            assert errors == []
        finally:
            browser.close()


def draw(page: Page, mermaid: str) -> dict[str, Any]:
    drawn: dict[str, Any] = page.evaluate(DRAW, mermaid)
    return drawn


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


def test_a_dags_graph_is_drawn_whole_each_task_below_its_dependencies(page):
    mermaid = to_mermaid(etl())
    labels, edges, _ = written(mermaid)
    graph = draw(page, mermaid)
    assert sorted(n["label"] for n in graph["nodes"]) == sorted(labels)
    shapes = {n["label"]: n["shape"] for n in graph["nodes"]}
    assert shapes == {
        "start": "circle",
        "extract": "box",
        "clean": "box",
        "enrich": "box",
        "report": "box",
        "end": "circle",
    }
    assert graph["edges"] == edges == 6
    assert all(n["top"] for n in graph["nodes"])  # coloured by the status of their steps
    y = {n["label"]: n["y"] for n in graph["nodes"]}
    assert y["start"] < y["extract"] < y["clean"] == y["enrich"] < y["report"] < y["end"]


def test_a_dag_nested_in_a_flow_is_a_subgraph_and_a_workflow_in_it_one_box(page):
    dag = Dag("checks").add(extract).add(audit, depends_on=["extract"]).add(clean, ["extract"])
    mermaid = to_mermaid(Flow("nightly").then(etl()).then(dag))
    labels, edges, subgraphs = written(mermaid)
    graph = draw(page, mermaid)
    assert sorted(n["label"] for n in graph["nodes"]) == sorted(labels)
    assert graph["edges"] == edges
    assert graph["clusters"] == ["dag etl", "dag checks"] and subgraphs == 2
    shapes = {n["label"]: n["shape"] for n in graph["nodes"]}
    assert shapes["workflow audit"] == "subroutine"
    assert shapes["all done"] == "hexagon"
    inside = {n["label"] for n in graph["nodes"] if not n["top"]}
    assert {"extract", "clean", "enrich", "report", "workflow audit"} <= inside
