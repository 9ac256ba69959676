"""``POST /sessions/{id}/retry`` and ``POST /sessions/{id}/fork``: recovery by hand over HTTP."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import httpx
import pytest
from fastapi.testclient import TestClient
from serverflows import Num, arithmetic, nested

from water import Engine, FatalError, Flow, task
from water.server import create_app

fixed = threading.Event()  # the flaky step fails until a test sets it


@task
def flaky(n: Num) -> Num:
    if not fixed.is_set():
        raise FatalError("not fixed yet")
    return Num(value=n.value * 3)


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.delenv("WATER_API_TOKEN", raising=False)
    fixed.clear()
    flows = [arithmetic(), nested(), Flow("flaky").then(flaky)]
    with Engine("memory://", flows=flows) as engine:
        yield TestClient(create_app(engine))


def error_of(response: httpx.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    return response.json()["error"]


def run(client: TestClient, flow_id: str, value: int) -> str:
    answer = client.post(f"/flows/{flow_id}/execute", json={"value": value}, params={"wait": 1})
    assert answer.status_code in (200, 422), answer.text
    body = answer.json()
    return str(body.get("execution_id") or body["error"]["details"]["execution_id"])


def test_retry_answers_the_snapshot_of_the_execution_running_again(client):
    execution_id = run(client, "flaky", 2)
    assert client.get(f"/sessions/{execution_id}").json()["status"] == "failed"
    fixed.set()
    answer = client.post(f"/sessions/{execution_id}/retry")
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "running" and answer.json()["error"] is None
    events = client.get(f"/sessions/{execution_id}/events").json()["events"]
    assert "execution_retried" in [e["type"] for e in events]


def test_retry_of_an_execution_that_did_not_fail_is_a_conflict(client):
    execution_id = run(client, "arithmetic", 1)
    error = error_of(client.post(f"/sessions/{execution_id}/retry"), 409)
    assert error["code"] == "conflict"
    assert "only a failed execution can be retried" in error["message"]
    assert error_of(client.post("/sessions/nope/retry"), 404)["code"] == "execution_not_found"


def test_fork_starts_a_new_execution_from_the_step_and_names_the_original(client):
    execution_id = run(client, "arithmetic", 1)
    answer = client.post(f"/sessions/{execution_id}/fork", json={"from_step": "1.double"})
    assert answer.status_code == 202, answer.text
    fork = answer.json()
    assert fork["flow_id"] == "arithmetic" and fork["execution_id"] != execution_id
    snapshot = client.get(f"/sessions/{fork['execution_id']}").json()
    assert snapshot["forked_from"] == execution_id
    assert client.get(f"/sessions/{execution_id}").json()["forked_from"] is None


def test_fork_takes_the_forks_id_and_answers_it_again(client):
    execution_id = run(client, "arithmetic", 1)
    body = {"from_step": "1.double", "execution_id": "fork-1"}
    first = client.post(f"/sessions/{execution_id}/fork", json=body)
    again = client.post(f"/sessions/{execution_id}/fork", json=body)
    assert first.status_code == again.status_code == 202
    assert first.json()["execution_id"] == again.json()["execution_id"] == "fork-1"
    other = run(client, "arithmetic", 5)
    error = error_of(client.post(f"/sessions/{other}/fork", json=body), 409)
    assert "not a fork of" in error["message"]


def test_a_nested_execution_is_forked_by_its_path(client):
    parent = run(client, "outer", 1)
    child = f"{parent}/0.inner"
    answer = client.post(f"/sessions/{child}/fork", json={"from_step": "1.double"})
    assert answer.status_code == 202, answer.text
    assert answer.json()["flow_id"] == "inner"


def test_fork_errors_say_what_is_wrong(client):
    execution_id = run(client, "arithmetic", 1)
    path = f"/sessions/{execution_id}/fork"
    error = error_of(client.post(path, json={"from_step": "7.nope"}), 404)
    assert error["code"] == "step_not_found"
    assert "'0.inc', '1.double'" in error["message"]
    assert error_of(client.post(path), 422)["details"]["errors"][0]["loc"] == ["body"]
    error = error_of(client.post(path, json={"from_step": "1.double", "execution_id": "a/b"}), 422)
    assert error["details"]["errors"][0]["loc"] == ["body", "execution_id"]
    error = error_of(client.post(path, json={"step": "1.double"}), 422)
    assert {tuple(e["loc"]) for e in error["details"]["errors"]} >= {("body", "from_step")}
    error = error_of(client.post("/sessions/nope/fork", json={"from_step": "0.inc"}), 404)
    assert error["code"] == "execution_not_found"
