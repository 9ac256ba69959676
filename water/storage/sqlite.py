"""SQLite storage: one connection on a thread of its own, WAL journal, group commit.

The schema, the rows and every statement but the writes are shared with the other
SQL storages (``water.storage.sql``); this file holds what is SQLite's own: the
connection and its pragmas, durability, the check that the database file is still
the one opened, and the writes.

The connection belongs to one thread (``sqlite_thread.SQLiteThread``); each read
is a round trip to it, and a whole group commit is one: its statements, its
transaction and its fallbacks run on the thread as one job. A small group commit
(``INLINE_REQUESTS``) is run in place instead, on the event loop's thread, when the
connection's thread is idle: a few rows commit faster than two thread wake-ups.

A group commit that only appends events is a single multi-row ``INSERT`` (in
autocommit mode one statement is its own transaction), which refuses to leave a gap
in a stream (``insert_events``); a request whose events would not directly follow
its stream's last event makes the whole statement fail, and the batch is then
re-applied without the requests at fault. Anything else is written inside
``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal, TypeAlias
from urllib.parse import quote

from water.errors import StorageError
from water.storage.sql.commit import Prepared
from water.storage.sql.dialect import Dialect
from water.storage.sql.rows import (
    CHECKPOINT_COLUMNS,
    EVENT_ROW,
    RECORD_COLUMNS,
    TASK_COLUMNS,
    EventRow,
)
from water.storage.sql.schema import (
    EXECUTION_TABLES,
    EXECUTIONS,
    SCHEMA_VERSION,
    SNAPSHOTS,
    TASK_RESULTS,
    SchemaVersionError,
    Table,
    migrations,
)
from water.storage.sql.statements import insert_events
from water.storage.sql.store import SQLStorage, StorageClosedError
from water.storage.sqlite_thread import Connection, SQLiteThread, drive

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "SQLiteStorage",
    "SchemaVersionError",
    "StorageClosedError",
]

log = logging.getLogger("water.storage")

Durability: TypeAlias = Literal["normal", "full"]

# SQLite's default limit on host parameters (999 before 3.32).
_MAX_PARAMS = 32766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999
_MAX_EVENT_ROWS = _MAX_PARAMS // len(EVENT_ROW)

INLINE_REQUESTS = 4
"""A group commit of at most this many requests is written on the event loop's thread
when the connection's thread is idle: a few rows commit in tens of microseconds, less
than the two thread wake-ups a round trip costs."""

SQLITE = Dialect(
    title="SQLite",
    types={"id": "TEXT", "text": "TEXT", "seq": "INTEGER", "int": "INTEGER", "real": "REAL"},
    param="?",
    text_array=None,
    max_list=_MAX_PARAMS,
    nulls_first="",  # NULLs sort first already
    table_exists="SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'",
    clustered=" WITHOUT ROWID",
    # one host: its wall clock (julianday keeps milliseconds)
    now="((julianday('now') - 2440587.5) * 86400.0)",
)

MIGRATIONS = migrations(SQLITE)
"""Schema migrations as ``(version, statements)``, applied in order in one transaction."""


def _upsert(table: Table, columns: tuple[str, ...], keep: tuple[str, ...] = ()) -> str:
    return (
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({SQLITE.marks(len(columns))}) "
        + table.upsert(columns, keep)
    )


_UPSERT_EXECUTION = _upsert(EXECUTIONS, RECORD_COLUMNS, keep=("created_at", "owner", "epoch"))
_SAVE_CHECKPOINT = _upsert(SNAPSHOTS, CHECKPOINT_COLUMNS)
_SAVE_TASK_RESULT = _upsert(TASK_RESULTS, TASK_COLUMNS)
_DELETES = [f"DELETE FROM {table.name} WHERE execution_id = ?" for table in EXECUTION_TABLES]


@lru_cache(maxsize=256)
def _insert_events_sql(rows: int) -> str:
    """A multi-row insert of ``rows`` events (``insert_events``)."""
    values = ",".join([f"({','.join('?' * len(EVENT_ROW))})"] * rows)
    # the columns of VALUES are named column1, column2, ...
    names = [f"column{i}" for i in range(1, len(EVENT_ROW) + 1)]
    return insert_events(f"(VALUES {values}) AS v", names)


class SQLiteStorage(SQLStorage[Connection]):
    """Storage in one SQLite database file (WAL mode), through one connection on its thread.

    Use it from one event loop. Calls are serialised by an ``asyncio.Lock`` so that
    a transaction is never interleaved with another coroutine's statements.
    """

    DIALECT = SQLITE

    def __init__(
        self, path: str | os.PathLike[str] = "water.db", *, durability: Durability = "normal"
    ) -> None:
        if durability not in ("normal", "full"):
            raise ValueError(f"durability must be 'normal' or 'full', got {durability!r}")
        self.path = os.fspath(path)
        self.durability: Durability = durability
        query = "?durability=full" if durability == "full" else ""
        self.url = f"sqlite:///{quote(self.path, safe='/:~')}{query}"
        self._db: Connection | None = None
        self._lock = asyncio.Lock()
        self._closed = False
        self._file: str | None = None  # the absolute path of the open database file
        self._identity: tuple[int, int] | None = None  # its (st_dev, st_ino) at open
        self._lost: StorageError | None = None  # set once the path names another file

    def __repr__(self) -> str:
        return f"SQLiteStorage({self.path!r}, durability={self.durability!r})"

    @property
    def _database(self) -> str:
        return self.path

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

    async def _open(self) -> Connection:
        """Connect, set the pragmas and migrate the schema (the lock is held)."""
        on_disk = self.path not in ("", ":memory:") and not self.path.startswith("file:")
        if on_disk:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        path = self.path
        db = Connection(
            SQLiteThread(
                lambda: sqlite3.connect(path, isolation_level=None, check_same_thread=False),
                name="water-sqlite",
            )
        )
        try:
            synchronous = "FULL" if self.durability == "full" else "NORMAL"
            pragmas = (
                "PRAGMA busy_timeout = 5000;"
                "PRAGMA journal_mode = WAL;"
                f"PRAGMA synchronous = {synchronous};"
                "PRAGMA foreign_keys = OFF;"
            )

            async def setup() -> None:
                await db.executescript(pragmas)
                await self._migrate(db)

            await db.run_inline(setup)
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

    async def _conn(self) -> Connection:
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
    async def _connect(self) -> AsyncIterator[Connection]:
        """The connection, under the lock."""
        async with self._lock:
            yield await self._conn()

    # -- statements ------------------------------------------------------------
    async def _fetch(
        self, conn: Connection, sql: str, params: Sequence[Any] = ()
    ) -> list[Sequence[Any]]:
        return list(await conn.execute_fetchall(sql, params))

    async def _execute(self, conn: Connection, sql: str, params: Sequence[Any] = ()) -> None:
        await conn.execute(sql, params)

    def _write_lock(self, conn: Connection) -> AbstractAsyncContextManager[None]:
        return _transaction(conn)

    def _migration_lock(self, conn: Connection) -> AbstractAsyncContextManager[None]:
        return _transaction(conn)

    def _is_conflict(self, error: BaseException) -> bool:
        return isinstance(error, sqlite3.IntegrityError)

    async def _commit_items(
        self, items: list[Prepared], results: list[BaseException | None]
    ) -> None:
        """The whole group commit, fallbacks included, as one job of the connection's thread
        (a small one in place when that thread is idle: see ``INLINE_REQUESTS``)."""
        db = self._db
        small = len(items) <= INLINE_REQUESTS
        if small and db is not None and self._lost is None and not self._lock.locked():
            # The common small commit, without the lock's and the error wrapper's context
            # managers: in place it runs to its end without yielding, so no other
            # coroutine's statements can come in between (the lock is free, nobody is
            # inside a transaction).
            try:
                self._check_file()
                done, _ = db.thread.run_here(lambda c: self._write_here(c, db, items, results))
            except Exception as exc:
                error = self._error(exc)
                if error is exc:
                    raise
                raise error from exc
            if done:
                return
        async with self._connection() as conn:
            if len(items) <= INLINE_REQUESTS:
                done, _ = conn.run_here(lambda: self._write_batch(conn, items, results))
                if done:
                    return
            await conn.run_inline(lambda: self._write_batch(conn, items, results))

    def _write_here(
        self,
        raw: sqlite3.Connection,
        conn: Connection,
        items: list[Prepared],
        results: list[BaseException | None],
    ) -> None:
        """A small group commit in place: appends alone as one statement straight on the
        connection (no coroutine to drive); anything else, or a failure, as ``_write_batch``
        (a failed statement in autocommit mode wrote nothing)."""
        if all(item.events_only for item in items):
            rows = [row for item in items for row in item.events]
            if rows and len(rows) <= _MAX_EVENT_ROWS:
                try:
                    _insert_event_rows(raw, rows)
                except sqlite3.Error:
                    pass  # handled (conflict or not) by the general path
                else:
                    return
        drive(self._write_batch(conn, items, results))

    async def _write_all(self, conn: Connection, items: list[Prepared]) -> None:
        if all(item.events_only for item in items):
            rows = [row for item in items for row in item.events]
            if len(rows) <= _MAX_EVENT_ROWS:
                if rows:
                    # One statement in autocommit mode: its own atomic transaction.
                    await _insert_events(conn, rows)
                return
        await super()._write_all(conn, items)

    async def _write(self, conn: Connection, items: list[Prepared]) -> None:
        events = [row for item in items for row in item.events]
        if events:
            await _insert_events(conn, events)
        records = [row for item in items for row in item.records]
        if records:
            await conn.executemany(_UPSERT_EXECUTION, records)
        checkpoints = [row for item in items for row in item.checkpoints]
        if checkpoints:
            await conn.executemany(_SAVE_CHECKPOINT, checkpoints)
        tasks = [row for item in items for row in item.tasks]
        if tasks:
            await conn.executemany(_SAVE_TASK_RESULT, tasks)

    async def _delete(self, conn: Connection, execution_id: str) -> int:
        deleted = 0
        async with _transaction(conn):
            for statement in _DELETES:
                cursor = await conn.execute(statement, (execution_id,))
                deleted += max(cursor.rowcount, 0)
        return deleted


@asynccontextmanager
async def _transaction(db: Connection) -> AsyncIterator[None]:
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


def _insert_event_rows(db: sqlite3.Connection, rows: list[EventRow]) -> None:
    """Insert event rows (``insert_events``), at most ``_MAX_EVENT_ROWS`` per statement."""
    for start in range(0, len(rows), _MAX_EVENT_ROWS):
        chunk = rows[start : start + _MAX_EVENT_ROWS]
        db.execute(_insert_events_sql(len(chunk)), [v for row in chunk for v in row])


async def _insert_events(db: Connection, rows: list[EventRow]) -> None:
    await db.run(lambda c: _insert_event_rows(c, rows))
