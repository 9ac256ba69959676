"""No raw sqlite3 error leaves the storage: every failure is a StorageError, transient or not."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from water import StorageError, WaterError
from water.events import ExecutionStarted
from water.storage import AppendRequest, ConcurrencyError, SQLiteStorage
from water.storage import sqlite as sqlite_module
from water.storage.faults import is_transient, storage_error


def started() -> ExecutionStarted:
    return ExecutionStarted(flow_id="flow", fingerprint="fp", input={"n": 1}, ts=1.0)


def request(execution_id: str) -> AppendRequest:
    return AppendRequest(execution_id=execution_id, events=[started()], expected_seq=0)


def real_error(path: Path, fault: str) -> sqlite3.Error:
    """An error as SQLite itself raises it (with its result code)."""
    sqlite3.connect(path).executescript("CREATE TABLE IF NOT EXISTS t (x)")
    if fault == "locked":
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        other = sqlite3.connect(path, timeout=0)
        statement = "INSERT INTO t VALUES (1)"
        try:
            other.execute(statement)
        except sqlite3.Error as exc:
            return exc
        finally:
            holder.close()
            other.close()
    if fault == "readonly":
        readonly = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            readonly.execute("INSERT INTO t VALUES (1)")
        except sqlite3.Error as exc:
            return exc
        finally:
            readonly.close()
    if fault == "not a database":
        path.write_bytes(b"this is not a database file, just some text" * 100)
        try:
            sqlite3.connect(path).execute("SELECT * FROM t")
        except sqlite3.Error as exc:
            return exc
    if fault == "no such table":
        try:
            sqlite3.connect(path).execute("SELECT * FROM missing")
        except sqlite3.Error as exc:
            return exc
    raise AssertionError(f"no {fault} error")


@pytest.mark.parametrize(
    ("fault", "transient"),
    [("locked", True), ("readonly", True), ("not a database", False), ("no such table", False)],
)
def test_sqlite_errors_become_storage_errors_marked_transient_or_not(
    tmp_path: Path, fault: str, transient: bool
) -> None:
    error = real_error(tmp_path / "x.db", fault)
    wrapped = storage_error(error, "SQLite database 'x.db'")
    assert isinstance(wrapped, StorageError) and isinstance(wrapped, WaterError)
    assert wrapped.transient is transient
    assert is_transient(error) is transient
    assert wrapped.__cause__ is error
    assert str(wrapped).startswith("SQLite database 'x.db' ")
    assert str(error) in str(wrapped)


def test_other_errors_are_left_alone() -> None:
    error = ValueError("cannot encode")
    assert storage_error(error) is error
    assert not is_transient(error)


def test_the_storages_own_errors_are_storage_errors() -> None:
    conflict = ConcurrencyError("x", 0, 1)
    assert isinstance(conflict, StorageError) and not conflict.transient
    assert issubclass(sqlite_module.SchemaVersionError, StorageError)
    assert issubclass(sqlite_module.StorageClosedError, StorageError)


def test_a_file_that_is_not_a_database_fails_to_open_with_a_storage_error(
    tmp_path: Path,
) -> None:
    db = tmp_path / "water.db"
    db.write_bytes(b"not a database, only text " * 200)

    with pytest.raises(StorageError, match="not a database") as info:
        asyncio.run(SQLiteStorage(db).initialize())
    assert not info.value.transient
    assert str(db) in str(info.value)


def test_errors_inside_the_sqlite_storage_come_out_as_storage_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing(*args: Any) -> None:
        raise sqlite3.OperationalError("disk I/O error")

    async def body() -> None:
        storage = SQLiteStorage(tmp_path / "water.db")
        await storage.initialize()
        try:
            with monkeypatch.context() as patch:
                patch.setattr(sqlite_module, "_insert_event_rows", failing)
                [result] = await storage.commit([request("a")])
                assert isinstance(result, StorageError) and result.transient
                with pytest.raises(StorageError, match="disk I/O error"):
                    await storage.append_events("a", [started()], 0)
            outside = sqlite3.connect(tmp_path / "water.db")
            outside.execute("DROP TABLE executions")
            outside.close()
            with pytest.raises(StorageError, match="no such table") as info:
                await storage.list_executions()
            assert not info.value.transient
        finally:
            await storage.close()
        with pytest.raises(StorageError, match="closed"):
            await storage.load_events("a")

    asyncio.run(body())


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_database_file_deleted_or_replaced_while_open_is_refused(
    tmp_path: Path, how: str, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "water.db"

    async def body() -> None:
        storage = SQLiteStorage(db)
        await storage.initialize()
        try:
            assert await storage.commit([request("before")]) == [None]
            if how == "deleted":
                os.remove(db)
            else:
                other = tmp_path / "other.db"
                sqlite3.connect(other).close()
                os.replace(other, db)
            with pytest.raises(StorageError) as info:
                await storage.commit([request("after")])
            assert not info.value.transient
            assert f"the database file {str(db)!r} was deleted or replaced while open" in str(
                info.value
            )
            for call in (storage.commit([request("later")]), storage.load_events("before")):
                with pytest.raises(StorageError, match="deleted or replaced"):
                    await call
        finally:
            await storage.close()

    with caplog.at_level(logging.ERROR, logger="water.storage"):
        asyncio.run(body())
    said = [r for r in caplog.records if "deleted or replaced" in r.getMessage()]
    assert len(said) == 1


def test_a_relative_path_is_checked_where_it_was_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(tmp_path)

    async def body() -> None:
        storage = SQLiteStorage("water.db")
        await storage.initialize()
        try:
            monkeypatch.chdir(elsewhere)  # the process moves; the database does not
            assert await storage.commit([request("a")]) == [None]
            assert [e.seq for e in await storage.load_events("a")] == [1]
        finally:
            await storage.close()

    asyncio.run(body())
