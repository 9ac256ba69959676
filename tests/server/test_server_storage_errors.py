"""A storage that fails answers 503 with the error envelope, never a raw 500."""

from __future__ import annotations

import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from serverflows import arithmetic

from water import Engine
from water.server import create_app

sys.path.insert(0, str(Path(__file__).parents[1]))

from storefaults import FaultySQLite


@pytest.fixture
def storage(tmp_path: Path) -> FaultySQLite:
    return FaultySQLite(tmp_path / "water.db")


@pytest.fixture
def client(storage: FaultySQLite, monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClient]:
    monkeypatch.delenv("WATER_API_TOKEN", raising=False)
    with Engine(storage, flows=[arithmetic()]) as engine:
        yield TestClient(create_app(engine))


def test_a_passing_storage_fault_answers_503_with_retry_after(client, storage):
    storage.fail(sqlite3.OperationalError("database is locked"))
    try:
        response = client.post("/flows/arithmetic/execute", json={"value": 1})
    finally:
        storage.heal()
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "1"
    error = response.json()["error"]
    assert error["code"] == "storage_unavailable"
    assert "database is locked" in error["message"]
    assert error["details"] == {"transient": True}
    assert "Traceback" not in response.text
    again = client.post("/flows/arithmetic/execute", json={"value": 1}, params={"wait": True})
    assert again.status_code == 200, again.text


def test_a_lasting_storage_fault_answers_503_without_retry_after(client, storage):
    storage.fail(sqlite3.DatabaseError("database disk image is malformed"))
    try:
        response = client.post("/flows/arithmetic/execute", json={"value": 1})
    finally:
        storage.heal()
    assert response.status_code == 503, response.text
    assert "retry-after" not in response.headers
    error = response.json()["error"]
    assert error["code"] == "storage_unavailable"
    assert error["details"] == {"transient": False}
