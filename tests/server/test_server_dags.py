"""A Dag over HTTP: listed and described with its dependencies, drawn, run, typed in OpenAPI."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from water import Dag, Engine, Flow, task
from water.graph import to_mermaid
from water.server import create_app


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


def etl() -> Dag:
    return (
        Dag("etl", "extract, clean and enrich, report", concurrency=2)
        .add(extract)
        .add(clean, depends_on=["extract"])
        .add(enrich, depends_on=["extract"])
        .add(report, depends_on=["clean", "enrich"])
    )


@pytest.fixture
def dag_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.delenv("WATER_API_TOKEN", raising=False)
    with Engine("memory://", flows=[etl(), Flow("nightly").then(extract).then(etl())]) as engine:
        yield TestClient(create_app(engine))


def test_the_listing_describes_a_dag_with_its_dependencies(dag_client):
    flows = {f["id"]: f for f in dag_client.get("/flows").json()["flows"]}
    assert set(flows) == {"etl", "nightly"}
    dag = flows["etl"]
    assert (dag["type"], dag["description"]) == ("dag", "extract, clean and enrich, report")
    assert dag["input_schema"]["title"] == "Num"
    assert dag["output_schema"]["required"] == ["report"]
    [stage] = dag["steps"]
    assert (stage["kind"], stage["concurrency"]) == ("dag", 2)
    assert [r["id"] for r in stage["runnables"]] == ["extract", "clean", "enrich", "report"]
    assert stage["depends_on"] == {
        "extract": [],
        "clean": ["extract"],
        "enrich": ["extract"],
        "report": ["clean", "enrich"],
    }
    nested = flows["nightly"]["steps"][1]["runnables"][0]
    assert (nested["type"], nested["id"]) == ("dag", "etl")


def test_a_dag_is_drawn_and_runs_over_http(dag_client):
    graph = dag_client.get("/flows/etl/graph")
    assert graph.status_code == 200
    assert graph.json()["mermaid"] == to_mermaid(etl())
    done = dag_client.post("/flows/etl/execute?wait=true", json={"value": 1})
    assert done.status_code == 200, done.text
    assert done.json()["output"] == {"report": {"value": 24}}
    bad = dag_client.post("/flows/etl/execute", json={"value": "x"})
    assert bad.status_code == 422
    assert bad.json()["error"]["code"] == "validation_error"


def test_the_openapi_document_types_a_dags_route(dag_client):
    route = dag_client.get("/openapi.json").json()["paths"]["/flows/etl/execute"]["post"]
    ok = route["responses"]["200"]["content"]["application/json"]["schema"]
    assert ok["properties"]["output"]["required"] == ["report"]
