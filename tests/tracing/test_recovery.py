"""A process traced into a file is killed mid-flow; the next one continues the same trace."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from opentelemetry.trace import StatusCode

from water import Engine

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from tracedflows import two_steps  # noqa: E402


def reap(child: subprocess.Popen) -> None:
    """Kill the child if it still runs (a failed or hung test leaves no process behind)."""
    if child.poll() is None:
        child.kill()
    child.wait(timeout=30)
    if child.stdout is not None:
        child.stdout.close()


def test_after_a_sigkill_the_recovered_execution_continues_the_journaled_trace(spans, tmp_path):
    db, spans_file = tmp_path / "water.db", tmp_path / "spans.jsonl"
    child = subprocess.Popen(
        [sys.executable, str(HERE / "traced_child.py"), str(db), "order-1", str(spans_file)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "WATER_TEST_BLOCK": "1"},
    )
    try:
        assert child.stdout is not None
        seen = set()
        while not {"STARTED", "BLOCKED"} <= seen:  # the start returned; the second step runs
            line = child.stdout.readline()
            assert line, f"the child exited after printing {sorted(seen)}"
            seen.add(line.strip())
        os.kill(child.pid, signal.SIGKILL)
    finally:
        reap(child)
    assert child.returncode == -signal.SIGKILL

    # what the killed process exported: the spans that had ended (its execution span had not)
    before = {s["name"]: s for s in map(json.loads, spans_file.read_text().splitlines())}
    assert set(before) == {"request", "water.start", "water.step"}
    trace_id = int(before["request"]["context"]["trace_id"], 16)
    start_id = int(before["water.start"]["context"]["span_id"], 16)
    assert before["water.step"]["attributes"]["water.task_id"] == "fetch"

    with Engine(f"sqlite:///{db}", flows=[two_steps()]) as engine:
        assert engine.ref("order-1").result(timeout=10) == 20

    segment = spans.one("water.execution", execution_id="order-1")
    step = spans.one("water.step", task_id="store")
    assert segment.attributes["water.resumed"] is True
    assert segment.context.trace_id == step.context.trace_id == trace_id
    assert segment.parent is not None and segment.parent.span_id == start_id
    assert step.parent is not None and step.parent.span_id == segment.context.span_id
    assert segment.status.status_code is StatusCode.OK
    assert not spans.named("water.step", task_id="fetch")  # a completed step never reruns
