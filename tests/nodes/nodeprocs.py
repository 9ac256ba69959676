"""Node processes and what the multi-node tests read of their work."""

from __future__ import annotations

import os
import queue
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
LEASE = 1.0


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
