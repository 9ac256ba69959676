"""``water dev``'s options, with uvicorn replaced by a recorder (no server is started)."""

from __future__ import annotations

import warnings
from typing import Any

import pytest
import uvicorn

warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient`")
from fastapi.testclient import TestClient  # noqa: E402

from water.cli import app  # noqa: E402


@pytest.fixture
def served(monkeypatch) -> list[dict[str, Any]]:
    """What ``water dev`` handed to uvicorn, one dict per call."""
    calls: list[dict[str, Any]] = []

    def run(target: Any, **options: Any) -> None:
        calls.append({"app": target, **options})

    monkeypatch.setattr(uvicorn, "run", run)
    monkeypatch.delenv("WATER_API_TOKEN", raising=False)
    return calls


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
