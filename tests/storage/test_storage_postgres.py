"""What only PostgresStorage promises: schema, JSON rows, one round trip, many writers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
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
    PostgresStorage,
    TaskResult,
)
from water.storage import sqlite as sqlite_storage
from water.storage.base import OwnershipLost
from water.storage.faults import is_transient, storage_error
from water.storage.postgres import MIGRATIONS, POSTGRES, SCHEMA_VERSION, PostgresStorageError
from water.storage.sql.nodes import NodeStatements
from water.storage.sqlite import SchemaVersionError, StorageClosedError

psycopg = pytest.importorskip("psycopg")

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def started() -> ExecutionStarted:
    return ExecutionStarted(flow_id="flow", fingerprint="fp", input={"n": 1}, ts=1.0)


def step(key: str, output: Any = None) -> StepCompleted:
    return StepCompleted(key=key, attempt=1, output=output, ts=2.0)


def record(execution_id: str, **changes: Any) -> ExecutionRecord:
    values: dict[str, Any] = {
        "execution_id": execution_id,
        "flow_id": "flow",
        "status": ExecutionStatus.RUNNING,
        "created_at": T0,
        "updated_at": T0,
    }
    values.update(changes)
    return ExecutionRecord(**values)


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


def append(execution_id: str, expected: int, *events: Any) -> AppendRequest:
    return AppendRequest(execution_id=execution_id, events=list(events), expected_seq=expected)


def full(execution_id: str, expected: int = 0) -> AppendRequest:
    return AppendRequest(
        execution_id=execution_id,
        events=[started()] if expected == 0 else [step(f"s{expected}")],
        expected_seq=expected,
        record=record(execution_id),
        checkpoint=checkpoint(execution_id, expected + 1, {}),
        task_results=[TaskResult(key="a", task_id="t", status="running")],
    )


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def with_storage(url: str, body: Callable[[PostgresStorage], Coroutine[Any, Any, Any]]) -> Any:
    async def main() -> Any:
        storage = PostgresStorage(url)
        await storage.initialize()
        try:
            return await body(storage)
        finally:
            await storage.close()

    return run(main())


def raw(url: str, sql: str, params: Any = None) -> list[tuple[Any, ...]]:
    with psycopg.connect(url, autocommit=True) as conn:
        cur = conn.execute(sql, params)
        return cur.fetchall() if cur.description else []


class RoundTrips:
    """Counts the round trips of a storage whose pool holds one connection.

    libpq traces the protocol messages the connection sends: each ``Sync`` (the end
    of an extended-protocol exchange) or simple ``Query`` waits for one reply.
    """

    def __init__(self, path: Path) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
        self._reader = path.open()

    async def attach(self, storage: PostgresStorage) -> None:
        assert storage.pool_max == 1
        pool = storage._pool
        assert pool is not None
        async with pool.connection() as conn:
            conn.pgconn.trace(self._fd)
            conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)

    def reset(self) -> None:
        self._reader.read()

    @property
    def calls(self) -> int:
        """Round trips started since the last reset."""
        sent = [line.split("\t") for line in self._reader.read().splitlines()]
        return sum(len(m) > 2 and m[0] == "F" and m[2] in ("Sync", "Query") for m in sent)


def test_data_survives_close_and_reopen(pg_url: str) -> None:
    async def write() -> None:
        storage = PostgresStorage(pg_url)
        await storage.initialize()
        await storage.initialize()  # idempotent
        assert await storage.commit([full("e1")]) == [None]
        await storage.close()
        await storage.close()  # idempotent
        with pytest.raises(StorageClosedError):
            await storage.load_events("e1")
        await storage.initialize()  # opens again
        assert len(await storage.load_events("e1")) == 1
        await storage.close()

    async def read(storage: PostgresStorage) -> None:
        assert [e.seq for e in await storage.load_events("e1")] == [1]
        assert await storage.get_execution("e1") == record("e1")
        assert await storage.load_checkpoint("e1") == checkpoint("e1", 1, {})
        with pytest.raises(ConcurrencyError):
            await storage.append_events("e1", [step("b")], 0)
        assert await storage.append_events("e1", [step("b")], 1) == 2

    run(write())
    with_storage(pg_url, read)


def test_first_use_opens_the_database(pg_url: str) -> None:
    async def body() -> None:
        storage = PostgresStorage(pg_url)
        try:
            assert await storage.append_events("e1", [started()], 0) == 1
        finally:
            await storage.close()

    run(body())


def test_schema(pg_url: str) -> None:
    async def body(storage: PostgresStorage) -> None:
        pass

    with_storage(pg_url, body)
    with_storage(pg_url, body)  # opening an up-to-date schema changes nothing
    assert raw(pg_url, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]
    columns = raw(
        pg_url,
        "SELECT table_name, column_name, data_type, collation_name "
        "FROM information_schema.columns WHERE table_schema = current_schema()",
    )
    tables = {table for table, *_ in columns}
    assert tables == {
        "schema_version",
        "events",
        "executions",
        "flow_snapshots",
        "task_results",
        "nodes",
        "inbox",
    }
    types = {(table, column): kind for table, column, kind, _ in columns}
    for column in ("created_at", "updated_at", "wake_at"):  # unix seconds, as in SQLite
        assert types["executions", column] == "double precision"
    for table, column in [
        ("events", "data"),
        ("flow_snapshots", "state"),
        ("task_results", "output"),
    ]:
        assert types[table, column] == "text"  # JSON text: jsonb refuses \u0000 and NaN
    ids = {(t, c): collation for t, c, _, collation in columns if c == "execution_id"}
    assert set(ids.values()) == {"C"}  # ids sort byte-wise, as in SQLite
    indexes = raw(
        pg_url,
        "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema() "
        "AND tablename = 'executions' AND indexname LIKE 'executions_%'",
    )
    assert {name for (name,) in indexes} == {
        "executions_flow_created",
        "executions_status",
        "executions_parent",
        "executions_wake_at",
        "executions_owner",
        "executions_pkey",
    }
    # a schema version means the same tables in both dialects
    assert SCHEMA_VERSION == sqlite_storage.SCHEMA_VERSION
    assert [v for v, _ in MIGRATIONS] == [v for v, _ in sqlite_storage.MIGRATIONS]


def test_a_newer_schema_is_refused(pg_url: str) -> None:
    async def body(storage: PostgresStorage) -> None:
        pass

    with_storage(pg_url, body)
    raw(pg_url, "UPDATE schema_version SET version = 99")
    with pytest.raises(SchemaVersionError, match="schema version 99"):
        with_storage(pg_url, body)


def test_engines_starting_at_once_on_an_empty_database_all_migrate(pg_url: str) -> None:
    async def body() -> None:
        storages = [PostgresStorage(pg_url) for _ in range(6)]
        try:
            await asyncio.gather(*(s.initialize() for s in storages))
            assert await storages[0].append_events("e1", [started()], 0) == 1
            assert len(await storages[-1].load_events("e1")) == 1
        finally:
            for storage in storages:
                await storage.close()

    run(body())
    assert raw(pg_url, "SELECT version FROM schema_version") == [(SCHEMA_VERSION,)]


def test_values_are_stored_as_json_text(pg_url: str) -> None:
    output = {"rows": [[1, 2], {"deep": [None, True, 1.5, "s\u0000"]}], "n": float("nan")}

    async def body(storage: PostgresStorage) -> None:
        request = AppendRequest(
            execution_id="e1",
            events=[started(), step("a", output)],
            expected_seq=0,
            record=record("e1", wake_at=12.5),
            checkpoint=checkpoint("e1", 2, {"outputs": {"a": output}}),
            task_results=[TaskResult(key="a", task_id="t", status="completed", output=output)],
        )
        assert await storage.commit([request]) == [None]
        (row,) = await storage.load_task_results("e1")
        assert json.dumps(row.output) == json.dumps(output)  # NaN compares unequal to itself

    with_storage(pg_url, body)
    ((stored,),) = raw(pg_url, "SELECT output FROM task_results")
    assert json.dumps(json.loads(stored)) == json.dumps(output)
    ((state, view),) = raw(pg_url, "SELECT state, view FROM flow_snapshots")
    assert json.loads(state)["outputs"]["a"]["rows"] == output["rows"]
    assert json.loads(view)["execution_id"] == "e1"
    events = raw(pg_url, "SELECT seq, type, ts, data FROM events ORDER BY seq")
    assert [(seq, type_, ts) for seq, type_, ts, _ in events] == [
        (1, "execution_started", 1.0),
        (2, "step_completed", 2.0),
    ]
    assert "seq" not in json.loads(events[1][3])
    assert raw(pg_url, "SELECT created_at, wake_at FROM executions") == [(T0.timestamp(), 12.5)]


def test_nul_characters(pg_url: str) -> None:
    """PostgreSQL text cannot hold NUL: an id with one is refused (alone); an error is kept."""

    async def body(storage: PostgresStorage) -> None:
        results = await storage.commit(
            [
                AppendRequest(execution_id="bad\x00id", events=[started()], expected_seq=0),
                AppendRequest(
                    execution_id="e1",
                    events=[started()],
                    expected_seq=0,
                    record=record("e1", status=ExecutionStatus.FAILED, error="boom\x00!"),
                ),
            ]
        )
        assert isinstance(results[0], ValueError)
        assert "NUL" in str(results[0])
        assert results[1] is None
        got = await storage.get_execution("e1")
        assert got is not None and got.error == "boom\ufffd!"

    with_storage(pg_url, body)


def test_a_commit_is_one_round_trip(pg_url: str, tmp_path: Path) -> None:
    """A group commit costs one statement, whatever its size and whatever it writes."""

    async def body() -> None:
        storage = PostgresStorage(pg_url + "&pool_max=1")
        await storage.initialize()
        trips = RoundTrips(tmp_path / "trace")
        await trips.attach(storage)
        try:
            trips.reset()
            assert await storage.commit([append("e1", 0, started())]) == [None]
            assert trips.calls == 1

            trips.reset()
            assert await storage.append_events("e1", [step("a"), step("b")], 1) == 3
            assert trips.calls == 1

            for prefix, size in (("one", 1), ("many", 100)):
                trips.reset()
                batch = [full(f"{prefix}{i}") for i in range(size)]
                assert await storage.commit(batch) == [None] * size
                assert trips.calls == 1

            # fenced appends lock the index rows they check in the same statement
            await storage.join("a", "h", 1, 30)
            trips.reset()
            fenced = [replace(full(f"f{i}"), fence=("a", 1)) for i in range(3)]
            assert await storage.commit(fenced) == [None] * 3
            assert await storage.commit([replace(full("f0", 1), fence=("a", 1))]) == [None]
            assert trips.calls == 2

            chained = [append("e1", 3 + i, step(f"s{i}")) for i in range(5)]
            trips.reset()
            assert await storage.commit(chained) == [None] * 5
            assert trips.calls == 1
            assert [e.seq for e in await storage.load_events("e1", 3)] == [4, 5, 6, 7, 8]

            # a conflict: the failed statement, the last seqs, the write of the others
            batch = [full(f"x{i}") for i in range(100)]
            batch[50] = full("e1", expected=2)
            trips.reset()
            results = await storage.commit(batch)
            assert trips.calls == 3
            assert results[:50] + results[51:] == [None] * 99
            error = results[50]
            assert isinstance(error, ConcurrencyError)
            assert (error.execution_id, error.expected_seq, error.actual_seq) == ("e1", 2, 8)
            assert await storage.count_executions() == 101 + 99 + 3
        finally:
            await storage.close()

    run(body())


def test_a_large_append_is_one_statement(pg_url: str) -> None:
    """No limit on rows: the values travel as one array per column, not one parameter each."""

    async def body(storage: PostgresStorage) -> None:
        events = [started()] + [step(f"s{i}") for i in range(7000)]
        assert await storage.append_events("big", events, 0) == 7001
        loaded = await storage.load_events("big", after_seq=6990)
        assert [e.seq for e in loaded] == list(range(6991, 7002))

    with_storage(pg_url, body)


def test_two_writers_racing_on_one_stream(pg_url: str) -> None:
    """Two stores (two engines) append at the same seq: one wins, the other conflicts."""

    async def body() -> None:
        a, b = PostgresStorage(pg_url), PostgresStorage(pg_url)
        await a.initialize()
        await b.initialize()
        try:
            await a.append_events("e1", [started()], 0)
            for seq in range(1, 40):
                results = await asyncio.gather(
                    a.commit([full("e1", seq)]),
                    b.commit([full("e1", seq)]),
                )
                outcomes = sorted(type(r[0]).__name__ for r in results)
                assert outcomes == ["ConcurrencyError", "NoneType"]
            assert [e.seq for e in await a.load_events("e1")] == list(range(1, 41))
        finally:
            await a.close()
            await b.close()

    run(body())


def test_an_append_racing_a_claim_is_refused(pg_url: str) -> None:
    """A fenced append that starts while a claim of its execution is not yet committed
    waits for the claim, and is refused: nothing of it reaches the journal."""

    async def body(storage: PostgresStorage) -> None:
        await storage.join("a", "h", 1, 30)
        fenced = replace(full("e1"), fence=("a", 1))
        assert await storage.commit([fenced]) == [None]
        await storage.expire(["a"])
        sql, params = NodeStatements(POSTGRES).claim("b", ["e1"], ["flow"], mine=False)
        claimer = await psycopg.AsyncConnection.connect(pg_url)  # a transaction until commit
        watcher = await psycopg.AsyncConnection.connect(pg_url, autocommit=True)
        try:
            cur = await claimer.execute(sql, params)
            assert [(r[0], r[4]) for r in await cur.fetchall()] == [("e1", 2)]
            late = replace(full("e1", 1), fence=("a", 1))
            appending = asyncio.create_task(storage.commit([late]))
            # the append has started: it is either done (it did not wait) or waiting
            # for the claimer's lock
            blocking = "SELECT count(*) FROM pg_stat_activity WHERE %s = ANY(pg_blocking_pids(pid))"
            for _ in range(3000):  # at most 30 s
                if appending.done():
                    break
                cur = await watcher.execute(blocking, (claimer.info.backend_pid,))
                row = await cur.fetchone()
                if row is not None and row[0] > 0:
                    break
                await asyncio.wait({appending}, timeout=0.01)
            await claimer.commit()
            (result,) = await appending
            assert isinstance(result, OwnershipLost)
            assert "owned by node 'b' (epoch 2)" in str(result)
            assert [e.seq for e in await storage.load_events("e1")] == [1]
            # the new owner appends where the old one stopped
            assert await storage.commit(
                [replace(append("e1", 1, step("next")), fence=("b", 2))]
            ) == [None]
        finally:
            await claimer.close()
            await watcher.close()

    with_storage(pg_url, body)


def test_the_last_resort_applies_requests_one_by_one(
    pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*args: Any) -> None:
        raise psycopg.OperationalError("simulated")

    monkeypatch.setattr(PostgresStorage, "_write_checked", broken)

    async def body(storage: PostgresStorage) -> None:
        await storage.append_events("taken", [started()], 0)
        batch = [full(f"x{i}") for i in range(10)]
        batch[5] = full("taken")
        results = await storage.commit(batch)
        assert results[:5] + results[6:] == [None] * 9
        assert isinstance(results[5], ConcurrencyError)
        assert results[5].actual_seq == 1
        assert await storage.count_executions() == 9

    with_storage(pg_url, body)


def test_a_cancelled_commit_writes_all_of_a_request_or_nothing(pg_url: str) -> None:
    async def body(storage: PostgresStorage) -> None:
        for ticks in range(12):
            execution_id = f"e{ticks}"
            task = asyncio.create_task(storage.commit([full(execution_id)]))
            for _ in range(ticks):
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            written = (
                len(await storage.load_events(execution_id)),
                await storage.get_execution(execution_id) is not None,
                len(await storage.load_task_results(execution_id)),
            )
            assert written in ((0, False, 0), (1, True, 1))
        assert await storage.append_events("last", [started()], 0) == 1

    with_storage(pg_url, body)


def test_the_pool_is_capped_and_the_url_reaches_libpq(pg_url: str) -> None:
    name = f"water_pool_{os.getpid()}"

    async def body() -> None:
        storage = PostgresStorage(f"{pg_url}&application_name={name}&pool_max=2")
        await storage.initialize()
        try:
            await storage.commit([full(f"e{i}") for i in range(5)])
            counts = await asyncio.gather(*(storage.count_executions() for _ in range(30)))
            assert counts == [5] * 30
            (connections,) = raw(
                pg_url, "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s", (name,)
            )
            assert 1 <= connections[0] <= 2
        finally:
            await storage.close()
        # close() released them; the server's backends end just after the sockets close
        deadline = time.monotonic() + 10
        while True:
            (connections,) = raw(
                pg_url,
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                (name,),
            )
            if connections[0] == 0 or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        assert connections[0] == 0

    run(body())


def test_an_unreachable_server_is_a_transient_error(tmp_path: Path) -> None:
    # a Unix socket directory where no server listens: refused at once
    url = f"postgresql://water@/water?host={tmp_path}&password=s3cret"

    async def body() -> None:
        storage = PostgresStorage(url)
        try:
            with pytest.raises(PostgresStorageError) as info:
                await storage.initialize()
        finally:
            await storage.close()
        assert info.value.transient
        assert isinstance(info.value.__cause__, psycopg.OperationalError)
        assert "s3cret" not in str(info.value)
        assert "password=***" in repr(storage)

    run(body())


def test_a_broken_statement_is_a_permanent_error(pg_url: str) -> None:
    async def body(storage: PostgresStorage) -> None:
        raw(pg_url, "DROP TABLE task_results")
        with pytest.raises(PostgresStorageError) as info:
            await storage.load_task_results("e1")
        assert not info.value.transient
        assert "task_results" in str(info.value)
        results = await storage.commit([full("e1"), full("e2")])
        assert all(isinstance(r, PostgresStorageError) for r in results)
        assert await storage.load_events("e1") == []  # all of a request or nothing

    with_storage(pg_url, body)


def test_psycopg_errors_are_classified_where_sqlite_errors_are(pg_url: str, tmp_path: Path) -> None:
    """``faults`` turns psycopg's errors into ``PostgresStorageError`` as the storage does."""
    with pytest.raises(psycopg.OperationalError) as lost:
        psycopg.connect(f"postgresql://water@/water?host={tmp_path}")
    with pytest.raises(psycopg.errors.UndefinedTable) as missing:
        raw(pg_url, "SELECT * FROM no_such_table")
    for error, transient in ((lost.value, True), (missing.value, False)):
        wrapped = storage_error(error, "PostgreSQL database 'x'")
        assert isinstance(wrapped, PostgresStorageError)
        assert wrapped.transient is transient
        assert wrapped.__cause__ is error
        assert str(wrapped).startswith("PostgreSQL database 'x' ")
        assert is_transient(error) is transient

    async def body(storage: PostgresStorage) -> None:
        raw(pg_url, "DROP TABLE executions")
        with pytest.raises(PostgresStorageError) as info:
            await storage.count_executions()
        assert storage.url in str(info.value)  # the error names the database

    with_storage(pg_url, body)


def test_psycopg_is_imported_only_by_the_storage() -> None:
    import subprocess
    import sys

    code = "import sys, water, water.storage; print('psycopg' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_without_psycopg_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from water import Engine

    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if it were not installed
    with pytest.raises(ImportError, match=r"pip install 'water\[postgres\]'"):
        Engine("postgresql://localhost/water")
