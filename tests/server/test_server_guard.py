"""Requests a web page could send in the user's name: foreign hosts, origins, form bodies."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from water.server import create_app
from water.server.guard import served_hosts

DEV_HOSTS = served_hosts("127.0.0.1", 8000)


def code_of(response, status: int) -> str:
    assert response.status_code == status, response.text
    return response.json()["error"]["code"]


@pytest.fixture
def local(engine, monkeypatch) -> TestClient:
    """The app as ``water dev`` serves it on 127.0.0.1:8000."""
    monkeypatch.delenv("WATER_API_TOKEN", raising=False)
    app = create_app(engine, allowed_hosts=DEV_HOSTS)
    return TestClient(app, base_url="http://127.0.0.1:8000")


@pytest.mark.parametrize(
    "content_type",
    [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        None,
    ],
)
def test_a_body_that_is_not_json_starts_nothing(client, content_type):
    headers = {} if content_type is None else {"content-type": content_type}
    response = client.post("/flows/arithmetic/execute", content=b'{"value": 1}', headers=headers)
    assert code_of(response, 415) == "unsupported_media_type"
    assert client.get("/flows/arithmetic/sessions").json()["total"] == 0


def test_json_bodies_and_requests_without_a_body_are_served(client, engine):
    started = client.post(
        "/flows/approval/execute",
        content=b'{"value": 1}',
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert started.status_code == 202, started.text
    eid = started.json()["execution_id"]
    engine.ref(eid).wait_for_status("waiting", timeout=10)
    assert client.post(f"/sessions/{eid}/pause").status_code == 200  # no body, no type
    assert client.post(f"/sessions/{eid}/cancel", content=b"").status_code == 200


def test_a_foreign_origin_is_refused_and_the_own_origin_served(local):
    execute = "/flows/arithmetic/execute"
    for origin in ("http://evil.example", "http://127.0.0.1:9999", "null", "garbage"):
        headers = {"origin": origin}
        refused = local.post(execute, json={"value": 1}, headers=headers)
        assert code_of(refused, 403) == "origin_not_allowed"
        assert code_of(local.get("/flows", headers=headers), 403) == "origin_not_allowed"
    assert local.get("/flows/arithmetic/sessions").json()["total"] == 0
    same = local.post(execute, json={"value": 1}, headers={"origin": "http://127.0.0.1:8000"})
    assert same.status_code == 202, same.text
    assert local.get("/flows").status_code == 200  # no Origin: not a browser


def test_allowed_origins_are_served(engine, monkeypatch):
    monkeypatch.delenv("WATER_API_TOKEN", raising=False)
    app = create_app(engine, allowed_origins=["http://localhost:3000"])
    client = TestClient(app)
    assert client.get("/flows", headers={"origin": "http://localhost:3000"}).status_code == 200
    assert client.get("/flows", headers={"origin": "http://localhost:3001"}).status_code == 403
    anyone = TestClient(create_app(engine, allowed_origins=["*"]))
    assert anyone.get("/flows", headers={"origin": "http://evil.example"}).status_code == 200


def test_allowed_origins_get_the_cors_headers_a_browser_needs(engine):
    app = create_app(engine, api_token="t0ken", allowed_origins=["http://localhost:3000"])
    client = TestClient(app)
    ui = "http://localhost:3000"
    preflight = client.options(
        "/flows/arithmetic/execute",
        headers={
            "origin": ui,
            "access-control-request-method": "POST",
            "access-control-request-headers": "authorization, content-type",
        },
    )
    assert preflight.status_code == 200, preflight.text  # a preflight bears no token
    assert preflight.headers["access-control-allow-origin"] == ui
    started = client.post(
        "/flows/arithmetic/execute",
        json={"value": 1},
        headers={"origin": ui, "authorization": "Bearer t0ken"},
    )
    assert started.status_code == 202, started.text
    assert started.headers["access-control-allow-origin"] == ui
    foreign = client.options(
        "/flows",
        headers={"origin": "http://evil.example", "access-control-request-method": "GET"},
    )
    assert foreign.status_code == 403


def test_the_host_must_be_one_the_server_answers_for(local):
    for host in ("127.0.0.1:8000", "localhost:8000", "[::1]:8000", "LOCALHOST:8000"):
        assert local.get("/health", headers={"host": host}).status_code == 200, host
    for host in ("evil.example:8000", "127.0.0.1:9999", "localhost", ""):
        response = local.get("/flows", headers={"host": host})
        assert code_of(response, 400) == "host_not_allowed", host


def test_a_dns_rebinding_page_is_refused(local):
    # the attacker's name now resolves to 127.0.0.1: to the browser it is same-origin
    rebound = {"host": "attacker.example:8000", "origin": "http://attacker.example:8000"}
    response = local.post("/flows/arithmetic/execute", json={"value": 1}, headers=rebound)
    assert code_of(response, 400) == "host_not_allowed"
    assert local.get("/flows/arithmetic/sessions").json()["total"] == 0


def test_host_lists_take_names_ports_and_wildcards(engine, monkeypatch):
    monkeypatch.delenv("WATER_API_TOKEN", raising=False)
    app = create_app(engine, allowed_hosts=["api.example.com", "*.internal:8000", "::1"])
    client = TestClient(app)
    for host in ("api.example.com", "api.example.com:443", "a.b.internal:8000", "[::1]:1"):
        assert client.get("/health", headers={"host": host}).status_code == 200, host
    for host in ("example.com", "internal:8000", "a.internal:9000", "evil.com"):
        assert client.get("/health", headers={"host": host}).status_code == 400, host


def test_one_name_is_a_list_of_one(engine, monkeypatch):
    monkeypatch.delenv("WATER_API_TOKEN", raising=False)
    client = TestClient(create_app(engine, allowed_hosts="api.example.com"))
    assert client.get("/health", headers={"host": "api.example.com"}).status_code == 200
    assert client.get("/health", headers={"host": "a"}).status_code == 400


def test_by_default_a_mounted_app_answers_any_host(client):
    assert client.get("/flows", headers={"host": "api.example.com"}).status_code == 200


def test_the_hosts_a_dev_server_answers_for():
    assert served_hosts("127.0.0.1", 8000) == ["localhost:8000", "127.0.0.1:8000", "[::1]:8000"]
    assert served_hosts("0.0.0.0", 80) == ["localhost:80", "127.0.0.1:80", "[::1]:80"]
    assert served_hosts("::", 80) == ["localhost:80", "127.0.0.1:80", "[::1]:80"]
    assert served_hosts("10.0.0.5", 80)[0] == "10.0.0.5:80"
    assert served_hosts("fe80::1", 80)[0] == "[fe80::1]:80"


def test_the_openapi_document_lists_the_guard_statuses(local):
    document = local.get("/openapi.json").json()
    execute = document["paths"]["/flows/{flow_id}/execute"]["post"]["responses"]
    assert {"400", "403", "415"} <= set(execute)
