"""PostgreSQL storage on psycopg 3: a connection pool, group commit in one statement.

The schema, the JSON encoding and the semantics are those of ``SQLiteStorage``:
the same tables and columns, every value stored as JSON text (``text``, not
``jsonb``, which refuses ``\\u0000`` and ``NaN``), datetimes stored as unix seconds
(``double precision``) and read back as timezone-aware UTC datetimes, so that rows
compare across the two stores. Identifier columns use the ``"C"`` collation so that
ids sort byte-wise as they do in SQLite, whatever the database's locale.

Connections come from an ``AsyncConnectionPool`` (at least one connection, at most
``pool_max``) and run in autocommit mode, so a single statement is its own
transaction. A group commit is always one statement, hence one round trip: the
events are a multi-row ``INSERT`` over ``unnest`` of one array per column, and the
index rows, checkpoints and step rows ride along in data-modifying ``WITH`` clauses
of the same statement. The events insert refuses gaps like SQLite's does: the first
event of each request carries its ``expected_seq``, and when no event with that
``seq`` exists its own ``seq`` becomes NULL, which the primary key turns into an
integrity error for the whole statement, exactly like a duplicate ``seq`` does.
The batch is then re-applied without the requests at fault, which get a
``ConcurrencyError``.

psycopg is imported only when a ``PostgresStorage`` is created, so that Water
itself does not depend on it (``pip install 'water[postgres]'``).
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeAlias
from urllib.parse import unquote

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
from water.storage.sqlite import SchemaVersionError, StorageClosedError

if TYPE_CHECKING:
    from psycopg import AsyncConnection
    from psycopg_pool import AsyncConnectionPool

__all__ = [
    "MIGRATIONS",
    "POOL_MAX",
    "SCHEMA_VERSION",
    "PostgresStorage",
    "PostgresStorageError",
]

StatusFilter: TypeAlias = ExecutionStatus | str | Sequence[ExecutionStatus | str] | None

POOL_MAX = 10
"""The default largest number of connections a ``PostgresStorage`` opens."""

_ID = 'text COLLATE "C"'

MIGRATIONS: list[tuple[int, list[str]]] = [
    (
        1,
        [
            "CREATE TABLE schema_version (version integer NOT NULL)",
            f"""CREATE TABLE events (
                execution_id {_ID} NOT NULL,
                seq bigint NOT NULL,
                type text NOT NULL,
                ts double precision NOT NULL,
                data text NOT NULL,
                PRIMARY KEY (execution_id, seq)
            )""",
            f"""CREATE TABLE executions (
                execution_id {_ID} PRIMARY KEY,
                flow_id {_ID} NOT NULL,
                status text NOT NULL,
                parent_id {_ID},
                created_at double precision NOT NULL,
                updated_at double precision NOT NULL,
                wake_at double precision,
                error text
            )""",
            "CREATE INDEX executions_flow_created ON executions (flow_id, created_at)",
            "CREATE INDEX executions_status ON executions (status)",
            "CREATE INDEX executions_parent ON executions (parent_id)",
            "CREATE INDEX executions_wake_at ON executions (wake_at)",
            f"""CREATE TABLE flow_snapshots (
                execution_id {_ID} NOT NULL,
                seq bigint NOT NULL,
                state text NOT NULL,
                view text NOT NULL,
                created_at double precision NOT NULL,
                PRIMARY KEY (execution_id, seq)
            )""",
            f"""CREATE TABLE task_results (
                execution_id {_ID} NOT NULL,
                key {_ID} NOT NULL,
                task_id text NOT NULL,
                status text NOT NULL,
                attempts integer NOT NULL,
                output text,
                error text,
                started_at double precision,
                finished_at double precision,
                PRIMARY KEY (execution_id, key)
            )""",
        ],
    ),
    (2, ["ALTER TABLE task_results ADD COLUMN child_execution_id text"]),
]
"""Schema migrations as ``(version, statements)``, applied in order in one transaction.

The versions are those of ``water.storage.sqlite.MIGRATIONS``: a version names the
same tables and columns in both dialects.
"""

SCHEMA_VERSION = MIGRATIONS[-1][0]
"""The schema version this code writes."""

_MIGRATION_LOCK = 0x57415452  # "WATR": the advisory lock class held while migrating

_EVENT_COLUMNS = "execution_id, seq, type, ts, data"
_RECORD_COLUMNS = "execution_id, flow_id, status, parent_id, created_at, updated_at, wake_at, error"
_CHECKPOINT_COLUMNS = "execution_id, seq, state, view, created_at"
_TASK_COLUMNS = (
    "key, task_id, status, attempts, output, error, started_at, finished_at, child_execution_id"
)

# The statements of a group commit, each over ``unnest`` of one array parameter per column.
# The arrays are sent in binary (%b): no quoting of the JSON text, many times faster.
_INSERT_EVENTS = (
    f"INSERT INTO events ({_EVENT_COLUMNS}) "
    "SELECT v.execution_id, CASE WHEN v.expected IS NULL OR EXISTS ("
    "SELECT 1 FROM events AS e WHERE e.execution_id = v.execution_id AND e.seq = v.expected"
    ") THEN v.seq END, v.type, v.ts, v.data "
    "FROM unnest(%b::text[], %b::bigint[], %b::text[], %b::float8[], %b::text[], %b::bigint[]) "
    "AS v(execution_id, seq, type, ts, data, expected)"
)
_UPSERT_EXECUTIONS = (
    f"INSERT INTO executions ({_RECORD_COLUMNS}) "
    "SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], "
    "%b::float8[], %b::float8[], %b::float8[], %b::text[]) "
    "ON CONFLICT (execution_id) DO UPDATE SET flow_id = excluded.flow_id, "
    "status = excluded.status, parent_id = excluded.parent_id, "
    "updated_at = excluded.updated_at, wake_at = excluded.wake_at, error = excluded.error"
)
_SAVE_CHECKPOINTS = (
    f"INSERT INTO flow_snapshots ({_CHECKPOINT_COLUMNS}) "
    "SELECT * FROM unnest(%b::text[], %b::bigint[], %b::text[], %b::text[], %b::float8[]) "
    "ON CONFLICT (execution_id, seq) DO UPDATE SET state = excluded.state, "
    "view = excluded.view, created_at = excluded.created_at"
)
_SAVE_TASK_RESULTS = (
    f"INSERT INTO task_results (execution_id, {_TASK_COLUMNS}) "
    "SELECT * FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::integer[], "
    "%b::text[], %b::text[], %b::float8[], %b::float8[], %b::text[]) "
    "ON CONFLICT (execution_id, key) DO UPDATE SET task_id = excluded.task_id, "
    "status = excluded.status, attempts = excluded.attempts, output = excluded.output, "
    "error = excluded.error, started_at = excluded.started_at, "
    "finished_at = excluded.finished_at, child_execution_id = excluded.child_execution_id"
)
_LAST_SEQ = "SELECT COALESCE(MAX(seq), 0) FROM events WHERE execution_id = %s"
_DELETE_EXECUTION = (
    "WITH e AS (DELETE FROM events WHERE execution_id = %(id)s RETURNING 1), "
    "s AS (DELETE FROM flow_snapshots WHERE execution_id = %(id)s RETURNING 1), "
    "t AS (DELETE FROM task_results WHERE execution_id = %(id)s RETURNING 1), "
    "x AS (DELETE FROM executions WHERE execution_id = %(id)s RETURNING 1) "
    "SELECT (SELECT count(*) FROM e) + (SELECT count(*) FROM s) "
    "+ (SELECT count(*) FROM t) + (SELECT count(*) FROM x)"
)
_RECOVERABLE = (ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.PAUSING)

_EventRow: TypeAlias = tuple[str, int, str, float, str, int | None]
_RecordRow: TypeAlias = tuple[str, str, str, str | None, float, float, float | None, str | None]
_CheckpointRow: TypeAlias = tuple[str, int, str, str, float]
_TaskRow: TypeAlias = tuple[
    str, str, str, str, int, str, str | None, float | None, float | None, str | None
]


class PostgresStorageError(StorageError):
    """A PostgreSQL error, raised or reported by ``PostgresStorage``.

    ``transient`` is true for
    errors a retry on another connection may cure: the connection was lost or could
    not be made (psycopg's ``OperationalError``) or no pooled connection came free in
    time; every other error (a bad statement, a refused value) is permanent.
    ``__cause__`` is psycopg's exception.
    """

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message, transient=transient)


def _storage_error(exc: Exception) -> PostgresStorageError:
    import psycopg

    # psycopg_pool's PoolTimeout is an OperationalError too
    transient = isinstance(exc, psycopg.OperationalError)
    error = PostgresStorageError(f"PostgreSQL: {exc}", transient=transient)
    error.__cause__ = exc
    return error


def _require_driver() -> None:
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "PostgresStorage needs psycopg 3 and psycopg-pool: pip install 'water[postgres]'"
        ) from exc


def _parse_url(url: str) -> tuple[str, int | None]:
    """Split a ``postgresql://`` URL into psycopg's conninfo and its ``pool_max`` option."""
    scheme, sep, _ = url.partition("://")
    if not sep or scheme.lower() not in ("postgresql", "postgres"):
        raise ValueError(
            f"a PostgreSQL URL starts with 'postgresql://' or 'postgres://', got {_redact(url)!r}"
        )
    base, _, query = url.partition("?")
    kept: list[str] = []
    pool_max: int | None = None
    for part in query.split("&") if query else []:
        name, _, value = part.partition("=")
        if unquote(name) != "pool_max":
            kept.append(part)
            continue
        try:
            pool_max = int(unquote(value))
        except ValueError:
            pool_max = 0
        if pool_max < 1:
            raise ValueError(f"pool_max must be a whole number >= 1 in URL {_redact(url)!r}")
    return base + ("?" + "&".join(kept) if kept else ""), pool_max


def _redact(url: str) -> str:
    """The URL without its password (in the user part or as a query option)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    location, mark, query = rest.partition("?")
    authority, slash, path = location.partition("/")
    user, at, hosts = authority.rpartition("@")
    if at and ":" in user:
        user = user.partition(":")[0] + ":***"
    parts = [
        "password=***" if unquote(p.partition("=")[0]) == "password" else p
        for p in query.split("&")
    ]
    location = f"{user}{at}{hosts}{slash}{path}"
    return f"{scheme}{sep}{location}{mark}{'&'.join(parts) if mark else ''}"


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


def _text(value: str, what: str) -> str:
    """An identifier as stored: PostgreSQL text cannot hold NUL, so one is refused."""
    if "\x00" in value:
        raise ValueError(f"{what} {value!r} contains a NUL character, which PostgreSQL refuses")
    return value


def _opt_text(value: str | None, what: str) -> str | None:
    return None if value is None else _text(value, what)


def _record_row(record: ExecutionRecord) -> _RecordRow:
    return (
        _text(record.execution_id, "execution id"),
        _text(record.flow_id, "flow id"),
        record.status.value,
        _opt_text(record.parent_id, "parent id"),
        _to_ts(record.created_at),
        _to_ts(record.updated_at),
        record.wake_at,
        # a summary of the error (the journal keeps it exactly, as JSON): a NUL in an
        # exception's message must not make the execution's row unwritable
        None if record.error is None else record.error.replace("\x00", "\ufffd"),
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
        _text(checkpoint.execution_id, "execution id"),
        checkpoint.seq,
        _dumps(checkpoint.state),
        checkpoint.view.model_dump_json(),
        time.time(),
    )


def _task_row(execution_id: str, task_id: str, result: TaskResult) -> _TaskRow:
    return (
        _text(execution_id, "execution id"),
        _text(result.key, "step key"),
        _text(task_id, "task id"),
        _text(result.status, "step status"),
        result.attempts,
        _dumps(result.output),
        None if result.error is None else result.error.model_dump_json(),
        _opt_ts(result.started_at),
        _opt_ts(result.finished_at),
        None if result.child_execution_id is None else _text(result.child_execution_id, "id"),
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
    execution_id = _text(execution_id, "execution id")
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
        clauses.append("flow_id = %s")
        params.append(flow_id)
    statuses = _statuses(status)
    if statuses is not None:
        clauses.append("status = ANY(%s::text[])")
        params.append(statuses)
    if parent_id is not None:
        clauses.append("parent_id = %s")
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


@lru_cache(maxsize=16)
def _write_sql(events: bool, records: bool, checkpoints: bool, tasks: bool) -> str:
    """One statement writing the parts a batch has: the last one is the main statement."""
    parts = [
        sql
        for sql, present in (
            (_INSERT_EVENTS, events),
            (_UPSERT_EXECUTIONS, records),
            (_SAVE_CHECKPOINTS, checkpoints),
            (_SAVE_TASK_RESULTS, tasks),
        )
        if present
    ]
    *first, last = parts
    if not first:
        return last
    clauses = ", ".join(f"w{i} AS ({sql})" for i, sql in enumerate(first))
    return f"WITH {clauses} {last}"


def _columns(rows: Sequence[tuple[Any, ...]]) -> list[list[Any]]:
    """Rows as one list per column (the array parameters of an ``unnest``)."""
    return [list(column) for column in zip(*rows, strict=True)]


def _write_params(items: list[_Prepared]) -> tuple[str, list[Any]] | None:
    """The statement and parameters writing every row of ``items``, or None if there are none.

    Rows for the same key are applied in order as separate upserts would be (one
    statement may not update a row twice): the last one wins, except that an index
    row keeps the ``created_at`` of the first.
    """
    events = [row for item in items for row in item.events]
    records: dict[str, _RecordRow] = {}
    for item in items:
        for row in item.records:
            first = records.get(row[0])
            records[row[0]] = row if first is None else (*row[:4], first[4], *row[5:])
    checkpoints = {row[:2]: row for item in items for row in item.checkpoints}
    tasks = {row[:2]: row for item in items for row in item.tasks}
    if not (events or records or checkpoints or tasks):
        return None
    params: list[Any] = []
    for rows in (events, list(records.values()), list(checkpoints.values()), list(tasks.values())):
        if rows:
            params.extend(_columns(rows))
    sql = _write_sql(bool(events), bool(records), bool(checkpoints), bool(tasks))
    return sql, params


class PostgresStorage(Storage):
    """Storage in a PostgreSQL database, through a pool of psycopg connections.

    ``url`` is a ``postgresql://`` (or ``postgres://``) URL as libpq reads it, for
    example ``postgresql://water:secret@db.example.com:5432/water?sslmode=require``;
    its ``pool_max`` query option (or the ``pool_max`` argument) caps the pool's size.
    The tables are created in the first schema of the connection's ``search_path``.
    ``self.url`` is the URL without its password, safe to print.
    """

    def __init__(self, url: str, *, pool_max: int | None = None) -> None:
        conninfo, from_url = _parse_url(url)
        if pool_max is not None and from_url is not None and pool_max != from_url:
            raise ValueError(
                f"pool_max={pool_max} contradicts pool_max={from_url} in the URL {_redact(url)!r}"
            )
        chosen = pool_max if pool_max is not None else from_url
        if chosen is not None and chosen < 1:
            raise ValueError(f"pool_max must be >= 1, got {chosen}")
        _require_driver()
        self.pool_max = chosen or POOL_MAX
        self.url = _redact(url)
        self._conninfo = conninfo
        self._pool: AsyncConnectionPool[AsyncConnection[Any]] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"PostgresStorage({self.url!r}, pool_max={self.pool_max})"

    # -- connection ----------------------------------------------------------
    async def initialize(self) -> None:
        self._closed = False
        if self._pool is None:
            await self._open()

    async def close(self) -> None:
        """Close the pool; later calls fail (``initialize()`` opens it again)."""
        self._closed = True
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def _open(self) -> AsyncConnectionPool[AsyncConnection[Any]]:
        """Migrate the schema on a connection of its own, then open the pool.

        The first connection is made directly, so that a wrong address or password
        fails at once with libpq's own message rather than as a pool timeout.
        """
        import psycopg
        from psycopg_pool import AsyncConnectionPool

        try:
            conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
            async with conn:
                await self._migrate(conn)
            pool: AsyncConnectionPool[AsyncConnection[Any]] = AsyncConnectionPool(
                self._conninfo,
                min_size=1,
                max_size=self.pool_max,
                kwargs={"autocommit": True},
                open=False,
                name="water",
            )
            try:
                await pool.open(wait=True)
            except BaseException:
                await pool.close()
                raise
        except psycopg.Error as exc:
            raise _storage_error(exc) from exc
        if self._pool is not None or self._closed:  # opened or closed meanwhile
            await pool.close()
            return await self._get_pool()
        self._pool = pool
        return pool

    async def _migrate(self, conn: AsyncConnection[Any]) -> None:
        """Create or upgrade the schema, under a lock so that two engines may start at once."""
        async with conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(COALESCE(current_schema(), '')))",
                (_MIGRATION_LOCK,),
            )
            cur = await conn.execute("SELECT to_regclass('schema_version') IS NOT NULL")
            found = await cur.fetchone()
            current = 0
            if found is not None and found[0]:
                cur = await conn.execute("SELECT MAX(version) FROM schema_version")
                row = await cur.fetchone()
                current = (row[0] if row else None) or 0
            if current > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"database {self.url!r} has schema version {current}, but this version "
                    f"of Water only knows versions up to {SCHEMA_VERSION}; upgrade Water to "
                    "open it"
                )
            if current == SCHEMA_VERSION:
                return
            for version, statements in MIGRATIONS:
                if version > current:
                    for statement in statements:
                        await conn.execute(statement)
            await conn.execute("DELETE FROM schema_version")
            await conn.execute(
                "INSERT INTO schema_version (version) VALUES (%s)", (SCHEMA_VERSION,)
            )

    async def _get_pool(self) -> AsyncConnectionPool[AsyncConnection[Any]]:
        """The open pool, opening it on first use."""
        if self._pool is not None:
            return self._pool
        if self._closed:
            raise StorageClosedError(f"{self!r} is closed")
        return await self._open()

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[AsyncConnection[Any]]:
        """A pooled connection; psycopg's errors come out as ``PostgresStorageError``."""
        import psycopg

        pool = await self._get_pool()
        try:
            async with pool.connection() as conn:
                yield conn
        except psycopg.Error as exc:
            raise _storage_error(exc) from exc

    async def _fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        async with self._connection() as conn:
            cur = await conn.execute(sql, params)
            return await cur.fetchall()

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
        await self._write_batch([item], results)
        if results[0] is not None:
            raise results[0]
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
            await self._write_batch(items, results)
        return results

    async def apply(self, req: AppendRequest) -> None:
        result = (await self.commit([req]))[0]
        if result is not None:
            raise result

    async def _write_batch(
        self, items: list[_Prepared], results: list[BaseException | None]
    ) -> None:
        """Write all items at once; on a conflict, isolate the conflicting requests."""
        import psycopg

        try:
            async with self._connection() as conn:
                try:
                    await _write(conn, items)
                except psycopg.IntegrityError:
                    try:
                        await self._write_checked(conn, items, results)
                    except Exception:  # anything else wrong: find out which request it is
                        for item in items:
                            results[item.index] = await self._write_one(conn, item)
        except Exception as exc:  # reported per request
            for item in items:
                if results[item.index] is None:
                    results[item.index] = exc

    async def _write_checked(
        self,
        conn: AsyncConnection[Any],
        items: list[_Prepared],
        results: list[BaseException | None],
    ) -> None:
        """Re-apply a batch that conflicted, refusing only the requests at fault.

        Read the last ``seq`` of every stream the batch appends to, walk the
        requests in order as if applied one by one, give each request whose
        ``expected_seq`` is not its stream's last ``seq`` a ``ConcurrencyError``, and
        write all the others together. That write checks every stream again, so a
        writer racing in between makes it fail rather than leave a gap.
        """
        conflicts: list[tuple[int, ConcurrencyError]] = []
        last = await _last_seqs(conn, {item.execution_id for item in items if item.events})
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
            await _write(conn, accepted)
        for index, error in conflicts:
            results[index] = error

    async def _write_one(self, conn: AsyncConnection[Any], item: _Prepared) -> BaseException | None:
        """Apply one request in its own statement, checking ``expected_seq`` strictly."""
        import psycopg

        if item.events and item.expected_seq > 0:
            a, b, c, d, e, _ = item.events[0]
            item.events[0] = (a, b, c, d, e, item.expected_seq)
        try:
            await _write(conn, [item])
        except psycopg.IntegrityError as exc:
            try:
                cur = await conn.execute(_LAST_SEQ, (item.execution_id,))
                row = await cur.fetchone()
            except Exception as read_error:  # reported per request
                return read_error
            actual = 0 if row is None else int(row[0])
            if actual != item.expected_seq:
                return ConcurrencyError(item.execution_id, item.expected_seq, actual)
            return _storage_error(exc)
        except Exception as exc:  # reported per request
            return _storage_error(exc) if isinstance(exc, psycopg.Error) else exc
        return None

    async def load_events(self, execution_id: str, after_seq: int = 0) -> list[Event]:
        rows = await self._fetch(
            "SELECT seq, data FROM events WHERE execution_id = %s AND seq > %s ORDER BY seq",
            (execution_id, after_seq),
        )
        return [decode_event(data, seq) for seq, data in rows]

    # -- snapshots -------------------------------------------------------------
    async def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        item = _Prepared(0, checkpoint.execution_id, 0, [], [], [_checkpoint_row(checkpoint)])
        async with self._connection() as conn:
            await _write(conn, [item])

    async def load_checkpoint(self, execution_id: str) -> Checkpoint | None:
        rows = await self._fetch(
            "SELECT seq, state, view FROM flow_snapshots WHERE execution_id = %s "
            "ORDER BY seq DESC LIMIT 1",
            (execution_id,),
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
        rows = await self._fetch(
            "SELECT view FROM flow_snapshots WHERE execution_id = %s ORDER BY seq DESC LIMIT 1",
            (execution_id,),
        )
        return Snapshot.model_validate_json(rows[0][0]) if rows else None

    # -- step results ----------------------------------------------------------
    async def save_task_result(self, execution_id: str, task_id: str, result: TaskResult) -> None:
        item = _Prepared(0, execution_id, 0, [], tasks=[_task_row(execution_id, task_id, result)])
        async with self._connection() as conn:
            await _write(conn, [item])

    async def load_task_results(self, execution_id: str) -> list[TaskResult]:
        rows = await self._fetch(
            f"SELECT {_TASK_COLUMNS} FROM task_results WHERE execution_id = %s "
            "ORDER BY started_at NULLS FIRST, key",
            (execution_id,),
        )
        return [_task_from_row(row) for row in rows]

    # -- the executions index --------------------------------------------------
    async def upsert_execution(self, record: ExecutionRecord) -> None:
        item = _Prepared(0, record.execution_id, 0, [], [_record_row(record)])
        async with self._connection() as conn:
            await _write(conn, [item])

    async def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        rows = await self._fetch(
            f"SELECT {_RECORD_COLUMNS} FROM executions WHERE execution_id = %s",
            (execution_id,),
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
        rows = await self._fetch(
            f"SELECT {_RECORD_COLUMNS} FROM executions{where} "
            "ORDER BY created_at DESC, execution_id DESC LIMIT %s OFFSET %s",
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
        rows = await self._fetch(f"SELECT COUNT(*) FROM executions{where}", params)
        return int(rows[0][0])

    async def executions_to_recover(self) -> list[ExecutionRecord]:
        """Executions a restarted engine must resume, oldest first.

        Those pending, running or pausing, plus those waiting on an armed timer.
        """
        rows = await self._fetch(
            f"SELECT {_RECORD_COLUMNS} FROM executions WHERE status = ANY(%s::text[]) "
            "OR (status = %s AND wake_at IS NOT NULL) "
            "ORDER BY created_at, execution_id",
            [[s.value for s in _RECOVERABLE], ExecutionStatus.WAITING.value],
        )
        return [_record_from_row(row) for row in rows]

    async def delete_execution(self, execution_id: str) -> bool:
        async with self._connection() as conn:
            cur = await conn.execute(_DELETE_EXECUTION, {"id": execution_id})
            row = await cur.fetchone()
        return row is not None and int(row[0]) > 0


async def _last_seqs(conn: AsyncConnection[Any], execution_ids: set[str]) -> dict[str, int]:
    """The last ``seq`` of each of these streams (streams without events are left out)."""
    cur = await conn.execute(
        "SELECT execution_id, MAX(seq) FROM events "
        "WHERE execution_id = ANY(%s::text[]) GROUP BY execution_id",
        (sorted(execution_ids),),
    )
    return {execution_id: int(seq) for execution_id, seq in await cur.fetchall()}


async def _write(conn: AsyncConnection[Any], items: list[_Prepared]) -> None:
    """Write every row of ``items`` in one statement (its own transaction)."""
    statement = _write_params(items)
    if statement is not None:
        sql, params = statement
        await conn.execute(sql, params)
