"""Engines on PostgreSQL: a SIGKILLed process resumed by another, engines sharing one database.

Everyday behaviour (start, result, pause, resume, signals, retries) runs on PostgreSQL
through the parametrised ``engine`` fixture; these tests need a URL of their own.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from pydantic import BaseModel

from water import Engine, Flow, Pause, Resume, Signal, task
from water.storage.postgres import PostgresStorageError

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from crashflows import Num, crash_flow, nap_flow  # noqa: E402

SIZE = 24


class N(BaseModel):
    value: int


@task
def double(n: N) -> N:
    return N(value=n.value * 2)


def approval_flow() -> Flow:
    return Flow("approval").then(double).wait_for_signal("approve", model=N).then(double)


def kill_child(url: str, run_log: Path, flow: str, size: int, until: str, after: int = 1) -> None:
    """Run ``flow`` in a child process; SIGKILL it at its ``after``-th line starting ``until``."""
    child = subprocess.Popen(
        [sys.executable, str(HERE / "crash_child.py"), url, "ex-crash", str(size), flow],
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
                if seen >= after:
                    break
        else:
            raise AssertionError(f"child exited before printing {until!r} {after} times")
        os.kill(child.pid, signal.SIGKILL)
    finally:
        if child.poll() is None:
            child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL


def step_runs(run_log: Path) -> collections.Counter[str]:
    """How many times each step of ``ex-crash`` ran, in both processes."""
    lines = [line.split() for line in run_log.read_text().splitlines()]
    return collections.Counter(
        step for execution_id, step, _ in lines if execution_id == "ex-crash"
    )


def test_sigkill_mid_flow_then_resume_in_a_new_process(pg_url, tmp_path, monkeypatch):
    import crashflows

    run_log = tmp_path / "runs.log"
    monkeypatch.setattr(crashflows, "RUN_LOG", str(run_log))
    kill_child(pg_url, run_log, "crashy", SIZE, "ex-crash", after=SIZE // 2)
    with Engine(pg_url) as reader:
        durable = {e.key for e in reader.events("ex-crash") if e.type == "step_completed"}
    assert durable, "nothing was durable before the kill"

    with Engine(pg_url, flows=[crash_flow()]) as engine:
        resumed = engine.ref("ex-crash").result(timeout=60)
        done = {e.key for e in engine.events("ex-crash") if e.type == "step_completed"}
    expected = crash_flow().run({"value": SIZE})
    assert resumed == expected == Num(value=expected.value)
    runs = step_runs(run_log)
    assert not {k for k in durable if runs[k] != 1}, "completed steps ran again after resume"
    assert all(runs[k] >= 1 for k in done)
    assert len(durable) < len(done), "the kill landed after the end"


def test_a_timer_armed_before_a_sigkill_fires_in_the_new_process(pg_url, tmp_path, monkeypatch):
    import crashflows

    run_log = tmp_path / "runs.log"
    monkeypatch.setattr(crashflows, "RUN_LOG", str(run_log))
    kill_child(pg_url, run_log, "nap", 1, "SLEEPING")
    with Engine(pg_url, flows=[nap_flow()]) as engine:
        ref = engine.ref("ex-crash")
        assert ref.status().waiting_for == ["timer:sleep:1"]
        assert ref.result(timeout=30) == Num(value=3)
        events = engine.events("ex-crash")
    armed = next(e for e in events if e.type == "timer_armed")
    fired = next(e for e in events if e.type == "timer_fired")
    assert fired.ts >= armed.fire_at
    assert step_runs(run_log) == {"0.stamp": 1, "2.stamp": 1}


def test_pause_and_resume_across_engines(pg_url):
    with Engine(pg_url, flows=[approval_flow()]) as engine:
        ref = engine.start("approval", N(value=3), execution_id="ex-1")
        ref.wait_for_status("waiting", timeout=10)
        ref.ask(Pause())
        ref.wait_for_status("paused", timeout=10)
    # a later engine (a restart, or another host) picks the execution up where it was
    with Engine(pg_url, flows=[approval_flow()]) as engine:
        ref = engine.ref("ex-1")
        assert ref.status().status == "paused"
        ref.ask(Resume())
        ref.wait_for_status("waiting", timeout=10)
        ref.tell(Signal("approve", {"value": 5}))
        assert ref.result(timeout=10) == N(value=10)
        assert [r.execution_id for r in engine.list_executions(status="completed")] == ["ex-1"]


def test_engines_starting_at_once_on_an_empty_database(pg_url):
    engines: list[Engine] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            engines.append(Engine(pg_url, flows=[approval_flow()]))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    try:
        assert errors == []
        assert len(engines) == 4
        ref = engines[0].start("approval", N(value=1))
        ref.wait_for_status("waiting", timeout=10)
        # every engine reads what another wrote
        assert engines[3].ref(ref.execution_id).status().status == "waiting"
    finally:
        for engine in engines:
            engine.shutdown()


def test_an_unreachable_server_fails_the_engine_with_libpqs_reason(tmp_path):
    url = f"postgresql://water@/water?host={tmp_path}"  # a socket directory with no server
    with pytest.raises(PostgresStorageError, match="No such file or directory") as info:
        Engine(url)
    assert info.value.transient
