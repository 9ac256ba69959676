"""Kill a real process with SIGKILL mid-flow, resume in another, lose nothing."""

from __future__ import annotations

import asyncio
import collections
import os
import random
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from water import Engine, ExecutionFailedError
from water.storage import SQLiteStorage

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from crashflows import Num, crash_flow  # noqa: E402

SIZE = 24


def reap(child: subprocess.Popen) -> None:
    """Kill the child if it still runs (a failed or hung test leaves no process behind)."""
    if child.poll() is None:
        child.kill()
    child.wait(timeout=30)
    if child.stdout is not None:
        child.stdout.close()


def completed_steps(db: Path, execution_id: str) -> set[str]:
    async def read() -> set[str]:
        storage = SQLiteStorage(db)
        await storage.initialize()
        try:
            events = await storage.load_events(execution_id)
        finally:
            await storage.close()
        return {e.key for e in events if e.type == "step_completed"}

    return asyncio.run(read())


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sigkill_at_a_random_step_then_resume_in_a_new_process(tmp_path, monkeypatch, seed):
    rng = random.Random(seed)
    db = tmp_path / "crash.db"
    run_log = tmp_path / "runs.log"
    monkeypatch.setenv("WATER_TEST_RUN_LOG", str(run_log))
    import crashflows

    monkeypatch.setattr(crashflows, "RUN_LOG", str(run_log))
    total_steps = 1 + SIZE + 1 + 12  # prepare, items, summarize, about a dozen halvings
    kill_after = rng.randint(2, total_steps - 4)
    child = subprocess.Popen(
        [sys.executable, str(HERE / "crash_child.py"), str(db), "ex-crash", str(SIZE)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "WATER_TEST_RUN_LOG": str(run_log)},
    )
    try:
        assert child.stdout is not None
        seen = 0
        for line in child.stdout:
            if line.startswith("ex-crash"):
                seen += 1
                if seen >= kill_after:
                    break
        os.kill(child.pid, signal.SIGKILL)
    finally:
        reap(child)
    assert child.returncode == -signal.SIGKILL

    durable_before = completed_steps(db, "ex-crash")
    flow = crash_flow()
    with Engine(f"sqlite:///{db}", flows=[flow]) as engine:
        resumed = engine.ref("ex-crash").result(timeout=60)
    expected = crash_flow().run({"value": SIZE})
    assert resumed == expected == Num(value=expected.value)

    runs = collections.Counter(
        line.split()[1] for line in run_log.read_text().splitlines() if line.startswith("ex-crash")
    )
    twice = {k for k in durable_before if runs[k] != 1}
    assert not twice, f"completed steps ran again after resume: {sorted(twice)}"
    all_steps = completed_steps(db, "ex-crash")
    assert all(runs[k] >= 1 for k in all_steps)
    assert len(durable_before) < len(all_steps), "the kill landed after the end"


def run_child(db: Path, run_log: Path, flow: str, until: str, extra_env: dict[str, str]) -> None:
    """Start the child on ``flow`` and SIGKILL it once it prints a line starting with ``until``."""
    child = subprocess.Popen(
        [sys.executable, str(HERE / "crash_child.py"), str(db), "ex-crash", "1", flow],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "WATER_TEST_RUN_LOG": str(run_log), **extra_env},
    )
    try:
        assert child.stdout is not None
        for line in child.stdout:
            if line.startswith(until) or line.split(" ")[1:2] == [until]:
                break
        else:
            raise AssertionError(f"child exited before printing {until!r}")
        os.kill(child.pid, signal.SIGKILL)
    finally:
        reap(child)
    assert child.returncode == -signal.SIGKILL


def test_a_retry_armed_before_a_crash_fires_on_time_with_the_next_attempt(tmp_path, monkeypatch):
    import crashflows
    from crashflows import backoff_flow

    db, run_log = tmp_path / "b.db", tmp_path / "runs.log"
    monkeypatch.setattr(crashflows, "RUN_LOG", str(run_log))
    run_child(db, run_log, "backoff", "BACKOFF", {})
    with Engine(f"sqlite:///{db}", flows=[backoff_flow()]) as engine:
        ref = engine.ref("ex-crash")
        snap = ref.status()  # still in back-off: attempt 2 has not run yet
        assert snap.status == "running" and snap.waiting_for == ["timer:retry:0.flaky_once"]
        assert ref.result(timeout=30) == Num(value=101)
        events = engine.events("ex-crash")
    failed = [e for e in events if e.type == "step_failed"]
    assert [(e.attempt, e.retry_at is not None) for e in failed] == [(1, True)]
    done = next(e for e in events if e.type == "step_completed")
    assert done.attempt == 2
    assert done.ts >= failed[0].retry_at  # not before its time
    runs = [line.split()[2] for line in run_log.read_text().splitlines()]
    assert runs == ["1", "2"]


def test_a_timer_armed_before_a_sigkill_fires_on_time_in_the_new_process(tmp_path, monkeypatch):
    import crashflows
    from crashflows import nap_flow

    db, run_log = tmp_path / "n.db", tmp_path / "runs.log"
    monkeypatch.setattr(crashflows, "RUN_LOG", str(run_log))
    run_child(db, run_log, "nap", "SLEEPING", {})
    with Engine(f"sqlite:///{db}", flows=[nap_flow()]) as engine:
        ref = engine.ref("ex-crash")
        snap = ref.status()
        assert snap.status == "waiting" and snap.waiting_for == ["timer:sleep:1"]
        assert ref.result(timeout=30) == Num(value=3)
        events = engine.events("ex-crash")
    armed = next(e for e in events if e.type == "timer_armed")
    fired = next(e for e in events if e.type == "timer_fired")
    assert fired.ts >= armed.fire_at  # not early, though the process that armed it died
    steps = [line.split()[1] for line in run_log.read_text().splitlines()]
    assert steps == ["0.stamp", "2.stamp"]


def test_a_crash_in_the_middle_of_a_rollback_resumes_the_rollback(tmp_path, monkeypatch):
    import crashflows
    from crashflows import saga_flow

    db, run_log = tmp_path / "s.db", tmp_path / "runs.log"
    monkeypatch.setattr(crashflows, "RUN_LOG", str(run_log))
    run_child(db, run_log, "saga", "undo:charge", {"WATER_TEST_SLOW_UNDO": "1"})
    with Engine(f"sqlite:///{db}", flows=[saga_flow()]) as engine:
        ref = engine.ref("ex-crash")
        with pytest.raises(ExecutionFailedError, match="carrier refused"):
            ref.result(timeout=30)
        snap = ref.status()
    assert [(c.key, c.status) for c in snap.compensation] == [
        ("1.charge", "completed"),
        ("0.reserve", "completed"),
    ]
    lines = [line.split()[1] for line in run_log.read_text().splitlines()]
    assert lines.count("0.reserve") == 1 and lines.count("1.charge") == 1
    assert lines.count("2.ship") == 1
    assert lines.count("undo:charge") == 2  # interrupted by the kill, then run again
    assert lines.count("undo:reserve") == 1


def test_resuming_under_a_changed_flow_is_refused(tmp_path):
    from pydantic import BaseModel

    from water import Flow, FlowChangedError, Pause, task

    class N(BaseModel):
        value: int

    @task
    def a(n: N) -> N:
        return n

    @task
    def b(n: N) -> N:
        return n

    url = f"sqlite:///{tmp_path}/changed.db"
    with Engine(url) as engine:
        flow = Flow("evolving").then(a).sleep("1h").then(b)
        ref = engine.start(flow, {"value": 1})
        ref.ask(Pause())
        ref.wait_for_status("paused", timeout=10)
        eid = ref.execution_id
    changed = Flow("evolving").then(a).then(b).then(a)
    with Engine(url, flows=[changed]) as engine:
        with pytest.raises(FlowChangedError, match="fingerprint"):
            engine.ref(eid).status()
    with Engine(url, flows=[changed], allow_flow_changes=True) as engine:
        assert engine.ref(eid).status().status == "paused"


def test_a_value_nested_as_deeply_as_accepted_is_readable_and_survives_a_sigkill(
    tmp_path, monkeypatch
):
    import warnings

    import crashflows
    from crashflows import deep_flow, deep_value

    from water import UnstorableValueError

    warnings.filterwarnings("ignore", message=r"Using `httpx` with `starlette.testclient`")
    from fastapi.testclient import TestClient

    from water.server import create_app

    db, run_log = tmp_path / "d.db", tmp_path / "runs.log"
    monkeypatch.setattr(crashflows, "RUN_LOG", str(run_log))
    run_child(db, run_log, "deep", "PARKED", {"WATER_TEST_PARK": "1"})
    value = deep_value()
    with Engine(f"sqlite:///{db}", flows=[deep_flow()]) as engine:
        ref = engine.ref("ex-crash")
        assert ref.result(timeout=30) == value
        snap = ref.status()
        assert snap.input == snap.output == value
        assert snap.step_outputs["1.left"] == snap.step_outputs["1.right"] == value
        client = TestClient(create_app(engine))
        answer = client.get("/sessions/ex-crash")
        assert answer.status_code == 200
        assert answer.json()["input"] == answer.json()["output"] == value
        assert client.get("/sessions/ex-crash/events").status_code == 200
        with pytest.raises(UnstorableValueError, match="nest more than"):
            engine.start(deep_flow(), [value])  # one level more is refused
        refused = client.post("/flows/deep/execute", json=[value])
        assert refused.status_code == 422
        assert refused.json()["error"]["code"] == "validation_error"
    steps = [line.split()[1] for line in run_log.read_text().splitlines()]
    assert steps.count("3.park") == 2  # killed in the first process, run again in this one
    assert steps.count("0.carry") == 1
