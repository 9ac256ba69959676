"""PostgreSQL storage on psycopg 3: a connection pool, group commit in one statement.

The schema, the rows and every statement but the writes are shared with
``SQLiteStorage`` (``water.storage.sql``): the same tables and columns, every value
stored as JSON text (``text``, not ``jsonb``, which refuses ``\\u0000`` and ``NaN``),
datetimes stored as unix seconds (``double precision``) and read back as
timezone-aware UTC datetimes, so that rows compare across the two stores.
Identifier columns use the ``"C"`` collation so that ids sort byte-wise as they do
in SQLite, whatever the database's locale.

Connections come from an ``AsyncConnectionPool`` (at least one connection, at most
``pool_max``) and run in autocommit mode, so a single statement is its own
transaction. A group commit is always one statement, hence one round trip: the
events are a multi-row ``INSERT`` over ``unnest`` of one array per column, which
refuses to leave a gap in a stream (``insert_events``), and the index rows,
checkpoints and step rows ride along in data-modifying ``WITH`` clauses of the same
statement. When a request's events would not directly follow its stream's last
event, the whole statement fails and the batch is re-applied without the requests
at fault, which get a ``ConcurrencyError``. A batch with fenced appends (a node's)
first locks the index rows of those executions, in a ``WITH`` clause of the same
statement, and checks the fence on the rows it locked (``_FENCE_LOCK``).

psycopg is imported only when a ``PostgresStorage`` is created, so that Water
itself does not depend on it (``pip install 'water[postgres]'``).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager, nullcontext, suppress
from functools import lru_cache
from typing import TYPE_CHECKING, Any, cast

from water.storage.base import INBOX, REPLIES, STATUSES, Closer
from water.storage.faults import PostgresStorageError
from water.storage.postgres_url import redact, split_url
from water.storage.sql.commit import Prepared
from water.storage.sql.dialect import Dialect, Kind
from water.storage.sql.rows import (
    CHECKPOINT_COLUMNS,
    EVENT_CHECKS,
    EVENT_COLUMNS,
    EVENT_ROW,
    RECORD_COLUMNS,
    TASK_COLUMNS,
    RecordRow,
    RowCodec,
)
from water.storage.sql.schema import (
    EVENTS,
    EXECUTION_TABLES,
    EXECUTIONS,
    SCHEMA_VERSION,
    SNAPSHOTS,
    TASK_RESULTS,
    Table,
    migrations,
)
from water.storage.sql.statements import insert_events
from water.storage.sql.store import SQLStorage, StorageClosedError

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

log = logging.getLogger("water.storage")

POOL_MAX = 10
"""The default largest number of connections a ``PostgresStorage`` opens."""

POSTGRES = Dialect(
    title="PostgreSQL",
    types={
        "id": 'text COLLATE "C"',
        "text": "text",
        "seq": "bigint",
        "int": "integer",
        "real": "double precision",
    },
    param="%s",
    text_array="%s::text[]",
    max_list=sys.maxsize,  # a list is one parameter
    nulls_first=" NULLS FIRST",
    table_exists="SELECT 1 WHERE to_regclass('schema_version') IS NOT NULL",
    # the server's clock: the same for every host sharing the database
    now="(EXTRACT(EPOCH FROM clock_timestamp())::float8)",
)

MIGRATIONS = migrations(POSTGRES)
"""Schema migrations as ``(version, statements)``, applied in order in one transaction.

The versions are those of ``water.storage.sqlite.MIGRATIONS``: a version names the
same tables and columns in both dialects.
"""

_MIGRATION_LOCK = 0x57415452  # "WATR": the advisory lock class held while migrating

# The statements of a group commit, each over ``unnest`` of one array parameter per column.
# The arrays are sent in binary (%b): no quoting of the JSON text, many times faster.
_ARRAYS: dict[Kind, str] = {
    "id": "text[]",
    "text": "text[]",
    "seq": "bigint[]",
    "int": "integer[]",
    "real": "float8[]",
}


def _arrays(table: Table, columns: Sequence[str]) -> str:
    """One binary array parameter per column."""
    return ", ".join(f"%b::{_ARRAYS[table.column(c).kind]}" for c in columns)


def _upsert(
    table: Table, columns: tuple[str, ...], keep: tuple[str, ...] = (), where: str = ""
) -> str:
    return (
        f"INSERT INTO {table.name} ({', '.join(columns)}) "
        f"SELECT * FROM unnest({_arrays(table, columns)}){where} {table.upsert(columns, keep)}"
    )


_EVENT_ARRAYS = [_arrays(EVENTS, EVENT_COLUMNS), *(f"%b::{_ARRAYS[k]}" for _, k in EVENT_CHECKS)]
_EVENT_SOURCE = f"unnest({', '.join(_EVENT_ARRAYS)}) AS v({', '.join(EVENT_ROW)})"
_INSERT_EVENTS = insert_events(_EVENT_SOURCE, EVENT_ROW)
_FENCE_LOCK = (
    "f AS MATERIALIZED (SELECT execution_id, owner, epoch, status FROM executions "
    "WHERE execution_id = ANY(%b::text[]) ORDER BY execution_id FOR NO KEY UPDATE)"
)
"""The index rows of the fenced executions of a batch, locked (one parameter: their ids);
their status is the one before the statement (``_NOTIFY_STATUSES``).

A claim is an ``UPDATE`` of the same rows, so a claim and a fenced append are always
one after the other: an append waits for a claim in progress, and then reads the row
it left (a locking read in READ COMMITTED returns the row's newest version, not the
one of the statement's snapshot), so that its fence fails; a claim waits for an
append in progress, and the claimer loads the journal after it. The lock is the one
an ``UPDATE`` of a non-key column takes, so that two appends to an execution (an old
owner's and the new one's) never both hold it and both wait to update its index row.
They are taken in order of id, as a claim of many executions takes them when it reads
the primary key (should a claim take them in another order, PostgreSQL ends the
deadlock by failing one of the two: a transient error, retried)."""
_INSERT_FENCED_EVENTS = insert_events(_EVENT_SOURCE, EVENT_ROW, owners="f")
_NOTIFY_STATUSES = (
    f"SELECT pg_notify('{STATUSES}', r.execution_id) FROM {{records}} AS r WHERE NOT EXISTS "
    "(SELECT 1 FROM f WHERE f.execution_id = r.execution_id AND f.status = r.status)"
)
"""The main query of a batch whose fenced requests write index rows: tell the listeners
of every node (``listen``) of each execution whose status it changes (or that is new),
when the batch commits; ``{records}`` is the clause of the upsert."""
_UPSERT_EXECUTIONS = _upsert(EXECUTIONS, RECORD_COLUMNS, keep=("created_at", "owner", "epoch"))
_UPSERT_FENCED_EXECUTIONS = (
    _upsert(
        EXECUTIONS,
        RECORD_COLUMNS,
        keep=("created_at", "owner", "epoch"),
        where=" WHERE (SELECT count(*) FROM f) >= 0",
    )
    + " RETURNING execution_id, status"
)
"""The upsert of the index rows after ``_FENCE_LOCK`` has locked and read all of its rows:
the condition is a one-time filter, evaluated before the first row is written (a row
this statement had updated already would be skipped by the lock, and look unowned)."""
_SAVE_CHECKPOINTS = _upsert(SNAPSHOTS, CHECKPOINT_COLUMNS)
_SAVE_TASK_RESULTS = _upsert(TASK_RESULTS, TASK_COLUMNS)
_CREATED = RECORD_COLUMNS.index("created_at")
_DELETE_EXECUTION = (
    "WITH "
    + ", ".join(
        f"d{i} AS (DELETE FROM {t.name} WHERE execution_id = %(id)s RETURNING 1)"
        for i, t in enumerate(EXECUTION_TABLES)
    )
    + " SELECT "
    + " + ".join(f"(SELECT count(*) FROM d{i})" for i in range(len(EXECUTION_TABLES)))
)


# the inbox's writes, each telling the listeners of every node (``listen``)
_POST = (
    "WITH i AS (INSERT INTO inbox (id, execution_id, kind, body, created_at) "
    "VALUES (%s, %s, %s, %s, %s) RETURNING execution_id) "
    f"SELECT pg_notify('{INBOX}', execution_id) FROM i"
)
_ANSWER = (
    "WITH a AS (UPDATE inbox SET handled_at = %s, reply = %s WHERE id = %s RETURNING id) "
    f"SELECT pg_notify('{REPLIES}', id) FROM a"
)


class _Rows(RowCodec):
    """PostgreSQL text cannot hold NUL: an identifier with one is refused, an error
    summary has it replaced."""

    def ident(self, value: str, what: str) -> str:
        if "\x00" in value:
            raise ValueError(f"{what} {value!r} contains a NUL character, which PostgreSQL refuses")
        return value

    def summary(self, value: str) -> str:
        return value.replace("\x00", "\ufffd")


def _require_driver() -> None:
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "PostgresStorage needs psycopg 3 and psycopg-pool: pip install 'water[postgres]'"
        ) from exc


@lru_cache(maxsize=32)
def _write_sql(events: bool, records: bool, checkpoints: bool, tasks: bool, fenced: bool) -> str:
    """One statement writing the parts a batch has: the last one is the main statement.

    With ``fenced``, the statement first locks the index rows of the fenced executions
    (``_FENCE_LOCK``) and the events insert reads their owners there; if it writes index
    rows too, every part is a ``WITH`` clause and the main query notifies the changes of
    status (``_NOTIFY_STATUSES``).
    """
    parts = [
        sql
        for sql, present in (
            (_INSERT_FENCED_EVENTS if fenced else _INSERT_EVENTS, events),
            (_UPSERT_FENCED_EXECUTIONS if fenced else _UPSERT_EXECUTIONS, records),
            (_SAVE_CHECKPOINTS, checkpoints),
            (_SAVE_TASK_RESULTS, tasks),
        )
        if present
    ]
    if fenced and records:
        written = _UPSERT_FENCED_EXECUTIONS
        first, last = parts, _NOTIFY_STATUSES.format(records=f"w{parts.index(written)}")
    else:
        *first, last = parts
    clauses = [f"w{i} AS ({sql})" for i, sql in enumerate(first)]
    if fenced:
        clauses.insert(0, _FENCE_LOCK)
    if not clauses:
        return last
    return f"WITH {', '.join(clauses)} {last}"


def _columns(rows: Sequence[tuple[Any, ...]]) -> list[list[Any]]:
    """Rows as one list per column (the array parameters of an ``unnest``)."""
    return [list(column) for column in zip(*rows, strict=True)]


def _write_params(items: list[Prepared]) -> tuple[str, list[Any]] | None:
    """The statement and parameters writing every row of ``items``, or None if there are none.

    Rows for the same key are applied in order as separate upserts would be (one
    statement may not update a row twice): the last one wins, except that an index
    row keeps the ``created_at`` of the first.
    """
    events = [row for item in items for row in item.events]
    records: dict[str, RecordRow] = {}
    for item in items:
        for row in item.records:
            first = records.get(row[0])
            if first is not None:
                row = cast(RecordRow, (*row[:_CREATED], first[_CREATED], *row[_CREATED + 1 :]))
            records[row[0]] = row
    checkpoints = {row[:2]: row for item in items for row in item.checkpoints}
    tasks = {row[:2]: row for item in items for row in item.tasks}
    if not (events or records or checkpoints or tasks):
        return None
    fenced = sorted({item.execution_id for item in items if item.fence is not None and item.events})
    params: list[Any] = [fenced] if fenced else []
    for rows in (events, list(records.values()), list(checkpoints.values()), list(tasks.values())):
        if rows:
            params.extend(_columns(rows))
    sql = _write_sql(bool(events), bool(records), bool(checkpoints), bool(tasks), bool(fenced))
    return sql, params


class PostgresStorage(SQLStorage["AsyncConnection[Any]"]):
    """Storage in a PostgreSQL database, through a pool of psycopg connections.

    ``url`` is a ``postgresql://`` (or ``postgres://``) URL as libpq reads it, for
    example ``postgresql://water:secret@db.example.com:5432/water?sslmode=require``;
    its ``pool_max`` query option (or the ``pool_max`` argument) caps the pool's size.
    The tables are created in the first schema of the connection's ``search_path``.
    ``self.url`` is the URL without its password, safe to print.
    """

    DIALECT = POSTGRES
    ROWS = _Rows()

    def __init__(self, url: str, *, pool_max: int | None = None) -> None:
        conninfo, from_url = split_url(url)
        if pool_max is not None and from_url is not None and pool_max != from_url:
            raise ValueError(
                f"pool_max={pool_max} contradicts pool_max={from_url} in the URL {redact(url)!r}"
            )
        chosen = pool_max if pool_max is not None else from_url
        if chosen is not None and chosen < 1:
            raise ValueError(f"pool_max must be >= 1, got {chosen}")
        _require_driver()
        self.pool_max = chosen or POOL_MAX
        self.url = redact(url)
        self._conninfo = conninfo
        self._pool: AsyncConnectionPool[AsyncConnection[Any]] | None = None
        self._closed = False

    def __repr__(self) -> str:
        return f"PostgresStorage({self.url!r}, pool_max={self.pool_max})"

    @property
    def _database(self) -> str:
        return self.url

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
            raise self._error(exc) from exc
        if self._pool is not None or self._closed:  # opened or closed meanwhile
            await pool.close()
            return await self._get_pool()
        self._pool = pool
        return pool

    async def _get_pool(self) -> AsyncConnectionPool[AsyncConnection[Any]]:
        """The open pool, opening it on first use."""
        if self._pool is not None:
            return self._pool
        if self._closed:
            raise StorageClosedError(f"{self!r} is closed")
        return await self._open()

    @asynccontextmanager
    async def _connect(self) -> AsyncIterator[AsyncConnection[Any]]:
        pool = await self._get_pool()
        async with pool.connection() as conn:
            yield conn

    @asynccontextmanager
    async def _migration_lock(self, conn: AsyncConnection[Any]) -> AsyncIterator[None]:
        """A transaction holding an advisory lock, so that two engines may start at once."""
        async with conn.transaction():
            await conn.execute(
                "SELECT pg_advisory_xact_lock(%s, hashtext(COALESCE(current_schema(), '')))",
                (_MIGRATION_LOCK,),
            )
            yield

    # -- statements ------------------------------------------------------------
    async def _fetch(
        self, conn: AsyncConnection[Any], sql: str, params: Sequence[Any] = ()
    ) -> list[Sequence[Any]]:
        cur = await conn.execute(sql, params)
        return list(await cur.fetchall())

    async def _execute(
        self, conn: AsyncConnection[Any], sql: str, params: Sequence[Any] = ()
    ) -> None:
        await conn.execute(sql, params)

    def _write_lock(self, conn: AsyncConnection[Any]) -> AbstractAsyncContextManager[None]:
        # none: each write is one statement, which checks every stream it appends to
        return nullcontext()

    def _is_conflict(self, error: BaseException) -> bool:
        import psycopg

        return isinstance(error, psycopg.IntegrityError)

    async def _commit_items(
        self, items: list[Prepared], results: list[BaseException | None]
    ) -> None:
        try:
            await super()._commit_items(items, results)
        except Exception as exc:  # no connection: reported per request
            for item in items:
                if results[item.index] is None:
                    results[item.index] = exc

    async def _write(self, conn: AsyncConnection[Any], items: list[Prepared]) -> None:
        """Write every row of ``items`` in one statement (its own transaction)."""
        statement = _write_params(items)
        if statement is not None:
            sql, params = statement
            await conn.execute(sql, params)

    # -- the inbox, pushed by LISTEN/NOTIFY ----------------------------------------
    async def post(self, execution_id: str, kind: str, body: str) -> str:
        message_id = f"{time.time_ns():020d}-{secrets.token_hex(6)}"
        await self._read(_POST, (message_id, execution_id, kind, body, time.time()))
        return message_id

    async def answer(self, message_id: str, reply: str | None) -> None:
        if reply is None:
            await super().answer(message_id, None)
        else:
            await self._read(_ANSWER, (time.time(), reply, message_id))

    async def listen(self, wake: Callable[[str, str], None]) -> Closer | None:
        """A connection of its own ``LISTEN``s to every channel; if it fails (or is lost
        later) the node just polls, as it does anyway now and then."""
        import psycopg

        try:
            conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
            await conn.execute(f"LISTEN {INBOX}")
            await conn.execute(f"LISTEN {REPLIES}")
            await conn.execute(f"LISTEN {STATUSES}")
        except psycopg.Error as exc:
            log.warning("%s: no LISTEN (%s); polling the inbox", self._source, exc)
            return None

        async def pump() -> None:
            try:
                async for note in conn.notifies():
                    wake(note.channel, note.payload)
            except psycopg.Error as exc:
                log.warning("%s: LISTEN lost (%s); polling the inbox", self._source, exc)

        task = asyncio.get_running_loop().create_task(pump())

        async def close() -> None:
            task.cancel()
            with suppress(BaseException):
                await task
            await conn.close()

        return close

    async def _delete(self, conn: AsyncConnection[Any], execution_id: str) -> int:
        cur = await conn.execute(_DELETE_EXECUTION, {"id": execution_id})
        row = await cur.fetchone()
        return 0 if row is None else int(row[0])
