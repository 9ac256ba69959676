"""Storage faults: a passing outage strands nothing, a lost database refuses work."""

from __future__ import annotations

import collections
import logging
import os
import sqlite3
import sys
import threading
from pathlib import Path

import pytest
from pydantic import BaseModel

from water import (
    Engine,
    ExecutionStatus,
    Flow,
    Signal,
    StorageError,
    TaskContext,
    WaterError,
    task,
)
from water.storage import SQLiteStorage

sys.path.insert(0, str(Path(__file__).parents[1]))

from storefaults import FaultySQLite, faulty


class Num(BaseModel):
    value: int


@task
def same(n: int) -> int:
    return n


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_in_flight_executions_finish_by_themselves_once_a_storage_outage_ends(
    kind: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = faulty(kind, tmp_path)
    runs: collections.Counter[tuple[str, str]] = collections.Counter()
    arrived = threading.Semaphore(0)
    gate = threading.Event()

    @task
    def first(n: Num, ctx: TaskContext) -> Num:
        runs[ctx.execution_id, "first"] += 1
        return Num(value=n.value + 1)

    @task
    def second(n: Num, ctx: TaskContext) -> Num:
        runs[ctx.execution_id, "second"] += 1
        arrived.release()
        assert gate.wait(10), "the test never opened the gate"
        return Num(value=n.value * 2)

    @task
    def third(n: Num, ctx: TaskContext) -> Num:
        runs[ctx.execution_id, "third"] += 1
        return Num(value=n.value + 100)

    flow = Flow("outage").then(first).then(second).then(third)
    with Engine(storage, flows=[flow]) as engine:  # type: ignore[arg-type]
        try:
            refs = [engine.start(flow, {"value": i}) for i in range(5)]
            for _ in refs:
                assert arrived.acquire(timeout=10)
            storage.fail(sqlite3.OperationalError("disk I/O error"))
            gate.set()  # the five results of `second` now fail to commit
            assert storage.failed.wait(10)
            with pytest.raises(StorageError) as refused:  # no new work meanwhile
                engine.start(flow, {"value": 99})
            assert refused.value.transient
            assert "disk I/O error" in str(refused.value)
            assert engine.registry.get_sample_value("water_storage_available") == 0
        finally:
            gate.set()
            storage.heal()
        outputs = [ref.result(timeout=10) for ref in refs]
        assert outputs == [Num(value=(i + 1) * 2 + 100) for i in range(5)]
        assert engine.registry.get_sample_value("water_storage_available") == 1
        for ref in refs:
            kinds = [e.type for e in engine.events(ref.execution_id)]
            assert kinds.count("step_completed") == 3
    ids = {ref.execution_id for ref in refs}
    assert runs == {(eid, step): 1 for eid in ids for step in ("first", "second", "third")}
    logged = [r.getMessage() for r in caplog.records if r.name == "water.storage"]
    assert any(m.startswith("storage unavailable: ") for m in logged)
    assert any(m.startswith("storage available again") for m in logged)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_an_execution_that_cannot_be_loaded_during_an_outage_is_loaded_later(
    kind: str, tmp_path: Path
) -> None:
    storage = faulty(kind, tmp_path)

    @task
    def shout(text: str) -> str:
        return text.upper()

    flow = Flow("later").wait_for_signal("go", str).then(shout)
    with Engine(storage, flows=[flow]) as engine:  # type: ignore[arg-type]
        ref = engine.start(flow, None)
        ref.wait_for_status("waiting", timeout=10)
    with Engine(storage, flows=[flow]) as engine:  # type: ignore[arg-type]
        ref = engine.ref(ref.execution_id)  # not in memory: a message must load it
        storage.fail(sqlite3.OperationalError("database is locked"), reads=True)
        try:
            ref.tell(Signal("go", "hello"))  # kept until the execution can be loaded
            assert storage.failed.wait(10)
            with pytest.raises(StorageError, match="database is locked"):  # answered at once
                engine.start(flow, None, execution_id=ref.execution_id, timeout=5)
        finally:
            storage.heal()
        assert ref.result(timeout=10) == "HELLO"


def test_work_held_by_an_outage_at_shutdown_resumes_at_the_next_start(tmp_path: Path) -> None:
    storage = FaultySQLite(tmp_path / "water.db")
    runs: collections.Counter[str] = collections.Counter()
    gate = threading.Event()
    arrived = threading.Event()

    @task
    def first(n: Num) -> Num:
        runs["first"] += 1
        return Num(value=n.value + 1)

    @task
    def second(n: Num) -> Num:
        runs["second"] += 1
        arrived.set()
        assert gate.wait(10), "the test never opened the gate"
        return Num(value=n.value * 2)

    flow = Flow("interrupted").then(first).then(second)
    with Engine(storage, flows=[flow]) as engine:
        try:
            ref = engine.start(flow, {"value": 1})
            assert arrived.wait(10)
            storage.fail(sqlite3.OperationalError("database or disk is full"))
            gate.set()  # second's result is held: it was never durable
            assert storage.failed.wait(10)
        finally:
            gate.set()
    storage.heal()
    with Engine(storage, flows=[flow]) as engine:
        assert engine.ref(ref.execution_id).result(timeout=10) == Num(value=4)
    assert runs == {"first": 1, "second": 2}  # at least once; the acknowledged start kept


@pytest.mark.parametrize(
    "message",
    [
        "database is locked",
        "disk I/O error",
        "database or disk is full",
        "attempt to write a readonly database",
    ],
)
def test_start_raises_a_storage_error_for_a_passing_sqlite_fault(
    message: str, tmp_path: Path
) -> None:
    storage = FaultySQLite(tmp_path / "water.db")
    flow = Flow("plain").then(same)
    with Engine(storage, flows=[flow]) as engine:
        storage.fail(sqlite3.OperationalError(message))
        try:
            with pytest.raises(StorageError, match=message) as info:
                engine.start(flow, 1)
            assert isinstance(info.value, WaterError)
            assert info.value.transient
        finally:
            storage.heal()
        assert engine.start(flow, 2).result(timeout=10) == 2  # and it works again


def test_start_raises_a_storage_error_for_a_lasting_sqlite_fault(tmp_path: Path) -> None:
    storage = FaultySQLite(tmp_path / "water.db")
    flow = Flow("plain").then(same)
    with Engine(storage, flows=[flow]) as engine:
        storage.fail(sqlite3.DatabaseError("database disk image is malformed"))
        with pytest.raises(StorageError, match="malformed") as info:
            engine.start(flow, 1)
        assert not info.value.transient
        storage.heal()
        assert engine.start(flow, 2).result(timeout=10) == 2


def test_a_deleted_database_file_refuses_new_work(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "water.db"
    gate = threading.Event()
    started = threading.Event()

    @task
    def slow(n: Num) -> Num:
        started.set()
        assert gate.wait(10), "the test never opened the gate"
        return Num(value=n.value + 1)

    flow = Flow("doomed").then(slow)
    with Engine(SQLiteStorage(db), flows=[flow]) as engine:
        try:
            in_flight = engine.start(flow, {"value": 1})
            assert started.wait(10)
            os.remove(db)
            with pytest.raises(StorageError, match="deleted or replaced while open") as info:
                engine.start(flow, {"value": 2})
            assert not info.value.transient
            assert engine.registry.get_sample_value("water_storage_available") == 0
        finally:
            gate.set()
        with pytest.raises(StorageError, match="deleted or replaced"):
            in_flight.result(timeout=10)
        with pytest.raises(StorageError):
            engine.list_executions()
    lost = [r for r in caplog.records if "deleted or replaced" in r.getMessage()]
    assert len([r for r in lost if r.name == "water.storage"]) == 1  # said once
    with Engine(SQLiteStorage(db), flows=[flow]) as engine:  # a new, empty database
        assert engine.get_execution(in_flight.execution_id) is None


def test_a_failed_load_is_logged_with_its_traceback(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    storage = FaultySQLite(tmp_path / "water.db")
    flow = Flow("plain").wait_for_signal("go")
    with Engine(storage, flows=[flow]) as engine:
        ref = engine.start(flow, None)
        ref.wait_for_status(ExecutionStatus.WAITING, timeout=10)
    with caplog.at_level(logging.ERROR), Engine(storage, flows=[flow]) as engine:
        storage.fail(sqlite3.DatabaseError("file is not a database"), reads=True)
        with pytest.raises(StorageError, match="not a database"):
            engine.ref(ref.execution_id).ask(Signal("go"), timeout=10)
    failed = [r for r in caplog.records if r.getMessage().startswith("cannot load execution")]
    assert failed and failed[0].exc_info is not None
