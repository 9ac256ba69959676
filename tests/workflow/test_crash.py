"""SIGKILL a process mid-workflow, recover in a new one: nothing durable runs again."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from water import Engine, Signal

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

import crashworkflows  # noqa: E402
from crashworkflows import Onboarding, Progress, Total, nested_sums, sums  # noqa: E402

SIZE = 20


def run_child(db: Path, run_log: Path, args: list[str], until: str, lines: int = 1) -> None:
    """Start the child and SIGKILL it once it printed ``lines`` lines starting with ``until``."""
    child = subprocess.Popen(
        [sys.executable, str(HERE / "crash_child.py"), str(db), "ex-crash", *args],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "WATER_TEST_RUN_LOG": str(run_log)},
    )
    try:
        assert child.stdout is not None
        seen = 0
        for line in child.stdout:
            if line.startswith(until):
                seen += 1
                if seen >= lines:
                    break
        else:
            raise AssertionError(f"child exited before printing {until!r}")
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL


def step_runs(run_log: Path) -> collections.Counter[str]:
    return collections.Counter(line.split()[1] for line in run_log.read_text().splitlines())


@pytest.mark.parametrize("kill_after", [3, 11])
def test_sigkill_mid_workflow_then_recover_in_a_new_process(tmp_path, monkeypatch, kill_after):
    db, run_log = tmp_path / "wf.db", tmp_path / "runs.log"
    monkeypatch.setattr(crashworkflows, "RUN_LOG", str(run_log))
    run_child(db, run_log, ["sums", str(SIZE)], "ex-crash", kill_after)

    with Engine(f"sqlite:///{db}", recover=False) as reader:
        before = reader.events("ex-crash")
    durable = {e.key for e in before if e.type == "step_completed"}
    [token] = [e.value for e in before if e.type == "value_recorded"]
    assert 0 < len(durable) < SIZE

    with Engine(f"sqlite:///{db}", flows=[sums]) as engine:  # recovers at start
        result = engine.ref("ex-crash").result(timeout=60)
        after = engine.events("ex-crash")
    assert result == Total(token=token, total=sum(i * i for i in range(SIZE)))
    runs = step_runs(run_log)
    again = sorted(k for k in durable if runs[k] != 1)
    assert not again, f"completed steps ran again after the crash: {again}"
    assert all(runs[e.key] >= 1 for e in after if e.type == "step_completed")
    assert [e.type for e in after].count("value_recorded") == 1  # uuid4() was replayed


def test_a_class_workflow_keeps_its_state_across_a_sigkill_between_its_steps(tmp_path, monkeypatch):
    db, run_log = tmp_path / "cls.db", tmp_path / "runs.log"
    monkeypatch.setattr(crashworkflows, "RUN_LOG", str(run_log))
    run_child(db, run_log, ["onboarding"], "WAITING")
    with Engine(f"sqlite:///{db}", flows=[Onboarding]) as engine:
        ref = engine.ref("ex-crash")
        assert ref.status().status == "waiting"
        ref.ask(Signal("plan", "pro"))
        assert ref.result(timeout=30) == Progress(account="acct-ana", plan="pro")
    assert step_runs(run_log) == {"create.0.open_account": 1}


def test_a_flow_and_its_nested_workflow_recover_after_a_sigkill(tmp_path, monkeypatch):
    db, run_log = tmp_path / "nested.db", tmp_path / "runs.log"
    monkeypatch.setattr(crashworkflows, "RUN_LOG", str(run_log))
    run_child(db, run_log, ["nested", str(SIZE)], "ex-crash/0.sums", 5)
    child_id = "ex-crash/0.sums"
    with Engine(f"sqlite:///{db}", recover=False) as reader:
        before = reader.events(child_id)
        assert reader.get_execution("ex-crash").status == "running"  # waits for its child
    durable = {e.key for e in before if e.type == "step_completed"}
    [token] = [e.value for e in before if e.type == "value_recorded"]
    assert 0 < len(durable) < SIZE

    with Engine(f"sqlite:///{db}", flows=[nested_sums]) as engine:  # the flow only
        result = engine.ref("ex-crash").result(timeout=60)
        child = engine.ref(child_id).status()
    assert result == Total(token=token, total=sum(i * i for i in range(SIZE)))
    assert child.status == "completed" and child.parent_id == "ex-crash"
    runs = step_runs(run_log)
    again = sorted(k for k in durable if runs[k] != 1)
    assert not again, f"completed steps ran again after the crash: {again}"
