from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient`")
from fastapi.testclient import TestClient  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))  # the tests' flows module: serverflows

from serverflows import Gate, approval, arithmetic, failing, human, nested  # noqa: E402

from water import Engine  # noqa: E402
from water.server import create_app  # noqa: E402


@pytest.fixture
def gate() -> Gate:
    return Gate()


@pytest.fixture
def engine(gate: Gate) -> Iterator[Engine]:
    flows = [arithmetic(), failing(), approval(), human(), nested(), gate.flow]
    with Engine("memory://", flows=flows) as e:
        try:
            yield e
        finally:
            gate.opened.set()  # never leave a step blocked at shutdown


@pytest.fixture
def client(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> TestClient:
    monkeypatch.delenv("WATER_API_TOKEN", raising=False)
    return TestClient(create_app(engine))
