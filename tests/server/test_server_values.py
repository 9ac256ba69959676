"""Over HTTP, values the journal cannot store exactly are a 422, never a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from water import Engine, Flow, TaskContext, task
from water.server import create_app
from water.types import MAX_DEPTH


class Price(BaseModel):
    amount: float
    note: str = ""


@task
def priced(p: Price) -> Price:
    return p


@task
def review(value: Any, ctx: TaskContext) -> Any:
    return ctx.suspend({"question": "ok?"}).data


@pytest.fixture
def engine() -> Iterator[Engine]:
    flows = [
        Flow("price").then(priced),
        Flow("signalled").wait_for_signal("go"),
        Flow("reviewed").then(review),
    ]
    with Engine("memory://", flows=flows) as engine:
        yield engine


@pytest.fixture
def client(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.delenv("WATER_API_TOKEN", raising=False)
    return TestClient(create_app(engine))


def nested(depth: int) -> str:
    return "[" * depth + "1" + "]" * depth


def post(client: TestClient, path: str, raw: str | bytes) -> httpx.Response:
    return client.post(path, content=raw, headers={"content-type": "application/json"})


def validation_error(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    error: dict[str, Any] = response.json()["error"]
    assert error["code"] == "validation_error"
    return error


@pytest.mark.parametrize(
    "raw", ['{"amount": 1e400}', '{"amount": -1e400}', '{"amount": Infinity}', "NaN"]
)
def test_numbers_json_cannot_carry_are_refused(client, raw):
    error = validation_error(post(client, "/flows/price/execute", raw))
    assert error["details"]["errors"][0]["type"] == "json_invalid"


def test_a_float_the_input_model_turns_infinite_is_refused(client):
    error = validation_error(client.post("/flows/price/execute", json={"amount": "inf"}))
    assert "input of flow 'price' cannot be stored at $.amount" in error["message"]
    assert error["details"]["errors"][0]["loc"] == ["body", "amount"]


def test_a_lone_surrogate_is_refused_with_its_place(client):
    raw = '{"amount": 1, "note": "a\\ud800b"}'
    error = validation_error(post(client, "/flows/price/execute", raw))
    assert error["details"]["errors"][0]["loc"] == ["body", "note"]
    assert "lone surrogate" in error["details"]["errors"][0]["message"]


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 254, 300, 100_000])
def test_bodies_nested_too_deeply_are_refused(client, depth):
    response = post(client, "/flows/signalled/execute", nested(depth))
    validation_error(response)


def test_a_body_nested_as_deeply_as_accepted_runs(client):
    response = post(client, "/flows/signalled/execute", nested(MAX_DEPTH))
    assert response.status_code == 202, response.text
    session = client.get(f"/sessions/{response.json()['execution_id']}")
    assert session.status_code == 200 and session.json()["input"] == json.loads(nested(MAX_DEPTH))


def test_signal_payloads_and_resume_data_that_cannot_be_stored_are_refused(client, engine):
    signalled = client.post("/flows/signalled/execute", json=1).json()["execution_id"]
    payload = validation_error(post(client, f"/sessions/{signalled}/signal/go", '"\\udfff"'))
    assert "lone surrogate" in payload["message"]
    assert post(client, f"/sessions/{signalled}/signal/go", '"ok"').status_code == 200

    reviewed = client.post("/flows/reviewed/execute", json=1).json()["execution_id"]
    engine.ref(reviewed).wait_for_status("waiting", timeout=10)  # suspended
    resume = post(client, f"/sessions/{reviewed}/resume", '{"data": {"why": "\\ud800"}}')
    assert resume.status_code == 422, resume.text
    assert "resume data for step '0.review' cannot be stored" in resume.json()["error"]["message"]
    cancel = post(client, f"/sessions/{reviewed}/cancel", '{"reason": "\\ud800"}')
    assert cancel.status_code == 422, cancel.text
    resumed = client.post(f"/sessions/{reviewed}/resume", json={"data": {"why": "fine"}})
    assert resumed.status_code == 200, resumed.text


@pytest.mark.parametrize("execution_id", ["P1/1.inner", "a b", "x" * 129])
def test_execution_ids_outside_the_rule_are_refused(client, execution_id):
    response = client.post(
        "/flows/price/execute", params={"execution_id": execution_id}, json={"amount": 1}
    )
    validation_error(response)
