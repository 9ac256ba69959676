"""Node processes for the multi-node tests, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

HERE = Path(__file__).parent
LEASE = 1.0


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
        return url
    return f"sqlite:///{tmp_path / 'nodes.db'}"


class NodeProcess:
    """One engine process on the shared store (``node_proc.py``)."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.name = args[1]
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "node_proc.py"), *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line.strip())
        self.lines.put("EOF")

    def expect(self, prefix: str, timeout: float = 30.0) -> str:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"node {self.name} never printed {prefix!r}"
            line = self.lines.get(timeout=left)
            assert line != "EOF", f"node {self.name} exited ({self.proc.poll()})"
            if line.startswith(prefix):
                return line

    def status(self) -> tuple[int, int]:
        assert self.proc.stdin is not None
        self.proc.stdin.write("status\n")
        self.proc.stdin.flush()
        _, owned, _, lost = self.expect("OWNED").split()
        return int(owned), int(lost)

    def signal(self, sig: int) -> None:
        os.kill(self.proc.pid, sig)

    def stop(self) -> None:
        """Stop cleanly (end of input), or kill it if that fails."""
        if self.proc.poll() is None:
            try:
                if self.proc.stdin is not None:
                    self.proc.stdin.close()
                self.proc.wait(timeout=20)
            except Exception:
                self.proc.kill()
        self.reap()

    def reap(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=30)


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


def runs(run_log: Path) -> Counter[tuple[str, str]]:
    """How many times each (execution, step) ran, over every node."""
    if not run_log.exists():
        return Counter()
    return Counter(tuple(line.split()[:2]) for line in run_log.read_text().splitlines())  # type: ignore[misc]


def runs_by(run_log: Path) -> list[tuple[str, str, str]]:
    """(execution, step, node) of every run."""
    if not run_log.exists():
        return []
    return [
        (parts[0], parts[1], parts[3])
        for parts in (line.split() for line in run_log.read_text().splitlines())
    ]


def wait_until(check: Callable[[], Any], timeout: float = 30.0, what: str = "") -> Any:
    """Poll ``check`` (reads of files or of the store) until it is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"timed out waiting for {what or check}"
        time.sleep(0.02)
