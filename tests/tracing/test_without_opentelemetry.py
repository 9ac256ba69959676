"""Water imports and runs where opentelemetry is not installed (it is an extra)."""

from __future__ import annotations

import subprocess
import sys

PROGRAM = """
import sys

sys.modules["opentelemetry"] = None  # as if not installed: importing it raises ImportError

from water import Engine, Flow, task

@task
def double(n: int) -> int:
    return n * 2

flow = Flow("plain").then(double)
with Engine("memory://", flows=[flow]) as engine:
    ref = engine.start(flow, 21)
    assert ref.result(timeout=10) == 42
    assert engine.tracing is None
    assert engine.events(ref.execution_id)[0].trace is None
assert not any(name.startswith("opentelemetry.") for name in sys.modules)
print("ran")
"""


def test_water_runs_without_opentelemetry():
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ran"


UNCONFIGURED = """
from water import Engine, Flow, task

@task
def double(n: int) -> int:
    return n * 2

flow = Flow("plain").then(double)
with Engine("memory://", flows=[flow]) as engine:
    ref = engine.start(flow, 21)
    assert ref.result(timeout=10) == 42
    assert engine.tracing is not None
    assert engine.events(ref.execution_id)[0].trace is None
print("ran")
"""


def test_with_no_tracer_provider_configured_nothing_is_traced_or_journaled():
    done = subprocess.run(
        [sys.executable, "-c", UNCONFIGURED], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ran"
