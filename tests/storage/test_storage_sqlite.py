"""What only SQLiteStorage promises: durability, schema, JSON rows, few round trips."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from water.events import ExecutionStarted, StepCompleted
from water.snapshot import Snapshot
from water.status import ExecutionStatus
from water.storage import (
    AppendRequest,
    Checkpoint,
    ConcurrencyError,
    ExecutionRecord,
    SQLiteStorage,
    TaskResult,
)
from water.storage.sqlite import MIGRATIONS, SCHEMA_VERSION, SchemaVersionError

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def started() -> ExecutionStarted:
    return ExecutionStarted(flow_id="flow", fingerprint="fp", input={"n": 1}, ts=1.0)


def step(key: str, output: Any = None) -> StepCompleted:
    return StepCompleted(key=key, attempt=1, output=output, ts=2.0)


def record(execution_id: str, status: ExecutionStatus = ExecutionStatus.RUNNING) -> ExecutionRecord:
    return ExecutionRecord(
        execution_id=execution_id, flow_id="flow", status=status, created_at=T0, updated_at=T0
    )


def checkpoint(execution_id: str, seq: int, state: dict[str, Any]) -> Checkpoint:
    view = Snapshot(
        execution_id=execution_id,
        flow_id="flow",
        status=ExecutionStatus.RUNNING,
        created_at=T0,
        updated_at=T0,
        seq=seq,
    )
    return Checkpoint(execution_id=execution_id, seq=seq, state=state, view=view)


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


class RoundTrips:
    """Counts the jobs a storage runs on its connection (``calls``: handed to its thread,
    or run in place while that thread is idle: ``here``), and the statements."""

    def __init__(self) -> None:
        self.calls = 0
        self.here = 0
        self.statements: list[str] = []

    async def attach(self, storage: SQLiteStorage) -> None:
        db = storage._db
        assert db is not None
        submit, run_here = db.thread.submit, db.thread.run_here

        def counting(job: Callable[..., Any]) -> Any:
            self.calls += 1
            return submit(job)

        def counting_here(job: Callable[..., Any]) -> Any:
            done, result = run_here(job)
            self.calls += done
            self.here += done
            return done, result

        await db.set_trace_callback(self.statements.append)
        db.thread.submit = counting  # type: ignore[method-assign]
        db.thread.run_here = counting_here  # type: ignore[method-assign]

    def reset(self) -> None:
        self.calls = self.here = 0
        self.statements.clear()


def test_data_survives_close_and_reopen(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "water.db"

    async def write() -> None:
        storage = SQLiteStorage(path)
        await storage.initialize()
        await storage.initialize()  # idempotent
        results = await storage.commit(
            [
                AppendRequest(
                    execution_id="e1",
                    events=[started(), step("a", {"x": [1, 2]})],
                    expected_seq=0,
                    record=record("e1"),
                    checkpoint=checkpoint("e1", 2, {"pc": 1}),
                    task_results=[TaskResult(key="a", task_id="t", status="completed")],
                )
            ]
        )
        assert results == [None]
        await storage.close()
        await storage.close()  # idempotent

    async def read() -> None:
        storage = SQLiteStorage(path)
        await storage.initialize()
        try:
            assert [e.seq for e in await storage.load_events("e1")] == [1, 2]
            assert await storage.get_execution("e1") == record("e1")
            loaded = await storage.load_checkpoint("e1")
            assert loaded == checkpoint("e1", 2, {"pc": 1})
            assert [r.key for r in await storage.load_task_results("e1")] == ["a"]
            with pytest.raises(ConcurrencyError):
                await storage.append_events("e1", [step("b")], 1)
            assert await storage.append_events("e1", [step("b")], 2) == 3
        finally:
            await storage.close()

    run(write())
    assert path.exists()  # parent directories were created
    run(read())


def test_first_use_opens_the_database(tmp_path: Path) -> None:
    async def body() -> None:
        storage = SQLiteStorage(tmp_path / "lazy.db")
        try:
            assert await storage.append_events("e1", [started()], 0) == 1
        finally:
            await storage.close()

    run(body())


def test_pragmas_and_schema(tmp_path: Path) -> None:
    path = tmp_path / "water.db"

    async def body(durability: Any, synchronous: int) -> None:
        storage = SQLiteStorage(path, durability=durability)
        await storage.initialize()
        try:
            db = storage._db
            assert db is not None
            pragmas = {}
            for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys"):
                rows = list(await db.execute_fetchall(f"PRAGMA {name}"))
                pragmas[name] = rows[0][0]
            assert pragmas == {
                "journal_mode": "wal",
                "synchronous": synchronous,
                "busy_timeout": 5000,
                "foreign_keys": 0,
            }
            assert await db.thread.run(lambda c: c.isolation_level) is None
        finally:
            await storage.close()

    run(body("normal", 1))
    run(body("full", 2))
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
        tables = {
            name for (name,) in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")
        }
        assert tables == {
            "schema_version",
            "events",
            "executions",
            "flow_snapshots",
            "task_results",
            "nodes",
            "inbox",
        }
        indexes = {
            tuple(col for *_, col in raw.execute(f"PRAGMA index_info({name!r})"))
            for (name,) in raw.execute(
                "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='executions'"
                " AND sql IS NOT NULL"
            )
        }
        assert indexes == {
            ("flow_id", "created_at"),
            ("status",),
            ("parent_id",),
            ("wake_at",),
            ("owner",),
        }
        events_indexes = raw.execute(
            "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='events'"
            " AND sql IS NOT NULL"
        ).fetchall()
        assert events_indexes == [("events_ts",)]
    assert SCHEMA_VERSION == 5
    assert [version for version, _ in MIGRATIONS] == [1, 2, 3, 4, 5]


def test_a_version_1_database_is_migrated_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "water.db"
    with sqlite3.connect(path) as raw:
        for statement in MIGRATIONS[0][1]:
            raw.execute(statement)
        raw.execute("INSERT INTO schema_version (version) VALUES (1)")
        raw.execute(
            "INSERT INTO task_results (execution_id, key, task_id, status, attempts, output) "
            "VALUES ('e1', '0.old', 'old', 'completed', 1, 'null')"
        )
    raw.close()

    async def body() -> list[TaskResult]:
        storage = SQLiteStorage(path)
        await storage.initialize()
        try:
            child = TaskResult(
                key="1.inner", task_id="inner", status="completed", child_execution_id="e1/1.inner"
            )
            await storage.save_task_result("e1", "inner", child)
            return await storage.load_task_results("e1")
        finally:
            await storage.close()

    rows = run(body())
    assert [(r.key, r.child_execution_id) for r in rows] == [
        ("0.old", None),
        ("1.inner", "e1/1.inner"),
    ]
    with sqlite3.connect(path) as raw:
        assert raw.execute("SELECT version FROM schema_version").fetchall() == [(SCHEMA_VERSION,)]
    raw.close()


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "water.db"

    async def open_and_close() -> None:
        storage = SQLiteStorage(path)
        await storage.initialize()
        await storage.close()

    run(open_and_close())
    with sqlite3.connect(path) as raw:
        raw.execute("UPDATE schema_version SET version = 99")
    raw.close()
    with pytest.raises(SchemaVersionError, match="schema version 99"):
        run(open_and_close())


def test_values_are_stored_as_json(tmp_path: Path) -> None:
    path = tmp_path / "water.db"
    output = {"rows": [[1, 2], {"deep": [None, True, 1.5, "s"]}], "n": 3}

    async def body() -> None:
        storage = SQLiteStorage(path)
        await storage.initialize()
        try:
            results = await storage.commit(
                [
                    AppendRequest(
                        execution_id="e1",
                        events=[started(), step("a", output)],
                        expected_seq=0,
                        record=record("e1"),
                        checkpoint=checkpoint("e1", 2, {"outputs": {"a": output}}),
                        task_results=[
                            TaskResult(key="a", task_id="t", status="completed", output=output)
                        ],
                    )
                ]
            )
            assert results == [None]
            (row,) = await storage.load_task_results("e1")
            assert row.output == output
        finally:
            await storage.close()

    run(body())
    with sqlite3.connect(path) as raw:
        (stored,) = raw.execute("SELECT output FROM task_results").fetchone()
        assert json.loads(stored) == output
        state, view = raw.execute("SELECT state, view FROM flow_snapshots").fetchone()
        assert json.loads(state) == {"outputs": {"a": output}}
        assert json.loads(view)["execution_id"] == "e1"
        events = raw.execute("SELECT seq, type, ts, data FROM events ORDER BY seq").fetchall()
        assert [(seq, type_, ts) for seq, type_, ts, _ in events] == [
            (1, "execution_started", 1.0),
            (2, "step_completed", 2.0),
        ]
        assert json.loads(events[1][3])["output"] == output
        assert "seq" not in json.loads(events[1][3])
        assert raw.execute("SELECT created_at, typeof(created_at) FROM executions").fetchone() == (
            T0.timestamp(),
            "real",
        )
    raw.close()


def test_unserialisable_values_are_refused_not_pickled(tmp_path: Path) -> None:
    class Opaque:
        pass

    async def body() -> None:
        storage = SQLiteStorage(tmp_path / "water.db")
        await storage.initialize()
        try:
            results = await storage.commit(
                [
                    AppendRequest(
                        execution_id="bad",
                        events=[started()],
                        expected_seq=0,
                        task_results=[
                            TaskResult(key="a", task_id="t", status="done", output=Opaque())
                        ],
                    ),
                    AppendRequest(execution_id="good", events=[started()], expected_seq=0),
                ]
            )
            assert results[0] is not None
            assert results[1] is None
            assert await storage.load_events("bad") == []
            assert len(await storage.load_events("good")) == 1
            with pytest.raises(Exception, match="Opaque"):
                await storage.save_task_result(
                    "bad", "t", TaskResult(key="a", task_id="t", status="done", output=Opaque())
                )
            assert await storage.load_task_results("bad") == []
        finally:
            await storage.close()

    run(body())


def test_an_events_only_commit_is_one_round_trip(tmp_path: Path) -> None:
    """The hot path: a group commit of appends costs one statement, whatever its size."""

    async def body() -> None:
        storage = SQLiteStorage(tmp_path / "water.db")
        await storage.initialize()
        trips = RoundTrips()
        await trips.attach(storage)
        try:
            batch = [AppendRequest(execution_id="e1", events=[started()], expected_seq=0)]
            trips.reset()
            assert await storage.commit(batch) == [None]
            assert trips.calls == 1
            assert trips.here == 1  # a small commit, the thread idle: no thread hop
            assert len(trips.statements) == 1
            assert trips.statements[0].startswith("INSERT INTO events")

            trips.reset()
            assert await storage.append_events("e1", [step("a"), step("b")], 1) == 3
            assert trips.calls == 1

            batch = [
                AppendRequest(execution_id=f"x{i}", events=[started(), step("a")], expected_seq=0)
                for i in range(100)
            ]
            trips.reset()
            assert await storage.commit(batch) == [None] * 100
            assert trips.calls == 1
            assert trips.here == 0  # a large one on the connection's thread
            assert len(trips.statements) == 1

            # several appends to the same stream in one batch (a fan-out's results)
            chained = [
                AppendRequest(execution_id="e1", events=[step(f"s{i}")], expected_seq=3 + i)
                for i in range(5)
            ]
            trips.reset()
            assert await storage.commit(chained) == [None] * 5
            assert trips.calls == 1
            assert [e.seq for e in await storage.load_events("e1", 3)] == [4, 5, 6, 7, 8]

            # a request that does not follow on is refused; the others are written
            broken = [
                AppendRequest(execution_id="e1", events=[step("t1")], expected_seq=8),
                AppendRequest(execution_id="e1", events=[step("t2")], expected_seq=8),
                AppendRequest(execution_id="x0", events=[step("b")], expected_seq=2),
            ]
            results = await storage.commit(broken)
            assert results[0] is None and results[2] is None
            assert isinstance(results[1], ConcurrencyError)
        finally:
            await storage.close()

    run(body())


def test_a_commit_with_rows_costs_a_fixed_number_of_round_trips(tmp_path: Path) -> None:
    def batch(prefix: str, size: int) -> list[AppendRequest]:
        return [
            AppendRequest(
                execution_id=f"{prefix}{i}",
                events=[started()],
                expected_seq=0,
                record=record(f"{prefix}{i}"),
                checkpoint=checkpoint(f"{prefix}{i}", 1, {}),
                task_results=[TaskResult(key="a", task_id="t", status="running")],
            )
            for i in range(size)
        ]

    async def body() -> None:
        storage = SQLiteStorage(tmp_path / "water.db")
        await storage.initialize()
        trips = RoundTrips()
        await trips.attach(storage)
        try:
            counts = []
            for prefix, size in (("one", 1), ("many", 100)):
                trips.reset()
                assert await storage.commit(batch(prefix, size)) == [None] * size
                counts.append(trips.calls)
            # BEGIN, events, executions, snapshots, task results, COMMIT: one job
            assert counts == [1, 1]
            assert await storage.count_executions() == 101
        finally:
            await storage.close()

    run(body())


def test_large_batches_are_chunked_in_one_transaction(tmp_path: Path) -> None:
    async def body() -> None:
        storage = SQLiteStorage(tmp_path / "water.db")
        await storage.initialize()
        try:
            events = [started()] + [step(f"s{i}") for i in range(7000)]
            assert await storage.append_events("big", events, 0) == 7001
            loaded = await storage.load_events("big", after_seq=6990)
            assert [e.seq for e in loaded] == list(range(6991, 7002))
            # a conflict in the last chunk leaves no trace of the earlier chunks
            batch = [
                AppendRequest(execution_id=f"x{i}", events=[started(), step("a")], expected_seq=0)
                for i in range(4000)
            ]
            batch.append(AppendRequest(execution_id="big", events=[step("z")], expected_seq=5))
            results = await storage.commit(batch)
            assert results[:-1] == [None] * 4000
            assert isinstance(results[-1], ConcurrencyError)
            assert results[-1].actual_seq == 7001
            assert await storage.count_executions() == 0
            assert len(await storage.load_events("x3999")) == 2
        finally:
            await storage.close()

    run(body())


def test_a_cancelled_transaction_is_rolled_back(tmp_path: Path) -> None:
    async def body() -> None:
        storage = SQLiteStorage(tmp_path / "water.db")
        await storage.initialize()
        db = storage._db
        assert db is not None
        try:
            # cancel the commit at each of its awaits in turn (and once it is done)
            for ticks in range(12):
                execution_id = f"e{ticks}"
                task = asyncio.create_task(
                    storage.commit(
                        [
                            AppendRequest(
                                execution_id=execution_id,
                                events=[started()],
                                expected_seq=0,
                                record=record(execution_id),
                                task_results=[TaskResult(key="a", task_id="t", status="done")],
                            )
                        ]
                    )
                )
                for _ in range(ticks):
                    await asyncio.sleep(0)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                assert not await db.thread.run(lambda c: c.in_transaction)
                # all of the request or none of it was written
                written = (
                    len(await storage.load_events(execution_id)),
                    await storage.get_execution(execution_id) is not None,
                    len(await storage.load_task_results(execution_id)),
                )
                assert written in ((0, False, 0), (1, True, 1))
            assert await storage.append_events("last", [started()], 0) == 1
        finally:
            await storage.close()

    run(body())


def test_concurrent_callers_do_not_interleave_transactions(tmp_path: Path) -> None:
    async def body() -> None:
        storage = SQLiteStorage(tmp_path / "water.db")
        await storage.initialize()
        try:

            async def writer(i: int) -> list[BaseException | None]:
                return await storage.commit(
                    [
                        AppendRequest(
                            execution_id=f"e{i}",
                            events=[started()],
                            expected_seq=0,
                            record=record(f"e{i}"),
                        )
                    ]
                )

            results = await asyncio.gather(
                *(writer(i) for i in range(20)),
                *(storage.list_executions() for _ in range(5)),
            )
            assert all(r == [None] for r in results[:20])
            assert await storage.count_executions() == 20
        finally:
            await storage.close()

    run(body())


def test_url_and_validation(tmp_path: Path) -> None:
    assert SQLiteStorage("water.db").url == "sqlite:///water.db"
    assert SQLiteStorage("/abs/water.db").url == "sqlite:////abs/water.db"
    assert SQLiteStorage("a b.db", durability="full").url == "sqlite:///a%20b.db?durability=full"
    with pytest.raises(ValueError, match="durability"):
        SQLiteStorage("x.db", durability="fast")  # type: ignore[arg-type]


def _conflicting_batch() -> list[AppendRequest]:
    batch = [
        AppendRequest(
            execution_id=f"x{i}", events=[started()], expected_seq=0, record=record(f"x{i}")
        )
        for i in range(100)
    ]
    batch[50] = AppendRequest(
        execution_id="taken", events=[step("b")], expected_seq=0, record=record("taken")
    )
    return batch


def _check_conflicting_batch(results: list[BaseException | None]) -> None:
    assert results[:50] == [None] * 50
    assert results[51:] == [None] * 49
    error = results[50]
    assert isinstance(error, ConcurrencyError)
    assert (error.execution_id, error.expected_seq, error.actual_seq) == ("taken", 0, 1)


def test_a_conflict_costs_a_fixed_number_of_round_trips(tmp_path: Path) -> None:
    async def body() -> None:
        storage = SQLiteStorage(tmp_path / "water.db")
        await storage.initialize()
        trips = RoundTrips()
        await trips.attach(storage)
        try:
            await storage.append_events("taken", [started()], 0)
            trips.reset()
            _check_conflicting_batch(await storage.commit(_conflicting_batch()))
            # failed attempt (BEGIN, events, ROLLBACK), then BEGIN, last seqs,
            # events, executions, COMMIT: all in one job
            assert trips.calls == 1
            assert await storage.count_executions() == 99
            assert await storage.get_execution("taken") is None
        finally:
            await storage.close()

    run(body())


def test_the_last_resort_applies_requests_one_by_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any) -> None:
        raise sqlite3.OperationalError("simulated")

    monkeypatch.setattr(SQLiteStorage, "_write_checked", broken)

    async def body() -> None:
        storage = SQLiteStorage(tmp_path / "water.db")
        await storage.initialize()
        try:
            await storage.append_events("taken", [started()], 0)
            _check_conflicting_batch(await storage.commit(_conflicting_batch()))
            assert await storage.count_executions() == 99
            assert [e.seq for e in await storage.load_events("taken")] == [1]
        finally:
            await storage.close()

    run(body())
