"""``water dev``'s options, with uvicorn replaced by a recorder (no server is started)."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient`")
from fastapi.testclient import TestClient  # noqa: E402

from water.cli import app  # noqa: E402


@pytest.fixture
def served(monkeypatch) -> Iterator[list[dict[str, Any]]]:
    """What ``water dev`` handed to uvicorn, one dict per call."""
    calls: list[dict[str, Any]] = []

    def run(target: Any, **options: Any) -> None:
        calls.append({"app": target, **options})

    monkeypatch.setattr(uvicorn, "run", run)
    monkeypatch.delenv("WATER_API_TOKEN", raising=False)
    yield calls
    for call in calls:  # the app's lifespan never ran: stop its engine
        call["app"].state.engine.shutdown()


def dev(runner, flows_file, tmp_path, *args: str):
    argv = ["dev", str(flows_file), "--db", str(tmp_path / "w.db"), *args]
    return runner.invoke(app, argv)


def test_dev_answers_its_own_address_and_the_allowed_hosts(runner, flows_file, tmp_path, served):
    result = dev(runner, flows_file, tmp_path, "--port", "8123", "--allowed-host", "box.lan")
    assert result.exit_code == 0, result.output
    assert "box.lan" in result.output
    with TestClient(served[0]["app"]) as http:
        for host in ("127.0.0.1:8123", "localhost:8123", "box.lan:8123"):
            assert http.get("/flows", headers={"host": host}).status_code == 200, host
        for host in ("127.0.0.1:8000", "evil.example:8123"):
            assert http.get("/flows", headers={"host": host}).status_code == 400, host


def test_dev_accepts_the_allowed_origins(runner, flows_file, tmp_path, served):
    result = dev(runner, flows_file, tmp_path, "--allowed-origin", "http://localhost:3000")
    assert result.exit_code == 0, result.output
    with TestClient(served[0]["app"], base_url="http://127.0.0.1:8000") as http:
        ui = {"origin": "http://localhost:3000"}
        assert http.get("/flows", headers=ui).status_code == 200
        other = {"origin": "http://localhost:3001"}
        assert http.get("/flows", headers=other).status_code == 403


def test_dev_refuses_an_empty_token(runner, flows_file, tmp_path, served, monkeypatch):
    monkeypatch.setenv("WATER_API_TOKEN", "")
    result = dev(runner, flows_file, tmp_path)
    assert result.exit_code == 1
    assert "WATER_API_TOKEN is set but empty" in result.output
    assert served == []


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "box.lan"])
def test_dev_warns_loudly_when_reachable_without_a_token(
    runner, flows_file, tmp_path, served, host
):
    result = dev(runner, flows_file, tmp_path, "--host", host)
    assert result.exit_code == 0, result.output
    assert "WARNING: no API token" in result.stderr
    assert "without an API token" in result.stderr
    assert served[0]["host"] == host


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1"])
def test_dev_on_loopback_needs_no_warning(runner, flows_file, tmp_path, served, host):
    result = dev(runner, flows_file, tmp_path, "--host", host)
    assert result.exit_code == 0, result.output
    assert "WARNING" not in result.output


def test_dev_with_a_token_needs_no_warning(runner, flows_file, tmp_path, served, monkeypatch):
    monkeypatch.setenv("WATER_API_TOKEN", "s3cret")
    result = dev(runner, flows_file, tmp_path, "--host", "0.0.0.0")
    assert result.exit_code == 0, result.output
    assert "WARNING" not in result.output
    assert "API token required" in result.output
    assert "s3cret" not in result.output
