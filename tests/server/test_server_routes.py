"""Every route of the HTTP API, on its success and error paths."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
from datetime import datetime

import httpx
import pytest
from fastapi.testclient import TestClient
from serverflows import Gate, approval

from water import Engine, ExecutionStatus, Flow
from water.server import create_app, create_app_from_flows


def error_of(response: httpx.Response, status: int) -> dict:
    """The envelope's ``error`` after checking the status and the envelope's shape."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "details"}
    assert "Traceback" not in response.text
    return body["error"]


def start(client: TestClient, flow_id: str, payload: object, **params: object) -> dict:
    response = client.post(f"/flows/{flow_id}/execute", json=payload, params=params)
    assert response.status_code in (200, 202), response.text
    return response.json()


# -- flows -----------------------------------------------------------------------------
def test_health_answers_without_touching_flows(client):
    health = client.get("/health").json()
    node = health.pop("node")
    assert health == {"status": "ok", "version": "0.1.0", "flows": 7}
    # the engine as a node: its id, its lease, what it runs
    assert node["node_id"] and node["lease_held"] is True and node["lease_seconds"] == 10.0
    assert node["owned_executions"] >= 0 and node["lost"] == 0


def test_flows_lists_each_flow_with_schemas_and_step_graph(client):
    flows = {f["id"]: f for f in client.get("/flows").json()["flows"]}
    assert set(flows) == {"arithmetic", "failing", "approval", "human", "outer", "inner", "gated"}
    arithmetic = flows["arithmetic"]
    assert arithmetic["description"] == "inc then double"
    assert arithmetic["input_schema"]["properties"] == {
        "value": {"title": "Value", "type": "integer"}
    }
    assert arithmetic["output_schema"]["title"] == "Num"
    assert [(s["kind"], [r["id"] for r in s["runnables"]]) for s in arithmetic["steps"]] == [
        ("task", ["inc"]),
        ("task", ["double"]),
    ]
    assert arithmetic["steps"][0]["runnables"][0]["description"] == "Add one."
    branch = flows["outer"]["steps"][0]
    assert branch["kind"] == "branch"
    assert branch["conditions"] == ["is_big", "<lambda>"]
    nested = branch["runnables"][1]
    assert nested["type"] == "flow" and nested["id"] == "inner"
    assert [s["runnables"][0]["id"] for s in nested["steps"]] == ["inc", "double"]
    signal = flows["approval"]["steps"][1]
    assert signal["kind"] == "signal" and signal["signal"] == "approve"
    assert signal["payload_schema"]["title"] == "Approval"


def test_one_flow_and_an_unknown_flow(client):
    assert client.get("/flows/failing").json()["steps"][0]["runnables"][0]["id"] == "explode"
    error = error_of(client.get("/flows/nope"), 404)
    assert error["code"] == "flow_not_found"
    assert "nope" in error["message"] and error["details"] == {"flow_id": "nope"}


# -- execute ---------------------------------------------------------------------------
def test_execute_answers_202_with_the_id_and_the_run_completes(client, engine):
    body = client.post("/flows/arithmetic/execute", json={"value": 3})
    assert body.status_code == 202
    accepted = body.json()
    assert accepted["flow_id"] == "arithmetic"
    assert accepted["status"] in ("pending", "running", "completed")
    assert engine.ref(accepted["execution_id"]).result(timeout=10).value == 8


def test_execute_with_wait_answers_200_with_the_output(client):
    response = client.post("/flows/arithmetic/execute?wait=true&timeout=10", json={"value": 3})
    assert response.status_code == 200
    done = response.json()
    assert done["status"] == "completed" and done["output"] == {"value": 8}
    assert client.get(f"/sessions/{done['execution_id']}").json()["output"] == {"value": 8}


def test_execute_with_wait_answers_the_envelope_when_the_execution_fails(client):
    response = client.post("/flows/failing/execute?wait=true", json={"value": 7})
    error = error_of(response, 422)
    assert error["code"] == "execution_failed"
    assert "cannot handle 7" in error["message"]
    step_error = error["details"]["error"]
    assert step_error["type"] == "FatalError" and step_error["step"] == "0.explode"
    status = client.get(f"/sessions/{error['details']['execution_id']}").json()["status"]
    assert status == "failed"


def test_execute_with_wait_answers_202_when_the_execution_is_still_going(client):
    response = client.post("/flows/approval/execute?wait=true&timeout=0.2", json={"value": 1})
    assert response.status_code == 202
    assert response.json()["status"] == "waiting"


def test_execute_validates_the_body_against_the_input_model(client):
    error = error_of(client.post("/flows/arithmetic/execute", json={"value": "many"}), 422)
    assert error["code"] == "validation_error"
    assert error["details"]["errors"][0]["loc"] == ["body", "value"]
    assert error["details"]["errors"][0]["type"] == "int_parsing"
    missing = error_of(client.post("/flows/arithmetic/execute", json={}), 422)
    assert missing["details"]["errors"][0] == {
        "loc": ["body", "value"],
        "message": "Field required",
        "type": "missing",
    }


def test_execute_refuses_a_body_that_is_not_json(client):
    for raw in (b"{not json", b'{"value": NaN}'):
        response = client.post(
            "/flows/arithmetic/execute", content=raw, headers={"content-type": "application/json"}
        )
        error = error_of(response, 422)
        assert error["code"] == "validation_error"
        assert error["details"]["errors"][0]["type"] == "json_invalid"


def test_execute_takes_json_with_a_charset(client):
    response = client.post(
        "/flows/arithmetic/execute?wait=true",
        content=b'{"value": 1}',
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 200 and response.json()["output"] == {"value": 4}


def test_execute_with_an_execution_id_starts_once(client):
    first = start(client, "arithmetic", {"value": 1}, execution_id="order-42", wait="true")
    again = start(client, "arithmetic", {"value": 100}, execution_id="order-42", wait="true")
    assert first["execution_id"] == again["execution_id"] == "order-42"
    assert again["output"] == {"value": 4}
    other = client.post("/flows/failing/execute?execution_id=order-42", json={"value": 1})
    assert error_of(other, 409)["code"] == "conflict"


def test_execute_an_unknown_flow(client):
    assert error_of(client.post("/flows/nope/execute", json={}), 404)["code"] == "flow_not_found"


def test_waiting_for_a_result_does_not_block_the_event_loop(engine, gate: Gate, monkeypatch):
    monkeypatch.delenv("WATER_API_TOKEN", raising=False)
    app = create_app(engine)

    async def scenario() -> tuple[int, int, dict]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as http:
            waiting = asyncio.create_task(
                http.post("/flows/gated/execute?wait=true&timeout=10", json={"value": 1})
            )
            assert await asyncio.to_thread(gate.started.wait, 10)
            # the step is blocked and a request waits for it: the loop still serves others
            health = await http.get("/health")
            listing = await http.get("/flows/gated/sessions")
            gate.opened.set()
            done = await waiting
            return health.status_code, listing.json()["total"], done.json()

    health, total, done = asyncio.run(scenario())
    assert health == 200 and total == 1
    assert done["output"] == {"value": 3}


# -- sessions --------------------------------------------------------------------------
def test_sessions_are_paginated_with_totals_and_filtered_by_status(client, engine):
    ids = [start(client, "arithmetic", {"value": i}, wait="true")["execution_id"] for i in range(5)]
    failed = error_of(client.post("/flows/failing/execute?wait=true", json={"value": 1}), 422)

    page = client.get("/flows/arithmetic/sessions", params={"limit": 2}).json()
    assert (page["total"], page["limit"], page["offset"]) == (5, 2, 0)
    assert [s["execution_id"] for s in page["items"]] == ids[::-1][:2]  # newest first
    last = client.get("/flows/arithmetic/sessions", params={"limit": 2, "offset": 4}).json()
    assert [s["execution_id"] for s in last["items"]] == [ids[0]]
    assert last["total"] == 5

    completed = client.get("/flows/arithmetic/sessions?status=completed").json()
    assert completed["total"] == 5
    assert {s["status"] for s in completed["items"]} == {"completed"}
    assert client.get("/flows/arithmetic/sessions?status=failed").json()["total"] == 0
    only_failed = client.get("/flows/failing/sessions?status=failed&status=cancelled").json()
    assert [s["execution_id"] for s in only_failed["items"]] == [failed["details"]["execution_id"]]
    assert only_failed["items"][0]["error"]


def test_sessions_reject_bad_filters_and_unknown_flows(client):
    bad = error_of(client.get("/flows/arithmetic/sessions?status=sleepy"), 422)
    assert bad["details"]["errors"][0]["loc"] == ["query", "status", 0]
    assert error_of(client.get("/flows/arithmetic/sessions?limit=0"), 422)["code"] == (
        "validation_error"
    )
    assert error_of(client.get("/flows/arithmetic/sessions?offset=-1"), 422)
    assert error_of(client.get("/flows/nope/sessions"), 404)["code"] == "flow_not_found"


def test_session_snapshot_and_unknown_session(client):
    done = start(client, "arithmetic", {"value": 1}, wait="true")
    snapshot = client.get(f"/sessions/{done['execution_id']}").json()
    assert snapshot["status"] == "completed"
    assert snapshot["completed_steps"] == ["0.inc", "1.double"]
    assert snapshot["step_outputs"] == {"0.inc": {"value": 2}, "1.double": {"value": 4}}
    assert [(s["key"], s["status"], s["attempts"]) for s in snapshot["steps"]] == [
        ("0.inc", "completed", 1),
        ("1.double", "completed", 1),
    ]
    error = error_of(client.get("/sessions/nope"), 404)
    assert error["code"] == "execution_not_found"
    assert error["details"] == {"execution_id": "nope"}


def test_session_events_in_order_and_after_a_sequence_number(client):
    done = start(client, "arithmetic", {"value": 1}, wait="true")
    events = client.get(f"/sessions/{done['execution_id']}/events").json()
    assert events["execution_id"] == done["execution_id"]
    assert [e["type"] for e in events["events"]] == [
        "execution_started",
        "step_completed",
        "step_completed",
        "execution_completed",
    ]
    assert [e["seq"] for e in events["events"]] == [1, 2, 3, 4]
    snapshot = client.get(f"/sessions/{done['execution_id']}").json()
    for event in events["events"]:  # ISO 8601 in UTC, as the snapshot's times
        assert event["ts"].endswith("Z"), event
        at = datetime.fromisoformat(event["ts"])
        assert at >= datetime.fromisoformat(snapshot["created_at"])
    later = client.get(f"/sessions/{done['execution_id']}/events?after_seq=2").json()
    assert [e["seq"] for e in later["events"]] == [3, 4]
    assert error_of(client.get("/sessions/nope/events"), 404)["code"] == "execution_not_found"


def test_nested_executions_are_reachable_by_their_id_with_a_slash(client, engine):
    parent = engine.start(Flow("wrapper").then(approval()), {"value": 1})
    child = f"{parent.execution_id}/0.approval"
    engine.ref(child).wait_for_status("waiting", timeout=10)
    for path in (child, child.replace("/", "%2F")):
        snapshot = client.get(f"/sessions/{path}")
        assert snapshot.status_code == 200, snapshot.text
        assert snapshot.json()["execution_id"] == child
        events = client.get(f"/sessions/{path}/events")
        assert events.status_code == 200, events.text
        assert events.json()["execution_id"] == child
        assert events.json()["events"][0]["type"] == "execution_started"
    refused = client.post(f"/sessions/{child}/signal/nope", json={})
    assert error_of(refused, 422)["message"] == "flow 'approval' never waits for signal 'nope'"
    signalled = client.post(
        f"/sessions/{child.replace('/', '%2F')}/signal/approve", json={"approved": True}
    )
    assert signalled.status_code == 200, signalled.text
    assert parent.result(timeout=10).approved is True
    assert client.delete(f"/sessions/{child.replace('/', '%2F')}").status_code == 204
    assert error_of(client.get(f"/sessions/{child}"), 404)["details"] == {"execution_id": child}
    assert error_of(client.delete(f"/sessions/{child}"), 404)["code"] == "execution_not_found"


# -- steering --------------------------------------------------------------------------
def test_pause_then_resume(client, engine, gate: Gate):
    started = start(client, "gated", {"value": 1})
    assert gate.started.wait(10)
    paused = client.post(f"/sessions/{started['execution_id']}/pause")
    assert paused.status_code == 200
    assert paused.json()["status"] == "pausing"
    gate.opened.set()
    ref = engine.ref(started["execution_id"])
    assert ref.wait_for_status("paused", timeout=10).completed_steps == ["0.gated"]

    resumed = client.post(f"/sessions/{started['execution_id']}/resume")
    assert resumed.status_code == 200
    assert resumed.json()["status"] in ("running", "completed")
    assert ref.result(timeout=10).value == 3


def test_resume_a_suspended_step_with_data(client, engine):
    started = start(client, "human", {"value": 1})
    ref = engine.ref(started["execution_id"])
    waiting = ref.wait_for_status("waiting", timeout=10)
    assert list(waiting.suspended) == ["0.ask_human"]

    wrong_step = client.post(
        f"/sessions/{started['execution_id']}/resume", json={"data": {"extra": 1}, "step": "9.x"}
    )
    assert error_of(wrong_step, 409)["code"] == "conflict"
    bad_data = error_of(
        client.post(f"/sessions/{started['execution_id']}/resume", json={"data": {}}), 422
    )
    assert bad_data["code"] == "validation_error" and "Extra" in bad_data["message"]
    assert bad_data["details"]["errors"][0]["loc"] == ["body", "data"]
    bad_body = client.post(f"/sessions/{started['execution_id']}/resume", json={"datum": 1})
    assert error_of(bad_body, 422)["details"]["errors"][0]["loc"] == ["body", "datum"]

    resumed = client.post(
        f"/sessions/{started['execution_id']}/resume",
        json={"data": {"extra": 41}, "step": "0.ask_human"},
    )
    assert resumed.status_code == 200
    assert ref.result(timeout=10).value == 42


def test_resume_of_a_completed_execution_is_a_conflict(client):
    done = start(client, "arithmetic", {"value": 1}, wait="true")
    error = error_of(client.post(f"/sessions/{done['execution_id']}/resume"), 409)
    assert error["code"] == "conflict" and "completed" in error["message"]
    assert error_of(client.post(f"/sessions/{done['execution_id']}/pause"), 409)


def test_steering_an_unknown_session(client):
    for action in ("pause", "resume", "cancel", "signal/approve"):
        error = error_of(client.post(f"/sessions/nope/{action}"), 404)
        assert error["code"] == "execution_not_found"


def test_cancel_with_a_reason(client, engine):
    started = start(client, "approval", {"value": 1})
    engine.ref(started["execution_id"]).wait_for_status("waiting", timeout=10)
    cancelled = client.post(
        f"/sessions/{started['execution_id']}/cancel", json={"reason": "changed my mind"}
    )
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    events = client.get(f"/sessions/{started['execution_id']}/events").json()["events"]
    assert events[-1] == {**events[-1], "type": "cancelled", "reason": "changed my mind"}
    again = client.post(f"/sessions/{started['execution_id']}/cancel")
    assert again.status_code == 200 and again.json()["status"] == "cancelled"
    events_again = client.get(f"/sessions/{started['execution_id']}/events").json()["events"]
    assert events_again == events  # nothing new was journaled


def test_a_command_whose_effect_holds_answers_the_snapshot(client, engine, gate: Gate):
    started = start(client, "gated", {"value": 1})
    eid = started["execution_id"]
    assert gate.started.wait(10)
    assert client.post(f"/sessions/{eid}/pause").json()["status"] == "pausing"
    assert client.post(f"/sessions/{eid}/pause").json()["status"] == "pausing"
    gate.opened.set()
    engine.ref(eid).wait_for_status("paused", timeout=10)
    again = client.post(f"/sessions/{eid}/pause")
    assert again.status_code == 200 and again.json()["status"] == "paused"
    assert client.post(f"/sessions/{eid}/cancel").json()["status"] == "cancelled"
    assert client.post(f"/sessions/{eid}/cancel").json()["status"] == "cancelled"


def test_a_command_that_cannot_apply_is_a_conflict(client):
    done = start(client, "arithmetic", {"value": 1}, wait="true")
    eid = done["execution_id"]
    for action in ("pause", "resume", "cancel", "signal/approve"):
        error = error_of(client.post(f"/sessions/{eid}/{action}"), 409)
        assert error["code"] == "conflict" and "completed" in error["message"], action


def test_signal_delivers_its_payload(client, engine):
    started = start(client, "approval", {"value": 1})
    eid = started["execution_id"]
    engine.ref(eid).wait_for_status("waiting", timeout=10)
    unknown = error_of(client.post(f"/sessions/{eid}/signal/reject", json={}), 422)
    assert unknown["code"] == "validation_error" and "reject" in unknown["message"]
    invalid = error_of(client.post(f"/sessions/{eid}/signal/approve", json={"approved": []}), 422)
    assert invalid["code"] == "validation_error" and "approved" in invalid["message"]
    assert invalid["details"]["errors"][0]["message"] == invalid["message"]

    delivered = client.post(f"/sessions/{eid}/signal/approve", json={"approved": True})
    assert delivered.status_code == 200
    assert engine.ref(eid).result(timeout=10).approved is True


def test_delete_refuses_a_live_execution_unless_forced(client, engine):
    started = start(client, "approval", {"value": 1})
    eid = started["execution_id"]
    engine.ref(eid).wait_for_status("waiting", timeout=10)
    refused = error_of(client.delete(f"/sessions/{eid}"), 409)
    assert refused["code"] == "conflict" and "force" in refused["message"]
    assert client.get(f"/sessions/{eid}").status_code == 200

    forced = client.delete(f"/sessions/{eid}?force=true")
    assert forced.status_code == 204 and forced.content == b""
    assert error_of(client.get(f"/sessions/{eid}"), 404)


def test_delete_a_finished_execution_and_an_unknown_one(client):
    done = start(client, "arithmetic", {"value": 1}, wait="true")
    assert client.delete(f"/sessions/{done['execution_id']}").status_code == 204
    assert client.get("/flows/arithmetic/sessions").json()["total"] == 0
    assert error_of(client.delete("/sessions/nope"), 404)["code"] == "execution_not_found"


def test_a_deleted_session_is_404_even_if_a_request_just_reached_it(client):
    done = start(client, "arithmetic", {"value": 1}, wait="true")
    eid = done["execution_id"]
    error_of(client.post(f"/sessions/{eid}/resume"), 409)  # brings it into memory
    assert client.delete(f"/sessions/{eid}").status_code == 204
    assert error_of(client.get(f"/sessions/{eid}"), 404)["code"] == "execution_not_found"
    assert error_of(client.post(f"/sessions/{eid}/pause"), 404)["code"] == "execution_not_found"
    assert error_of(client.get(f"/sessions/{eid}/events"), 404)["code"] == "execution_not_found"


# -- service ---------------------------------------------------------------------------
def test_metrics_in_the_prometheus_text_format(client):
    start(client, "arithmetic", {"value": 1}, wait="true")
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    assert 'water_executions_started_total{flow="arithmetic"} 1.0' in response.text
    assert 'water_executions_finished_total{flow="arithmetic",status="completed"} 1.0' in (
        response.text
    )


@pytest.mark.skipif(
    shutil.which("promtool") is None and os.environ.get("CI") != "true",  # under CI it must run
    reason="promtool is not installed",
)
def test_metrics_pass_promtool(client):
    start(client, "arithmetic", {"value": 1}, wait="true")
    error_of(client.post("/flows/failing/execute?wait=true", json={"value": 1}), 422)
    text = client.get("/metrics").content
    checked = subprocess.run(
        ["promtool", "check", "metrics"], input=text, capture_output=True, timeout=30
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_framework_errors_use_the_envelope(client):
    missing = error_of(client.get("/no/such/route"), 404)
    assert missing["code"] == "route_not_found"
    wrong_method = client.put("/sessions/abc")
    assert error_of(wrong_method, 405)["code"] == "method_not_allowed"
    assert wrong_method.headers["allow"] == "DELETE, GET"


def test_unexpected_errors_are_a_500_envelope_without_details(engine, monkeypatch):
    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("secret internals at /srv/app.py line 12")

    monkeypatch.setattr(engine, "snapshot", broken)
    monkeypatch.delenv("WATER_API_TOKEN", raising=False)
    client = TestClient(create_app(engine), raise_server_exceptions=False)
    response = client.get("/sessions/anything")
    error = error_of(response, 500)
    assert error == {"code": "internal_error", "message": "internal server error", "details": None}
    assert "secret" not in response.text


def test_the_openapi_document_has_every_route_and_a_typed_operation_per_flow(client):
    document = client.get("/openapi.json").json()
    paths = document["paths"]
    assert {
        "/flows",
        "/flows/{flow_id}",
        "/flows/{flow_id}/execute",
        "/flows/{flow_id}/sessions",
        "/sessions/{execution_id}",
        "/sessions/{execution_id}/events",
        "/sessions/{execution_id}/pause",
        "/sessions/{execution_id}/resume",
        "/sessions/{execution_id}/cancel",
        "/sessions/{execution_id}/signal/{name}",
        "/metrics",
        "/health",
    } <= set(paths)
    typed = paths["/flows/arithmetic/execute"]["post"]
    body = typed["requestBody"]["content"]["application/json"]["schema"]
    assert body["properties"] == {"value": {"title": "Value", "type": "integer"}}
    assert typed["requestBody"]["required"] is True
    output = typed["responses"]["200"]["content"]["application/json"]["schema"]
    assert output["properties"]["output"]["title"] == "Num"
    schemas = document["components"]["schemas"]
    for event, field in [
        ("ExecutionStarted", "ts"),
        ("StepFailed", "retry_at"),
        ("TimerArmed", "fire_at"),
    ]:
        time = schemas[event]["properties"][field]
        assert "date-time" in str(time), (event, time)
    envelope = paths["/sessions/{execution_id}"]["get"]["responses"]["404"]
    assert envelope["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorEnvelope")
    assert "securitySchemes" not in document.get("components", {})


def test_an_app_built_from_flows_owns_its_engine(tmp_path, monkeypatch):
    from serverflows import arithmetic

    monkeypatch.delenv("WATER_API_TOKEN", raising=False)
    app = create_app_from_flows([arithmetic()], f"sqlite:///{tmp_path}/water.db")
    engine: Engine = app.state.engine
    with TestClient(app) as client:
        done = start(client, "arithmetic", {"value": 1}, wait="true")
        assert done["output"] == {"value": 4}
    with pytest.raises(RuntimeError, match="shut down"):
        engine.start("arithmetic", {"value": 1})
    # the journal survived the shutdown
    with Engine(f"sqlite:///{tmp_path}/water.db", flows=[arithmetic()]) as again:
        assert again.snapshot(done["execution_id"]).status == ExecutionStatus.COMPLETED


def test_metrics_of_an_engine_without_metrics(client, engine, monkeypatch):
    monkeypatch.setattr(engine, "metrics", None)
    assert error_of(client.get("/metrics"), 404)["code"] == "metrics_disabled"
