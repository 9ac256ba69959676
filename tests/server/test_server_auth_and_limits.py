"""The API token and the request body limit."""

from __future__ import annotations

import logging

import pytest
from fastapi.testclient import TestClient
from serverflows import arithmetic

from water.server import create_app, create_app_from_flows

TOKEN = "s3cret-token-\u00e9"  # not ASCII: compared as bytes
JSON = {"content-type": "application/json"}


def envelope_code(response) -> str:
    body = response.json()
    assert set(body["error"]) == {"code", "message", "details"}
    return body["error"]["code"]


@pytest.fixture
def secured(engine, monkeypatch) -> TestClient:
    monkeypatch.delenv("WATER_API_TOKEN", raising=False)
    return TestClient(create_app(engine, api_token=TOKEN))


def bearer(token: str, scheme: str = "Bearer") -> dict[str, bytes]:
    return {"authorization": f"{scheme} {token}".encode()}


def test_every_route_but_health_needs_the_token(secured):
    assert secured.get("/health").status_code == 200
    for method, path in [
        ("GET", "/flows"),
        ("GET", "/flows/arithmetic"),
        ("POST", "/flows/arithmetic/execute"),
        ("GET", "/flows/arithmetic/sessions"),
        ("GET", "/sessions/x"),
        ("GET", "/sessions/x/events"),
        ("POST", "/sessions/x/pause"),
        ("POST", "/sessions/x/resume"),
        ("POST", "/sessions/x/cancel"),
        ("POST", "/sessions/x/signal/go"),
        ("DELETE", "/sessions/x"),
        ("GET", "/metrics"),
        ("GET", "/openapi.json"),
        ("GET", "/docs"),
        ("GET", "/no/such/route"),
    ]:
        response = secured.request(method, path)
        assert response.status_code == 401, (method, path)
        assert envelope_code(response) == "unauthorized"
        assert response.headers["www-authenticate"] == "Bearer"


def test_a_wrong_token_or_scheme_is_refused_and_the_right_one_accepted(secured):
    assert secured.get("/flows", headers=bearer("nope")).status_code == 401
    assert secured.get("/flows", headers=bearer(TOKEN + "x")).status_code == 401
    assert secured.get("/flows", headers=bearer(TOKEN, "Basic")).status_code == 401
    assert secured.get("/flows", headers={"authorization": b"Bearer"}).status_code == 401
    assert secured.get("/flows", headers=bearer(TOKEN)).status_code == 200
    assert secured.get("/flows", headers=bearer(TOKEN, "bearer")).status_code == 200


def test_the_token_is_checked_before_the_body_is_read(secured):
    response = secured.post(
        "/flows/arithmetic/execute",
        content=b"{broken",
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 401


def test_an_authorised_client_uses_the_api_as_usual(secured):
    response = secured.post(
        "/flows/arithmetic/execute?wait=true", json={"value": 1}, headers=bearer(TOKEN)
    )
    assert response.status_code == 200 and response.json()["output"] == {"value": 4}


def test_the_token_comes_from_the_environment_when_not_given(engine, monkeypatch):
    monkeypatch.setenv("WATER_API_TOKEN", "from-env")
    client = TestClient(create_app(engine))
    assert client.get("/flows").status_code == 401
    assert client.get("/flows", headers=bearer("from-env")).status_code == 200


def test_an_empty_token_is_refused_not_taken_for_no_token(engine, monkeypatch, tmp_path):
    monkeypatch.delenv("WATER_API_TOKEN", raising=False)
    for empty in ("", "  "):
        with pytest.raises(ValueError, match="api_token is empty"):
            create_app(engine, api_token=empty)
        monkeypatch.setenv("WATER_API_TOKEN", empty)
        with pytest.raises(ValueError, match="WATER_API_TOKEN is set but empty"):
            create_app(engine)
        with pytest.raises(ValueError, match="WATER_API_TOKEN is set but empty"):
            create_app_from_flows([arithmetic()], f"sqlite:///{tmp_path}/never.db")
        monkeypatch.delenv("WATER_API_TOKEN")
    assert not (tmp_path / "never.db").exists()  # refused before an engine was built


def test_the_openapi_document_declares_the_bearer_scheme(secured):
    document = secured.get("/openapi.json", headers=bearer(TOKEN)).json()
    schemes = document["components"]["securitySchemes"]
    assert schemes == {"HTTPBearer": {"type": "http", "scheme": "bearer"}}
    assert document["paths"]["/flows"]["get"]["security"] == [{"HTTPBearer": []}]
    assert "security" not in document["paths"]["/health"]["get"]
    assert "401" in document["paths"]["/flows"]["get"]["responses"]


def test_the_token_is_never_logged(secured, caplog):
    caplog.set_level(logging.DEBUG)
    secured.get("/flows", headers=bearer(TOKEN))
    secured.get("/flows", headers=bearer(TOKEN + "-wrong"))
    secured.post("/flows/arithmetic/execute?wait=true", json={"value": 1}, headers=bearer(TOKEN))
    assert TOKEN not in caplog.text


# -- body limit ------------------------------------------------------------------------
@pytest.fixture
def limited(engine, monkeypatch) -> TestClient:
    monkeypatch.delenv("WATER_API_TOKEN", raising=False)
    return TestClient(create_app(engine, max_body_bytes=64))


def test_a_body_over_the_limit_is_refused_with_413(limited):
    big = {"value": 1, "padding": "x" * 100}
    response = limited.post("/flows/arithmetic/execute", json=big)
    assert response.status_code == 413
    assert envelope_code(response) == "payload_too_large"
    assert response.json()["error"]["details"] == {"max_bytes": 64}


def test_a_streamed_body_over_the_limit_is_refused_too(limited):
    def chunks():
        yield b'{"value": 1, "padding": "'
        yield b"x" * 100
        yield b'"}'

    response = limited.post("/flows/arithmetic/execute", content=chunks(), headers=JSON)
    assert response.status_code == 413
    assert envelope_code(response) == "payload_too_large"


def test_a_body_at_the_limit_is_accepted(limited):
    body = b'{"value": 1}'.ljust(64)
    response = limited.post("/flows/arithmetic/execute?wait=true", content=body, headers=JSON)
    assert response.status_code == 200, response.text
    assert response.json()["output"] == {"value": 4}


def test_the_body_limit_applies_to_steering_too(limited):
    response = limited.post("/sessions/x/signal/go", json={"note": "y" * 100})
    assert response.status_code == 413
