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

from water import Engine
from water.storage import SQLiteStorage

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from crashflows import Num, crash_flow  # noqa: E402

SIZE = 24


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
        child.wait(timeout=30)
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
        eid = ref.execution_id
    changed = Flow("evolving").then(a).then(b).then(a)
    with Engine(url, flows=[changed]) as engine:
        with pytest.raises(FlowChangedError, match="fingerprint"):
            engine.ref(eid).status()
    with Engine(url, flows=[changed], allow_flow_changes=True) as engine:
        assert engine.ref(eid).status().status == "paused"
