"""Many engine processes on one store (SQLite and PostgreSQL): each step runs once, a
dead node's executions are taken over, a paused (zombie) node is fenced, and a node
with no flows steers executions another node runs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from water import Cancel, Engine, Pause, Resume, Signal
from water.status import ExecutionStatus

from .conftest import Spawn
from .nodeprocs import LEASE, runs, runs_by, wait_until

STEPS = [f"{n - 1}.s{n}" for n in range(1, 6)]  # the step keys of the work flow


@pytest.fixture
def observer(store_url: str) -> Iterator[Engine]:
    """An engine with no flows: it reads and steers only, and claims nothing."""
    with Engine(store_url, node_id="observer", lease=LEASE) as engine:
        yield engine


def completed(engine: Engine, execution_id: str) -> dict[str, object]:
    """Step key -> the output its journal kept (the name of the node that ran it)."""
    return {e.key: e.output for e in engine.events(execution_id) if e.type == "step_completed"}


def all_done(engine: Engine, ids: list[str]) -> bool:
    rows = [engine.get_execution(i) for i in ids]
    return all(r is not None and r.status == ExecutionStatus.COMPLETED for r in rows)


def test_two_nodes_starting_the_same_executions_run_every_step_once(
    spawn: Spawn, observer: Engine, run_log: Path
) -> None:
    ids = [f"both-{i}" for i in range(16)]
    specs = [f"work:{i}" for i in ids]
    a = spawn("a", "work", *specs, ready=False)
    b = spawn("b", "work", *reversed(specs), ready=False)
    a.expect("READY")
    b.expect("READY")
    for execution_id in ids:  # a node with no flows awaits them
        observer.ref(execution_id).result(timeout=30)
    counted = runs(run_log)
    assert set(counted) == {(i, s) for i in ids for s in STEPS}
    assert set(counted.values()) == {1}  # every step ran exactly once, over both nodes
    assert [r.owner for r in observer.list_executions(limit=100)].count(None) == 0


def test_a_killed_node_is_taken_over_and_no_durable_step_runs_again(
    spawn: Spawn, observer: Engine, run_log: Path
) -> None:
    ids = [f"kill-{i}" for i in range(8)]
    spawn("b", "work")
    spawn("c", "work")
    a = spawn("a", "work", *(f"work:{i}" for i in ids), step_sleep=0.1)
    wait_until(lambda: len(runs(run_log)) >= 10, what="a few steps run by a")
    a.signal(signal.SIGKILL)
    a.reap()
    durable = {i: set(completed(observer, i)) for i in ids}
    for execution_id in ids:
        observer.ref(execution_id).result(timeout=30)
    counted = runs(run_log)
    assert set(counted) == {(i, s) for i in ids for s in STEPS}
    for execution_id, keys in durable.items():
        for key in keys:  # durably completed before the kill: never run again
            assert counted[execution_id, key] == 1, (execution_id, key)
    survivors = {node for _, _, node in runs_by(run_log)} - {"a"}
    assert survivors, f"no survivor ran anything: {runs_by(run_log)}"
    unfinished = [i for i in ids if len(durable[i]) < len(STEPS)]
    assert unfinished, "a finished everything before it was killed: nothing was taken over"
    for execution_id in unfinished:
        record = observer.get_execution(execution_id)
        assert record is not None and record.owner in ("b", "c") and record.epoch >= 2


def test_a_dead_nodes_executions_spread_over_the_survivors(
    spawn: Spawn, observer: Engine, run_log: Path
) -> None:
    ids = [f"spread-{i}" for i in range(40)]
    spawn("b", "work")
    spawn("c", "work")
    a = spawn("a", "work", *(f"work:{i}" for i in ids), step_sleep=0.3)
    wait_until(lambda: len(runs(run_log)) >= 10, what="a few steps run by a")
    a.signal(signal.SIGKILL)
    a.reap()
    unfinished = [i for i in ids if len(completed(observer, i)) < len(STEPS)]
    assert len(unfinished) >= 10, "a finished most of them before it was killed"
    for execution_id in ids:
        observer.ref(execution_id).result(timeout=60)
    owners = Counter(observer.get_execution(i).owner for i in unfinished)  # type: ignore[union-attr]
    # each survivor claimed its share at a heartbeat: neither took them all
    assert set(owners) == {"b", "c"}, owners
    assert {node for _, _, node in runs_by(run_log)} == {"a", "b", "c"}


def test_a_paused_owner_is_fenced_and_its_late_results_never_reach_the_journal(
    spawn: Spawn, observer: Engine, run_log: Path
) -> None:
    ids = [f"zombie-{i}" for i in range(4)]
    a = spawn("a", "work", *(f"work:{i}" for i in ids), step_sleep=0.3)
    wait_until(lambda: len(runs(run_log)) >= 6, what="a few steps run by a")
    a.signal(signal.SIGSTOP)  # a zombie: alive, holding its executions, silent
    spawn("b", "work")
    # b claims them once a's lease runs out (a's process is alive: no shortcut)
    wait_until(
        lambda: all(observer.get_execution(i).owner == "b" for i in ids),  # type: ignore[union-attr]
        timeout=LEASE * 10,
        what="b to claim a's executions",
    )
    kept_from_a = {i: {k for k, v in completed(observer, i).items() if v == "a"} for i in ids}
    for execution_id in ids:
        observer.ref(execution_id).result(timeout=30)
    a.signal(signal.SIGCONT)  # its steps in flight finish now, too late
    wait_until(lambda: a.status() == (0, len(ids)), what="a to learn it lost all four")
    started_by_a = {(i, k) for i, k, node in runs_by(run_log) if node == "a"}
    late = {(i, k) for i, k in started_by_a if k not in kept_from_a[i]}
    assert late, "a had no step in flight when it was paused"
    for execution_id in ids:
        journal = completed(observer, execution_id)
        assert sorted(journal) == sorted(STEPS)
        # a's results in the journal are exactly those durable before b took over
        assert {k for k, v in journal.items() if v == "a"} == kept_from_a[execution_id]
        keys = [e.key for e in observer.events(execution_id) if e.type == "step_completed"]
        assert len(keys) == len(set(keys))


def test_a_node_with_no_flows_steers_an_execution_another_node_runs(
    spawn: Spawn, observer: Engine, store_url: str
) -> None:
    spawn("a", "steer", "steer:s1", "steer:s2", "steer:s3", "steer:s4")
    ref = observer.ref("s1")
    assert ref.wait_for_status("waiting", timeout=30).status == ExecutionStatus.WAITING
    assert ref.ask(Pause(), timeout=30).status == ExecutionStatus.PAUSED
    assert observer.get_execution("s1").owner == "a"  # type: ignore[union-attr]
    assert ref.ask(Resume(), timeout=30).status in (
        ExecutionStatus.WAITING,
        ExecutionStatus.RUNNING,
    )
    ref.tell(Signal("go", {"ok": 1}))
    assert ref.result(timeout=30) == {"signal": {"ok": 1}}
    # the command line steers the same way
    other = observer.ref("s2")
    other.wait_for_status("waiting", timeout=30)
    water = [sys.executable, "-m", "water.cli"]
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run(
        [*water, "pause", "s2", "--db", store_url], capture_output=True, text=True, env=env
    )
    assert done.returncode == 0, done.stderr
    assert "paused" in done.stdout
    assert observer.ref("s2").status().status == ExecutionStatus.PAUSED
    for command in (["resume", "s2"], ["signal", "s2", "go", "--payload", '{"n": 2}']):
        done = subprocess.run([*water, *command, "--db", store_url], capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    assert other.result(timeout=30) == {"signal": {"n": 2}}
    # cancelled from here, and from the command line
    observer.ref("s3").tell(Cancel("not needed"))
    assert observer.ref("s3").wait_for_status("cancelled", timeout=30).status == "cancelled"
    done = subprocess.run(
        [*water, "cancel", "s4", "--db", store_url], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert observer.ref("s4").status().status == ExecutionStatus.CANCELLED
    done = subprocess.run(
        [*water, "pause", "nope", "--db", store_url], capture_output=True, text=True
    )
    assert done.returncode == 1 and "no execution 'nope'" in done.stderr


def test_timers_and_retry_back_offs_of_a_dead_node_fire_on_its_successor(
    spawn: Spawn, observer: Engine, run_log: Path
) -> None:
    spawn("b", "nap,backoff")
    a = spawn("a", "nap,backoff", "nap:nap-1", "backoff:backoff-1")
    nap, backoff = observer.ref("nap-1"), observer.ref("backoff-1")
    nap.wait_for_status("waiting", timeout=30)  # asleep: its timer is durable
    wait_until(
        lambda: any(w.startswith("timer:retry:") for w in backoff.status().waiting_for),
        what="the retry's back-off to be durable",
    )
    a.signal(signal.SIGKILL)
    a.reap()
    assert nap.result(timeout=30) == {"signal": "a"}
    assert backoff.result(timeout=30) == "b"
    ran = runs_by(run_log)
    assert [(k, node) for i, k, node in ran if i == "nap-1"] == [("0.first", "a"), ("2.last", "b")]
    assert [node for i, _, node in ran if i == "backoff-1"] == ["a", "b"]


def test_children_and_parents_on_different_nodes_report_through_the_inbox(
    spawn: Spawn, observer: Engine, run_log: Path
) -> None:
    ids = [f"outer-{i}" for i in range(3)]
    children = [f"{i}/1.inner" for i in ids]
    spawn("c", "inner")  # knows the child flow only: it can take the children, not the parents
    a = spawn("a", "nested", *(f"nested:{i}" for i in ids), step_sleep=0.1)
    wait_until(lambda: sum("/" in i for i, _ in runs(run_log)) >= 3, what="children to run")
    a.signal(signal.SIGKILL)
    a.reap()
    durable = {i: set(completed(observer, i)) for i in ids + children}
    wait_until(
        lambda: all(observer.get_execution(c).owner == "c" for c in children),  # type: ignore[union-attr]
        what="c to take the children over",
    )
    spawn("b", "nested")  # takes the parents; the children report to them from c
    for execution_id in ids:
        assert observer.ref(execution_id).result(timeout=30)["signal"] in ("a", "c")
    counted = runs(run_log)
    for execution_id, keys in durable.items():
        for key in keys:
            assert counted[execution_id, key] == 1, (execution_id, key)
    assert {observer.get_execution(i).owner for i in ids} == {"b"}  # type: ignore[union-attr]
    assert {observer.get_execution(c).owner for c in children} == {"c"}  # type: ignore[union-attr]
