"""Code-first workflows through the HTTP API: listed, described and started like flows."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import BaseModel

from water import Engine, Flow, Workflow, WorkflowContext, step, task, workflow


class Num(BaseModel):
    value: int


class Total(BaseModel):
    total: int = 0


@task
def inc(n: Num) -> Num:
    return Num(value=n.value + 1)


@workflow(id="twice")
async def twice(n: Num) -> Num:
    """Add one, then double."""
    return Num(value=(await inc(n)).value * 2)


class Summed(Workflow[Num, Total]):
    id = "summed"

    @step
    async def add(self, ctx: WorkflowContext[Num, Total]) -> None:
        ctx.state.total = (await inc(ctx.input)).value


outer = Flow("outer", "inc, then the twice workflow").then(inc).then(twice)


@pytest.fixture
def engine() -> Iterator[Engine]:  # the client fixture of conftest serves this engine
    with Engine("memory://", flows=[outer, Summed]) as e:
        yield e


def test_workflows_are_listed_and_described_beside_flows(client):
    assert client.get("/health").json()["flows"] == 3
    flows = {f["id"]: f for f in client.get("/flows").json()["flows"]}
    assert {k: f["type"] for k, f in flows.items()} == {
        "outer": "flow",
        "twice": "workflow",  # registered with the flow that nests it
        "summed": "workflow",
    }
    described = client.get("/flows/twice").json()
    assert described["description"] == "Add one, then double."
    assert described["fingerprint"] == "1"  # its version
    assert described["input_schema"]["title"] == "Num"
    assert described["output_schema"]["title"] == "Num"
    assert described["steps"] == []
    nested = flows["outer"]["steps"][1]["runnables"][0]
    assert (nested["type"], nested["id"]) == ("workflow", "twice")
    assert flows["summed"]["output_schema"]["title"] == "Total"


def test_a_workflow_is_started_and_listed_by_its_id(client):
    done = client.post("/flows/twice/execute", json={"value": 1}, params={"wait": "true"})
    assert done.status_code == 200, done.text
    assert done.json()["output"] == {"value": 4}
    sessions = client.get("/flows/twice/sessions").json()
    assert [s["flow_id"] for s in sessions["items"]] == ["twice"]
    nested = client.post("/flows/outer/execute", json={"value": 1}, params={"wait": "true"})
    assert nested.json()["output"] == {"value": 6}
    child = client.get(f"/sessions/{nested.json()['execution_id']}/1.twice").json()
    assert (child["flow_id"], child["status"]) == ("twice", "completed")
    paths = client.get("/openapi.json").json()["paths"]
    assert "/flows/twice/execute" in paths and "/flows/summed/execute" in paths


def test_a_workflows_graph_for_an_execution_is_what_it_recorded(client):
    done = client.post("/flows/twice/execute", json={"value": 1}, params={"wait": "true"})
    execution_id = done.json()["execution_id"]
    answer = client.get("/flows/twice/graph", params={"execution_id": execution_id})
    assert answer.status_code == 200, answer.text
    assert answer.json() == {
        "flow_id": "twice",
        "execution_id": execution_id,
        "mermaid": 'flowchart TD\n    n1(("start"))\n    n2["inc"]\n    n1 --> n2\n'
        '    n3(("end"))\n    n2 --> n3\n',
    }
    # without an execution: one box, as in a flow's graph; a flow's graph is the same for all
    assert '[["workflow twice"]]' in client.get("/flows/twice/graph").json()["mermaid"]
    nested = client.post("/flows/outer/execute", json={"value": 1}, params={"wait": "true"})
    outer = client.get("/flows/outer/graph", params={"execution_id": nested.json()["execution_id"]})
    assert outer.json() == client.get("/flows/outer/graph").json()
    assert outer.json()["execution_id"] is None


def test_a_workflows_graph_for_an_unknown_or_foreign_execution_is_404(client):
    unknown = client.get("/flows/twice/graph", params={"execution_id": "nope"})
    assert unknown.status_code == 404
    assert unknown.json()["error"]["code"] == "execution_not_found"
    summed = client.post("/flows/summed/execute", json={"value": 1}, params={"wait": "true"})
    foreign = client.get(
        "/flows/twice/graph", params={"execution_id": summed.json()["execution_id"]}
    )
    assert foreign.status_code == 404
    error = foreign.json()["error"]
    assert error["code"] == "execution_not_found"
    assert "runs 'summed', not 'twice'" in error["message"]
