"""SQLite storage on aiosqlite: one connection, WAL journal, group commit.

Every value is stored as JSON text (events through ``encode_event``, snapshots
through pydantic, step outputs and interpreter state through pydantic's JSON
encoder); nothing is ever pickled. Datetimes are stored as unix seconds and read
back as timezone-aware UTC datetimes (a naive datetime is taken to be UTC).

Each awaited aiosqlite call is a round trip to the connection's worker thread, so
the write path is built to issue as few of them as possible: a group commit that
only appends events is a single multi-row ``INSERT`` (in autocommit mode one
statement is its own transaction). That statement also checks each request's
``expected_seq``: a request whose events would not directly follow its stream's
last event makes the whole statement fail, and the batch is then re-applied one
request at a time so that only the offending request gets a ``ConcurrencyError``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeAlias
from urllib.parse import quote

import aiosqlite
import pydantic_core

from water.errors import StorageError
from water.events import ErrorInfo, Event, decode_event, encode_event
from water.snapshot import Snapshot
from water.status import ExecutionStatus
from water.storage.base import (
    AppendRequest,
    Checkpoint,
    ConcurrencyError,
    ExecutionRecord,
    Storage,
    TaskResult,
    check_page,
)
from water.storage.faults import storage_error

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SQLiteStorage",
    "SchemaVersionError",
    "StorageClosedError",
]

log = logging.getLogger("water.storage")

Durability: TypeAlias = Literal["normal", "full"]
StatusFilter: TypeAlias = ExecutionStatus | str | Sequence[ExecutionStatus | str] | None

MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        1,
        [
            "CREATE TABLE schema_version (version INTEGER NOT NULL)",
            """CREATE TABLE events (
                execution_id TEXT NOT NULL,
                seq INTEGER NOT NULL,
                type TEXT NOT NULL,
                ts REAL NOT NULL,
                data TEXT NOT NULL,
                PRIMARY KEY (execution_id, seq)
            ) WITHOUT ROWID""",
            """CREATE TABLE executions (
                execution_id TEXT PRIMARY KEY,
                flow_id TEXT NOT NULL,
                status TEXT NOT NULL,
                parent_id TEXT,
                created_at REAL NOT NULL,
                updated_at REAL NOT NULL,
                wake_at REAL,
                error TEXT
            )""",
            "CREATE INDEX executions_flow_created ON executions (flow_id, created_at)",
            "CREATE INDEX executions_status ON executions (status)",
            "CREATE INDEX executions_parent ON executions (parent_id)",
            "CREATE INDEX executions_wake_at ON executions (wake_at)",
            """CREATE TABLE flow_snapshots (
                execution_id TEXT NOT NULL,
                seq INTEGER NOT NULL,
                state TEXT NOT NULL,
                view TEXT NOT NULL,
                created_at REAL NOT NULL,
                PRIMARY KEY (execution_id, seq)
            )""",
            """CREATE TABLE task_results (
                execution_id TEXT NOT NULL,
                key TEXT NOT NULL,
                task_id TEXT NOT NULL,
                status TEXT NOT NULL,
                attempts INTEGER NOT NULL,
                output TEXT,
                error TEXT,
                started_at REAL,
                finished_at REAL,
                PRIMARY KEY (execution_id, key)
            )""",
        ],
    ),
    (2, ["ALTER TABLE task_results ADD COLUMN child_execution_id TEXT"]),
]
"""Schema migrations as ``(version, statements)``, applied in order in one transaction."""

SCHEMA_VERSION = MIGRATIONS[-1][0]
"""The schema version this code writes."""


# SQLite's default limit on host parameters (999 before 3.32).
_MAX_PARAMS = 32766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999
_EVENT_COLUMNS = 6
_MAX_EVENT_ROWS = _MAX_PARAMS // _EVENT_COLUMNS

_RECORD_COLUMNS = "execution_id, flow_id, status, parent_id, created_at, updated_at, wake_at, error"
_UPSERT_EXECUTION = (
    f"INSERT INTO executions ({_RECORD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
    "ON CONFLICT (execution_id) DO UPDATE SET flow_id = excluded.flow_id, "
    "status = excluded.status, parent_id = excluded.parent_id, "
    "updated_at = excluded.updated_at, wake_at = excluded.wake_at, error = excluded.error"
)
_SAVE_CHECKPOINT = (
    "INSERT OR REPLACE INTO flow_snapshots (execution_id, seq, state, view, created_at) "
    "VALUES (?, ?, ?, ?, ?)"
)
_TASK_COLUMNS = (
    "key, task_id, status, attempts, output, error, started_at, finished_at, child_execution_id"
)
_SAVE_TASK_RESULT = (
    f"INSERT OR REPLACE INTO task_results (execution_id, {_TASK_COLUMNS}) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
_LAST_SEQ = "SELECT COALESCE(MAX(seq), 0) FROM events WHERE execution_id = ?"
_RECOVERABLE = (ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.PAUSING)

_EventRow: TypeAlias = tuple[str, int, str, float, str, int | None]
_RecordRow: TypeAlias = tuple[str, str, str, str | None, float, float, float | None, str | None]
_CheckpointRow: TypeAlias = tuple[str, int, str, str, float]
_TaskRow: TypeAlias = tuple[
    str, str, str, str, int, str, str | None, float | None, float | None, str | None
]


class SchemaVersionError(StorageError):
    """The database was written by a newer version of Water than this one."""


@lru_cache(maxsize=256)
def _insert_events_sql(rows: int) -> str:
    """A multi-row insert of ``rows`` events that refuses to leave a gap in a stream.

    Each row carries a sixth value, the ``expected_seq`` of its request on the first
    event of a request (NULL otherwise). When that event does not exist the row's
    ``seq`` becomes NULL, which the primary key's NOT NULL rule turns into an
    ``IntegrityError`` for the whole statement, exactly like a duplicate ``seq`` does.
    """
    values = ",".join(["(?,?,?,?,?,?)"] * rows)
    return (
        "INSERT INTO events (execution_id, seq, type, ts, data) "
        "SELECT v.column1, CASE WHEN v.column6 IS NULL OR EXISTS ("
        "SELECT 1 FROM events AS e WHERE e.execution_id = v.column1 AND e.seq = v.column6"
        ") THEN v.column2 END, v.column3, v.column4, v.column5 "
        f"FROM (VALUES {values}) AS v"
    )


def _to_ts(value: datetime) -> float:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _opt_ts(value: datetime | None) -> float | None:
    return None if value is None else _to_ts(value)


def _to_dt(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def _opt_dt(value: float | None) -> datetime | None:
    return None if value is None else datetime.fromtimestamp(value, UTC)


def _dumps(value: Any) -> str:
    return pydantic_core.to_json(value).decode()


def _record_row(record: ExecutionRecord) -> _RecordRow:
    return (
        record.execution_id,
        record.flow_id,
        record.status.value,
        record.parent_id,
        _to_ts(record.created_at),
        _to_ts(record.updated_at),
        record.wake_at,
        record.error,
    )


def _record_from_row(row: Sequence[Any]) -> ExecutionRecord:
    return ExecutionRecord(
        execution_id=row[0],
        flow_id=row[1],
        status=ExecutionStatus(row[2]),
        parent_id=row[3],
        created_at=_to_dt(row[4]),
        updated_at=_to_dt(row[5]),
        wake_at=row[6],
        error=row[7],
    )


def _checkpoint_row(checkpoint: Checkpoint) -> _CheckpointRow:
    return (
        checkpoint.execution_id,
        checkpoint.seq,
        _dumps(checkpoint.state),
        checkpoint.view.model_dump_json(),
        time.time(),
    )


def _task_row(execution_id: str, task_id: str, result: TaskResult) -> _TaskRow:
    return (
        execution_id,
        result.key,
        task_id,
        result.status,
        result.attempts,
        _dumps(result.output),
        None if result.error is None else result.error.model_dump_json(),
        _opt_ts(result.started_at),
        _opt_ts(result.finished_at),
        result.child_execution_id,
    )


def _task_from_row(row: Sequence[Any]) -> TaskResult:
    return TaskResult(
        key=row[0],
        task_id=row[1],
        status=row[2],
        attempts=row[3],
        output=None if row[4] is None else json.loads(row[4]),
        error=None if row[5] is None else ErrorInfo.model_validate_json(row[5]),
        started_at=_opt_dt(row[6]),
        finished_at=_opt_dt(row[7]),
        child_execution_id=row[8],
    )


def _event_rows(execution_id: str, events: Iterable[Event], expected_seq: int) -> list[_EventRow]:
    rows: list[_EventRow] = []
    seq = expected_seq
    check: int | None = expected_seq if expected_seq > 0 else None
    for event in events:
        seq += 1
        rows.append((execution_id, seq, event.type, event.ts, encode_event(event), check))
        check = None
    return rows


def _statuses(status: StatusFilter) -> list[str] | None:
    """Normalise a status filter to a list of values (None: no filter)."""
    if status is None:
        return None
    if isinstance(status, str):
        return [ExecutionStatus(status).value]
    return [ExecutionStatus(s).value for s in status]


def _where(
    flow_id: str | None, status: StatusFilter, parent_id: str | None
) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if flow_id is not None:
        clauses.append("flow_id = ?")
        params.append(flow_id)
    statuses = _statuses(status)
    if statuses is not None:
        clauses.append(f"status IN ({','.join('?' * len(statuses))})")
        params.extend(statuses)
    if parent_id is not None:
        clauses.append("parent_id = ?")
        params.append(parent_id)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


@dataclass(slots=True)
class _Prepared:
    """One request of a group commit, encoded and ready to be written."""

    index: int
    execution_id: str
    expected_seq: int
    events: list[_EventRow]
    records: list[_RecordRow] = field(default_factory=list)
    checkpoints: list[_CheckpointRow] = field(default_factory=list)
    tasks: list[_TaskRow] = field(default_factory=list)

    @property
    def events_only(self) -> bool:
        return not (self.records or self.checkpoints or self.tasks)


def _prepare(index: int, req: AppendRequest) -> _Prepared:
    return _Prepared(
        index,
        req.execution_id,
        req.expected_seq,
        _event_rows(req.execution_id, req.events, req.expected_seq),
        [] if req.record is None else [_record_row(req.record)],
        [] if req.checkpoint is None else [_checkpoint_row(req.checkpoint)],
        [_task_row(req.execution_id, r.task_id, r) for r in req.task_results],
    )


class StorageClosedError(StorageError):
    """The storage was closed (the engine shut down)."""


class SQLiteStorage(Storage):
    """Storage in one SQLite database file (WAL mode), through one aiosqlite connection.

    Use it from one event loop. Calls are serialised by an ``asyncio.Lock`` so that
    a transaction is never interleaved with another coroutine's statements.
    """

    def __init__(
        self, path: str | os.PathLike[str] = "water.db", *, durability: Durability = "normal"
    ) -> None:
        if durability not in ("normal", "full"):
            raise ValueError(f"durability must be 'normal' or 'full', got {durability!r}")
        self.path = os.fspath(path)
        self.durability: Durability = durability
        query = "?durability=full" if durability == "full" else ""
        self.url = f"sqlite:///{quote(self.path, safe='/:~')}{query}"
        self._db: aiosqlite.Connection | None = None
        self._lock = asyncio.Lock()
        self._closed = False
        self._file: str | None = None  # the absolute path of the open database file
        self._identity: tuple[int, int] | None = None  # its (st_dev, st_ino) at open
        self._lost: StorageError | None = None  # set once the path names another file

    def __repr__(self) -> str:
        return f"SQLiteStorage({self.path!r}, durability={self.durability!r})"

    # -- connection ----------------------------------------------------------
    async def initialize(self) -> None:
        async with self._lock:
            self._closed = False
            if self._db is None:
                try:
                    await self._open()
                except sqlite3.Error as exc:
                    raise self._error(exc) from exc

    async def close(self) -> None:
        """Close the connection; later calls fail (``initialize()`` opens it again)."""
        async with self._lock:
            self._closed = True
            db, self._db = self._db, None
            if db is not None:
                await db.close()

    async def _open(self) -> aiosqlite.Connection:
        """Connect, set the pragmas and migrate the schema (the lock is held)."""
        on_disk = self.path not in ("", ":memory:") and not self.path.startswith("file:")
        if on_disk:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        db = await aiosqlite.connect(self.path, isolation_level=None)
        try:
            synchronous = "FULL" if self.durability == "full" else "NORMAL"
            await db.executescript(
                "PRAGMA busy_timeout = 5000;"
                "PRAGMA journal_mode = WAL;"
                f"PRAGMA synchronous = {synchronous};"
                "PRAGMA foreign_keys = OFF;"
            )
            await self._migrate(db)
        except BaseException:
            await db.close()
            raise
        self._db = db
        self._lost = None
        self._file = os.path.abspath(self.path) if on_disk else None
        if self._file is not None:
            info = os.stat(self._file)
            self._identity = (info.st_dev, info.st_ino)
        return db

    async def _migrate(self, db: aiosqlite.Connection) -> None:
        async with _transaction(db):
            found = await db.execute_fetchall(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'"
            )
            current = 0
            if list(found):
                rows = list(await db.execute_fetchall("SELECT MAX(version) FROM schema_version"))
                current = rows[0][0] or 0
            if current > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"database {self.path!r} has schema version {current}, but this version "
                    f"of Water only knows versions up to {SCHEMA_VERSION}; upgrade Water to "
                    "open it"
                )
            if current == SCHEMA_VERSION:
                return
            for version, statements in MIGRATIONS:
                if version > current:
                    for statement in statements:
                        await db.execute(statement)
            await db.execute("DELETE FROM schema_version")
            await db.execute("INSERT INTO schema_version (version) VALUES (?)", (SCHEMA_VERSION,))

    async def _conn(self) -> aiosqlite.Connection:
        """The open connection, opening it on first use (the lock is held)."""
        if self._lost is not None:
            raise self._lost
        if self._db is not None:
            self._check_file()
            return self._db
        if self._closed:
            raise StorageClosedError(f"{self!r} is closed")
        return await self._open()

    def _check_file(self) -> None:
        """Refuse to go on once the path no longer names the file that was opened.

        A database file deleted (or replaced) under an open connection still takes
        writes, into an unlinked inode that is gone at the next start: everything
        acknowledged from then on would be lost. One ``stat`` per call (~1 us).
        """
        if self._file is None or self._identity is None:
            return
        try:
            info = os.stat(self._file)
            same = (info.st_dev, info.st_ino) == self._identity
        except FileNotFoundError:
            same = False
        except OSError as exc:  # e.g. a directory made unreadable for a while
            raise StorageError(
                f"the database file {self._file!r} cannot be checked: {exc}", transient=True
            ) from exc
        if same:
            return
        self._lost = StorageError(
            f"the database file {self._file!r} was deleted or replaced while open; "
            "nothing more is read from or written to it, since whatever is written to a "
            "file that is no longer at its path is lost at the next start. Restore the "
            "file and restart the engine (or restart it to begin a new database)."
        )
        log.error("%s", self._lost)
        raise self._lost

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[aiosqlite.Connection]:
        """The connection, under the lock; SQLite's errors come out as ``StorageError``."""
        async with self._lock:
            try:
                yield await self._conn()
            except sqlite3.Error as exc:
                raise self._error(exc) from exc

    def _error(self, error: BaseException) -> BaseException:
        return storage_error(error, f"SQLite database {self.path!r}")

    # -- the journal -----------------------------------------------------------
    async def append_events(
        self, execution_id: str, events: Sequence[Event], expected_seq: int
    ) -> int:
        if not events:
            return expected_seq
        item = _Prepared(
            0, execution_id, expected_seq, _event_rows(execution_id, events, expected_seq)
        )
        results: list[BaseException | None] = [None]
        async with self._connection() as db:
            await self._write_batch(db, [item], results)
        if results[0] is not None:
            raise self._error(results[0])
        return expected_seq + len(events)

    async def commit(self, batch: Sequence[AppendRequest]) -> list[BaseException | None]:
        results: list[BaseException | None] = [None] * len(batch)
        items: list[_Prepared] = []
        last: dict[str, int] = {}  # streams already appended to by this batch
        for index, req in enumerate(batch):
            try:
                item = _prepare(index, req)
            except Exception as exc:  # e.g. a value JSON cannot encode
                results[index] = exc
                continue
            if item.events:
                previous = last.get(item.execution_id)
                if previous is not None:
                    # a later append to a stream this batch already extends: it must
                    # follow on directly (checked here: the statement cannot see its
                    # own earlier rows)
                    if item.expected_seq != previous:
                        results[index] = ConcurrencyError(
                            item.execution_id, item.expected_seq, previous
                        )
                        continue
                    a, b, c, d, e, _ = item.events[0]
                    item.events[0] = (a, b, c, d, e, None)
                last[item.execution_id] = item.expected_seq + len(item.events)
            items.append(item)
        if items:
            async with self._connection() as db:
                await self._write_batch(db, items, results)
        return [None if r is None else self._error(r) for r in results]

    async def apply(self, req: AppendRequest) -> None:
        result = (await self.commit([req]))[0]
        if result is not None:
            raise result

    async def _write_batch(
        self,
        db: aiosqlite.Connection,
        items: list[_Prepared],
        results: list[BaseException | None],
    ) -> None:
        """Write all items at once; on a conflict, isolate the conflicting requests."""
        try:
            if all(item.events_only for item in items):
                rows = [row for item in items for row in item.events]
                if len(rows) <= _MAX_EVENT_ROWS:
                    if rows:
                        # One statement in autocommit mode: its own atomic transaction.
                        await _insert_events(db, rows)
                    return
            async with _transaction(db):
                await _write(db, items)
        except sqlite3.IntegrityError:
            try:
                await self._write_checked(db, items, results)
            except Exception:  # anything else wrong: find out which request it is
                for item in items:
                    results[item.index] = await self._write_one(db, item)
        except Exception as exc:  # reported per request
            for item in items:
                results[item.index] = exc

    async def _write_checked(
        self,
        db: aiosqlite.Connection,
        items: list[_Prepared],
        results: list[BaseException | None],
    ) -> None:
        """Re-apply a batch that conflicted, refusing only the requests at fault.

        In one transaction (so under SQLite's write lock): read the last ``seq`` of
        every stream the batch appends to, walk the requests in order as if applied
        one by one, give each request whose ``expected_seq`` is not its stream's last
        ``seq`` a ``ConcurrencyError``, and write all the others together.
        """
        conflicts: list[tuple[int, ConcurrencyError]] = []
        async with _transaction(db):
            last = await _last_seqs(db, {item.execution_id for item in items if item.events})
            accepted: list[_Prepared] = []
            for item in items:
                if item.events:
                    actual = last.get(item.execution_id, 0)
                    if actual != item.expected_seq:
                        error = ConcurrencyError(item.execution_id, item.expected_seq, actual)
                        conflicts.append((item.index, error))
                        continue
                    last[item.execution_id] = actual + len(item.events)
                accepted.append(item)
            if accepted:
                await _write(db, accepted)
        for index, error in conflicts:
            results[index] = error

    async def _write_one(self, db: aiosqlite.Connection, item: _Prepared) -> BaseException | None:
        """Apply one request in its own transaction, checking ``expected_seq`` strictly."""
        try:
            async with _transaction(db):
                if item.events:
                    rows = list(await db.execute_fetchall(_LAST_SEQ, (item.execution_id,)))
                    actual = int(rows[0][0])
                    if actual != item.expected_seq:
                        raise ConcurrencyError(item.execution_id, item.expected_seq, actual)
                await _write(db, [item])
        except Exception as exc:  # reported per request
            return exc
        return None

    async def load_events(self, execution_id: str, after_seq: int = 0) -> list[Event]:
        async with self._connection() as db:
            rows = await db.execute_fetchall(
                "SELECT seq, data FROM events WHERE execution_id = ? AND seq > ? ORDER BY seq",
                (execution_id, after_seq),
            )
        return [decode_event(data, seq) for seq, data in rows]

    # -- snapshots -------------------------------------------------------------
    async def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        row = _checkpoint_row(checkpoint)
        async with self._connection() as db:
            await db.execute(_SAVE_CHECKPOINT, row)

    async def load_checkpoint(self, execution_id: str) -> Checkpoint | None:
        async with self._connection() as db:
            rows = list(
                await db.execute_fetchall(
                    "SELECT seq, state, view FROM flow_snapshots WHERE execution_id = ? "
                    "ORDER BY seq DESC LIMIT 1",
                    (execution_id,),
                )
            )
        if not rows:
            return None
        seq, state, view = rows[0]
        return Checkpoint(
            execution_id=execution_id,
            seq=seq,
            state=json.loads(state),
            view=Snapshot.model_validate_json(view),
        )

    async def load_snapshot(self, execution_id: str) -> Snapshot | None:
        async with self._connection() as db:
            rows = list(
                await db.execute_fetchall(
                    "SELECT view FROM flow_snapshots WHERE execution_id = ? "
                    "ORDER BY seq DESC LIMIT 1",
                    (execution_id,),
                )
            )
        return Snapshot.model_validate_json(rows[0][0]) if rows else None

    # -- step results ----------------------------------------------------------
    async def save_task_result(self, execution_id: str, task_id: str, result: TaskResult) -> None:
        row = _task_row(execution_id, task_id, result)
        async with self._connection() as db:
            await db.execute(_SAVE_TASK_RESULT, row)

    async def load_task_results(self, execution_id: str) -> list[TaskResult]:
        async with self._connection() as db:
            rows = await db.execute_fetchall(
                f"SELECT {_TASK_COLUMNS} FROM task_results WHERE execution_id = ? "
                "ORDER BY started_at, key",
                (execution_id,),
            )
        return [_task_from_row(row) for row in rows]

    # -- the executions index --------------------------------------------------
    async def upsert_execution(self, record: ExecutionRecord) -> None:
        row = _record_row(record)
        async with self._connection() as db:
            await db.execute(_UPSERT_EXECUTION, row)

    async def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        async with self._connection() as db:
            rows = list(
                await db.execute_fetchall(
                    f"SELECT {_RECORD_COLUMNS} FROM executions WHERE execution_id = ?",
                    (execution_id,),
                )
            )
        return _record_from_row(rows[0]) if rows else None

    async def list_executions(
        self,
        flow_id: str | None = None,
        status: StatusFilter = None,
        limit: int = 50,
        offset: int = 0,
        *,
        parent_id: str | None = None,
    ) -> list[ExecutionRecord]:
        check_page(limit, offset)
        where, params = _where(flow_id, status, parent_id)
        async with self._connection() as db:
            rows = await db.execute_fetchall(
                f"SELECT {_RECORD_COLUMNS} FROM executions{where} "
                "ORDER BY created_at DESC, execution_id DESC LIMIT ? OFFSET ?",
                [*params, limit, offset],
            )
        return [_record_from_row(row) for row in rows]

    async def count_executions(
        self,
        flow_id: str | None = None,
        status: StatusFilter = None,
        *,
        parent_id: str | None = None,
    ) -> int:
        where, params = _where(flow_id, status, parent_id)
        async with self._connection() as db:
            rows = list(
                await db.execute_fetchall(f"SELECT COUNT(*) FROM executions{where}", params)
            )
        return int(rows[0][0])

    async def executions_to_recover(self) -> list[ExecutionRecord]:
        """Executions a restarted engine must resume, oldest first.

        Those pending, running or pausing, plus those waiting on an armed timer.
        """
        marks = ",".join("?" * len(_RECOVERABLE))
        async with self._connection() as db:
            rows = await db.execute_fetchall(
                f"SELECT {_RECORD_COLUMNS} FROM executions WHERE status IN ({marks}) "
                "OR (status = ? AND wake_at IS NOT NULL) "
                "ORDER BY created_at, execution_id",
                [*(s.value for s in _RECOVERABLE), ExecutionStatus.WAITING.value],
            )
        return [_record_from_row(row) for row in rows]

    async def delete_execution(self, execution_id: str) -> bool:
        deleted = 0
        async with self._connection() as db:
            async with _transaction(db):
                for table in ("events", "flow_snapshots", "task_results", "executions"):
                    cursor = await db.execute(
                        f"DELETE FROM {table} WHERE execution_id = ?", (execution_id,)
                    )
                    deleted += max(cursor.rowcount, 0)
        return deleted > 0


@asynccontextmanager
async def _transaction(db: aiosqlite.Connection) -> AsyncIterator[None]:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error or cancellation."""
    try:
        # Inside the try: if the caller is cancelled while BEGIN is in flight, BEGIN
        # still runs on the worker thread, and the ROLLBACK queued after it undoes it.
        await db.execute("BEGIN IMMEDIATE")
        yield
        await db.execute("COMMIT")
    except BaseException:
        # There may be no transaction to roll back (BEGIN failed, or COMMIT ran after all).
        with suppress(sqlite3.OperationalError):
            await db.execute("ROLLBACK")
        raise


async def _last_seqs(db: aiosqlite.Connection, execution_ids: set[str]) -> dict[str, int]:
    """The last ``seq`` of each of these streams (streams without events are left out)."""
    ids = sorted(execution_ids)
    last: dict[str, int] = {}
    for start in range(0, len(ids), _MAX_PARAMS):
        chunk = ids[start : start + _MAX_PARAMS]
        rows = await db.execute_fetchall(
            "SELECT execution_id, MAX(seq) FROM events "
            f"WHERE execution_id IN ({','.join('?' * len(chunk))}) GROUP BY execution_id",
            chunk,
        )
        last.update((execution_id, int(seq)) for execution_id, seq in rows)
    return last


async def _insert_events(db: aiosqlite.Connection, rows: list[_EventRow]) -> None:
    for start in range(0, len(rows), _MAX_EVENT_ROWS):
        chunk = rows[start : start + _MAX_EVENT_ROWS]
        await db.execute(_insert_events_sql(len(chunk)), [v for row in chunk for v in row])


async def _write(db: aiosqlite.Connection, items: list[_Prepared]) -> None:
    """Write every row of ``items`` (inside a transaction the caller holds)."""
    events = [row for item in items for row in item.events]
    if events:
        await _insert_events(db, events)
    records = [row for item in items for row in item.records]
    if records:
        await db.executemany(_UPSERT_EXECUTION, records)
    checkpoints = [row for item in items for row in item.checkpoints]
    if checkpoints:
        await db.executemany(_SAVE_CHECKPOINT, checkpoints)
    tasks = [row for item in items for row in item.tasks]
    if tasks:
        await db.executemany(_SAVE_TASK_RESULT, tasks)
