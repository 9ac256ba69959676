"""Node processes for the multi-node tests, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from .nodeprocs import LEASE, NodeProcess


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
        return url
    return f"sqlite:///{tmp_path / 'nodes.db'}"


Spawn = Callable[..., NodeProcess]


@pytest.fixture
def run_log(tmp_path: Path) -> Path:
    return tmp_path / "runs.log"


@pytest.fixture
def spawn(store_url: str, run_log: Path) -> Iterator[Spawn]:
    """Start node processes (all stopped or killed at the end)."""
    started: list[NodeProcess] = []

    def start(
        name: str, flows: str, *starts: str, step_sleep: float = 0.0, ready: bool = True
    ) -> NodeProcess:
        env = {
            **os.environ,
            "WATER_TEST_RUN_LOG": str(run_log),
            "WATER_TEST_NODE": name,
            "WATER_TEST_STEP_SLEEP": str(step_sleep),
        }
        node = NodeProcess([store_url, name, str(LEASE), flows, *starts], env)
        started.append(node)
        if ready:
            node.expect("READY")
        return node

    yield start
    for node in started:
        if node.proc.poll() is None:
            try:
                node.signal(signal.SIGCONT)
            except ProcessLookupError:
                pass
        node.stop()
