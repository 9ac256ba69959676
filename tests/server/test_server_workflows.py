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
