"""A storage in a SQL database: the whole contract over a dialect's few primitives.

A dialect (``SQLiteStorage``, ``PostgresStorage``) says how to get a connection,
run a statement, write a batch of rows, lock for a write and delete an execution;
everything else is here, once: the reads, the migrations, and the group commit.

The group commit writes a batch at once (``_write_all``). When that write fails on
a conflict (an integrity error: a request's ``expected_seq`` is not its stream's
last ``seq``), ``_write_checked`` reads the last ``seq`` of every stream, refuses the
requests at fault with a ``ConcurrencyError`` and writes the others together; if
anything else goes wrong there, ``_write_one`` applies the requests one at a time,
so that each gets its own result.
"""

from __future__ import annotations

import abc
import secrets
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, ClassVar, Generic, TypeVar

from water.errors import StorageError
from water.events import Event, decode_event
from water.snapshot import Snapshot
from water.stats import ExecutionStats, StepStats, zero_counts
from water.status import ExecutionStatus
from water.storage.base import (
    AppendRequest,
    Checkpoint,
    Claimed,
    ConcurrencyError,
    ExecutionRecord,
    Fence,
    FlowEvent,
    InboxMessage,
    NodeRow,
    StatusFilter,
    Storage,
    TaskResult,
    check_page,
    fair_share,
)
from water.storage.faults import storage_error
from water.storage.sql.commit import Prepared, fence_refused, isolate, prepare_batch
from water.storage.sql.dialect import Dialect
from water.storage.sql.nodes import NodeStatements
from water.storage.sql.rows import (
    RowCodec,
    checkpoint_from_row,
    events_from_rows,
    record_from_row,
    task_from_row,
)
from water.storage.sql.schema import SCHEMA_VERSION, SchemaVersionError, migrations
from water.storage.sql.statements import Statements

__all__ = ["SQLStorage", "StorageClosedError"]

Conn = TypeVar("Conn")
Row = Sequence[Any]


class StorageClosedError(StorageError):
    """The storage was closed (the engine shut down)."""


class SQLStorage(Storage, Generic[Conn]):
    """The ``Storage`` contract on a SQL database; a dialect subclass fills in the rest."""

    DIALECT: ClassVar[Dialect]
    ROWS: ClassVar[RowCodec] = RowCodec()
    _sql: ClassVar[Statements]  # the shared statements in DIALECT
    _nodes: ClassVar[NodeStatements]  # the statements of nodes and the inbox in DIALECT
    shared = True
    _migrations: ClassVar[list[tuple[int, list[str]]]]  # the schema's, in DIALECT

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "DIALECT" in cls.__dict__:
            cls._sql = Statements(cls.DIALECT)
            cls._nodes = NodeStatements(cls.DIALECT)
            cls._migrations = migrations(cls.DIALECT)

    # -- what a dialect provides ------------------------------------------------
    @property
    @abc.abstractmethod
    def _database(self) -> str:
        """The database as messages name it (a path, a URL without its password)."""

    @abc.abstractmethod
    def _connect(self) -> AbstractAsyncContextManager[Conn]:
        """A connection for one use, opening the database on first use."""

    @abc.abstractmethod
    async def _fetch(self, conn: Conn, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        """Run a query and return its rows."""

    @abc.abstractmethod
    async def _execute(self, conn: Conn, sql: str, params: Sequence[Any] = ()) -> None:
        """Run a statement."""

    @abc.abstractmethod
    def _write_lock(self, conn: Conn) -> AbstractAsyncContextManager[None]:
        """The scope of a write that must stay whole: what is read inside it stays true.

        A dialect that takes a lock for that takes it here and commits at the end (or
        rolls back on any error); one whose ``_write`` is a single statement that
        checks every stream again may take none.
        """

    @abc.abstractmethod
    def _migration_lock(self, conn: Conn) -> AbstractAsyncContextManager[None]:
        """One transaction that no other migration of this database runs beside."""

    @abc.abstractmethod
    async def _write(self, conn: Conn, items: list[Prepared]) -> None:
        """Write every row of ``items`` (inside ``_write_lock`` when more than one statement)."""

    @abc.abstractmethod
    def _is_conflict(self, error: BaseException) -> bool:
        """Whether ``error`` is the integrity error a refused ``seq`` raises."""

    @abc.abstractmethod
    async def _delete(self, conn: Conn, execution_id: str) -> int:
        """Delete the rows of an execution from every table; how many there were."""

    # -- connections and errors --------------------------------------------------
    @property
    def _source(self) -> str:
        return f"{self.DIALECT.title} database {self._database!r}"

    def _error(self, error: BaseException) -> BaseException:
        """``error`` as this storage reports it (``faults.storage_error``)."""
        return storage_error(error, self._source)

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[Conn]:
        """A connection for one use; the driver's errors come out as ``StorageError``."""
        try:
            async with self._connect() as conn:
                yield conn
        except Exception as exc:
            error = self._error(exc)
            if error is exc:
                raise
            raise error from exc

    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Row]:
        async with self._connection() as conn:
            return await self._fetch(conn, sql, params)

    async def _migrate(self, conn: Conn) -> None:
        """Create or upgrade the schema (refusing a newer one)."""
        async with self._migration_lock(conn):
            current = 0
            if await self._fetch(conn, self.DIALECT.table_exists):
                rows = await self._fetch(conn, "SELECT MAX(version) FROM schema_version")
                current = rows[0][0] or 0
            if current > SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"database {self._database!r} has schema version {current}, but this "
                    f"version of Water only knows versions up to {SCHEMA_VERSION}; upgrade "
                    "Water to open it"
                )
            if current == SCHEMA_VERSION:
                return
            for version, statements in self._migrations:
                if version > current:
                    for statement in statements:
                        await self._execute(conn, statement)
            await self._execute(conn, "DELETE FROM schema_version")
            await self._execute(
                conn,
                f"INSERT INTO schema_version (version) VALUES ({self.DIALECT.param})",
                (SCHEMA_VERSION,),
            )

    # -- the journal and the group commit ----------------------------------------
    async def append_events(
        self, execution_id: str, events: Sequence[Event], expected_seq: int
    ) -> int:
        if not events:
            return expected_seq
        rows = self.ROWS.event_rows(execution_id, events, expected_seq)
        results: list[BaseException | None] = [None]
        await self._commit_items([Prepared(0, execution_id, expected_seq, None, rows)], results)
        if results[0] is not None:
            raise self._error(results[0])
        return expected_seq + len(events)

    async def commit(self, batch: Sequence[AppendRequest]) -> list[BaseException | None]:
        items, results = prepare_batch(batch, self.ROWS)
        if items:
            await self._commit_items(items, results)
        return [None if r is None else self._error(r) for r in results]

    async def apply(self, req: AppendRequest) -> None:
        result = (await self.commit([req]))[0]
        if result is not None:
            raise result

    async def _commit_items(
        self, items: list[Prepared], results: list[BaseException | None]
    ) -> None:
        """Write ``items`` on one connection, setting ``results`` of the requests refused.

        An error getting the connection is raised.
        """
        async with self._connection() as conn:
            await self._write_batch(conn, items, results)

    async def _write_batch(
        self, conn: Conn, items: list[Prepared], results: list[BaseException | None]
    ) -> None:
        """Write all items at once; on a conflict, isolate the conflicting requests."""
        try:
            await self._write_all(conn, items)
        except Exception as exc:
            if not self._is_conflict(exc):
                for item in items:  # reported per request
                    results[item.index] = exc
                return
            try:
                await self._write_checked(conn, items, results)
            except Exception:  # anything else wrong: find out which request it is
                for item in items:
                    results[item.index] = await self._write_one(conn, item)

    async def _write_all(self, conn: Conn, items: list[Prepared]) -> None:
        """The first attempt at a batch: all of it in one write."""
        async with self._write_lock(conn):
            await self._write(conn, items)

    async def _write_checked(
        self, conn: Conn, items: list[Prepared], results: list[BaseException | None]
    ) -> None:
        """Re-apply a batch that conflicted, refusing only the requests at fault.

        Read the last ``seq`` of every stream the batch appends to, give each request
        whose ``expected_seq`` does not follow on a ``ConcurrencyError`` (``isolate``)
        and write all the others together, inside ``_write_lock``: a writer racing in
        between is either locked out or makes the write fail rather than leave a gap.
        """
        async with self._write_lock(conn):
            last = await self._last_seqs(conn, {item.execution_id for item in items if item.events})
            fenced = {item.execution_id for item in items if item.fence is not None}
            owners = await self._owners(conn, fenced) if fenced else {}
            accepted, conflicts = isolate(items, last, owners)
            if accepted:
                await self._write(conn, accepted)
        for index, error in conflicts:
            results[index] = error

    async def _write_one(self, conn: Conn, item: Prepared) -> BaseException | None:
        """Apply one request on its own, its first event checking ``expected_seq`` again.

        On a conflict, the stream's last ``seq`` says whether it is a
        ``ConcurrencyError``; any error is returned, not raised.
        """
        if item.events and item.expected_seq > 0:
            item.check_first(item.expected_seq)
        try:
            async with self._write_lock(conn):
                await self._write(conn, [item])
        except Exception as exc:  # reported per request
            if not self._is_conflict(exc):
                return exc
            try:
                actual = await self._last_seq(conn, item.execution_id)
            except Exception as read_error:  # reported per request
                return read_error
            if actual != item.expected_seq:
                return ConcurrencyError(item.execution_id, item.expected_seq, actual)
            if item.fence is not None:
                try:
                    owners = await self._owners(conn, {item.execution_id})
                except Exception as read_error:  # reported per request
                    return read_error
                lost = fence_refused(item.execution_id, item.fence, owners)
                if lost is not None:
                    return lost
            return exc
        return None

    async def _owners(self, conn: Conn, execution_ids: set[str]) -> dict[str, Fence | None]:
        """``(owner, epoch)`` of each of these executions that has an index row."""
        ids = sorted(execution_ids)
        found: dict[str, Fence | None] = {}
        size = self.DIALECT.max_list
        for start in range(0, len(ids), size):
            sql, params = self._nodes.owners(ids[start : start + size])
            for execution_id, owner, epoch in await self._fetch(conn, sql, params):
                found[execution_id] = None if owner is None else (owner, int(epoch))
        return found

    async def _last_seq(self, conn: Conn, execution_id: str) -> int:
        rows = await self._fetch(conn, self._sql.last_seq, (execution_id,))
        return int(rows[0][0])

    async def _last_seqs(self, conn: Conn, execution_ids: set[str]) -> dict[str, int]:
        """The last ``seq`` of each of these streams (streams without events are left out)."""
        ids = sorted(execution_ids)
        last: dict[str, int] = {}
        size = self.DIALECT.max_list
        for start in range(0, len(ids), size):
            sql, params = self._sql.last_seqs(ids[start : start + size])
            rows = await self._fetch(conn, sql, params)
            last.update((execution_id, int(seq)) for execution_id, seq in rows)
        return last

    async def _write_rows(self, item: Prepared) -> None:
        """Write the rows of one request that has no events (one statement)."""
        async with self._connection() as conn:
            await self._write(conn, [item])

    async def last_seq(self, execution_id: str) -> int:
        async with self._connection() as conn:
            return await self._last_seq(conn, execution_id)

    async def events_since(self, ts: float, flow_id: str | None = None) -> list[FlowEvent]:
        rows = await self._read(*self._sql.events_since(ts, flow_id))
        return [(row[0], row[1], decode_event(row[3], row[2])) for row in rows]

    async def load_events(self, execution_id: str, after_seq: int = 0) -> list[Event]:
        return events_from_rows(await self._read(self._sql.load_events, (execution_id, after_seq)))

    # -- snapshots ------------------------------------------------------------------
    async def save_checkpoint(self, checkpoint: Checkpoint) -> None:
        row = self.ROWS.checkpoint_row(checkpoint)
        await self._write_rows(Prepared(0, checkpoint.execution_id, 0, None, [], checkpoints=[row]))

    async def load_checkpoint(self, execution_id: str) -> Checkpoint | None:
        rows = await self._read(self._sql.load_checkpoint, (execution_id,))
        return checkpoint_from_row(execution_id, rows[0]) if rows else None

    async def load_snapshot(self, execution_id: str) -> Snapshot | None:
        rows = await self._read(self._sql.load_snapshot, (execution_id,))
        return Snapshot.model_validate_json(rows[0][0]) if rows else None

    # -- step results ---------------------------------------------------------------
    async def save_task_result(self, execution_id: str, task_id: str, result: TaskResult) -> None:
        row = self.ROWS.task_row(execution_id, task_id, result)
        await self._write_rows(Prepared(0, execution_id, 0, None, [], tasks=[row]))

    async def load_task_results(self, execution_id: str) -> list[TaskResult]:
        rows = await self._read(self._sql.load_task_results, (execution_id,))
        return [task_from_row(row) for row in rows]

    # -- the executions index ---------------------------------------------------------
    async def upsert_execution(self, record: ExecutionRecord) -> None:
        row = self.ROWS.record_row(record)
        await self._write_rows(Prepared(0, record.execution_id, 0, None, [], records=[row]))

    async def get_execution(self, execution_id: str) -> ExecutionRecord | None:
        rows = await self._read(self._sql.get_execution, (execution_id,))
        return record_from_row(rows[0]) if rows else None

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
        sql, params = self._sql.list_executions(flow_id, status, parent_id, limit, offset)
        return [record_from_row(row) for row in await self._read(sql, params)]

    async def count_executions(
        self,
        flow_id: str | None = None,
        status: StatusFilter = None,
        *,
        parent_id: str | None = None,
    ) -> int:
        sql, params = self._sql.count_executions(flow_id, status, parent_id)
        rows = await self._read(sql, params)
        return int(rows[0][0])

    async def executions_to_recover(self) -> list[ExecutionRecord]:
        rows = await self._read(self._sql.recover, self._sql.recover_params)
        return [record_from_row(row) for row in rows]

    async def delete_execution(self, execution_id: str) -> bool:
        async with self._connection() as conn:
            return await self._delete(conn, execution_id) > 0

    # -- nodes: ownership, leases and the inbox ---------------------------------------
    async def _change(self, sql: str, params: Sequence[Any] = ()) -> None:
        async with self._connection() as conn:
            await self._execute(conn, sql, params)

    async def join(self, node_id: str, host: str, pid: int, lease: float) -> None:
        await self._change(self._nodes.join, (node_id, host, pid, lease))

    async def renew(self, node_id: str, lease: float) -> bool:
        return bool(await self._read(self._nodes.renew, (lease, node_id)))

    async def expire(self, node_ids: Sequence[str]) -> None:
        async with self._connection() as conn:
            for node_id in node_ids:
                await self._execute(conn, self._nodes.expire, (node_id,))

    async def leave(self, node_id: str) -> None:
        async with self._connection() as conn:
            await self._execute(conn, self._nodes.release, (node_id,))
            await self._execute(conn, self._nodes.forget_node, (node_id,))

    async def nodes(self) -> list[NodeRow]:
        rows = await self._read(self._nodes.nodes)
        return [
            NodeRow(str(r[0]), str(r[1]), int(r[2]), float(r[3]), float(r[4]), bool(r[5]))
            for r in rows
        ]

    async def create_owned(
        self, execution_id: str, flow_id: str, node_id: str, parent_id: str | None = None
    ) -> bool:
        now = time.time()
        params = (execution_id, flow_id, parent_id, now, now, node_id)
        return bool(await self._read(self._nodes.create_owned, params))

    async def claim(
        self,
        node_id: str,
        flow_ids: Sequence[str],
        *,
        execution_ids: Sequence[str] | None = None,
        mine: bool = False,
        limit: int = 100,
        share: int = 1,
    ) -> list[Claimed]:
        if not flow_ids:
            return []
        if execution_ids is None:
            share = max(share, 1)
            sql, params = self._nodes.candidates(node_id, flow_ids, mine, limit * share)
            found = [str(row[0]) for row in await self._read(sql, params)]
            execution_ids = found[: fair_share(len(found), share, limit)]
        if not execution_ids:
            return []
        rows = await self._read(*self._nodes.claim(node_id, execution_ids, flow_ids, mine))
        return [Claimed(str(r[0]), str(r[1]), ExecutionStatus(r[2]), r[3], int(r[4])) for r in rows]

    async def owners(self, execution_ids: Sequence[str]) -> dict[str, Fence | None]:
        if not execution_ids:
            return {}
        async with self._connection() as conn:
            return await self._owners(conn, set(execution_ids))

    async def post(self, execution_id: str, kind: str, body: str) -> str:
        message_id = f"{time.time_ns():020d}-{secrets.token_hex(6)}"
        await self._change(self._nodes.post, (message_id, execution_id, kind, body, time.time()))
        return message_id

    async def inbox(self, node_id: str, limit: int = 100) -> list[InboxMessage]:
        rows = await self._read(self._nodes.inbox, (node_id, limit))
        return [InboxMessage(str(r[0]), str(r[1]), str(r[2]), str(r[3])) for r in rows]

    async def answer(self, message_id: str, reply: str | None) -> None:
        if reply is None:
            await self._change(self._nodes.remove, (message_id,))
        else:
            await self._change(self._nodes.answer, (time.time(), reply, message_id))

    async def reply(self, message_id: str) -> tuple[bool, str | None] | None:
        rows = await self._read(self._nodes.reply, (message_id,))
        if not rows:
            return None
        handled, reply = rows[0][0] is not None, rows[0][1]
        if handled:
            await self._change(self._nodes.remove, (message_id,))
        return handled, reply

    async def withdraw(self, message_id: str) -> bool:
        return bool(await self._read(self._nodes.withdraw, (message_id,)))

    async def prune_inbox(self, before: float) -> None:
        await self._change(self._nodes.prune, (before,))

    # -- statistics -------------------------------------------------------------------
    async def stats(self, flow_id: str | None = None) -> ExecutionStats:
        sql = self._sql
        async with self._connection() as conn:
            by_status = await self._fetch(conn, *sql.stats_counts(flow_id))
            by_task = await self._fetch(conn, *sql.stats_steps(flow_id))
            durations = await self._fetch(conn, *sql.stats_durations(flow_id))
        counts = zero_counts()
        for status, n in by_status:
            counts[ExecutionStatus(status)] = int(n)
        quantiles = {row[0]: row[1:] for row in durations}
        steps: dict[str, StepStats] = {}
        for task_id, n, failures, retries in sorted(by_task, key=lambda r: str(r[0])):
            p50, p95 = quantiles.get(task_id, (None, None))
            steps[task_id] = StepStats(
                count=int(n),
                failures=int(failures),
                retries=int(retries),
                p50_ms=None if p50 is None else float(p50),
                p95_ms=None if p95 is None else float(p95),
            )
        return ExecutionStats(flow_id=flow_id, counts=counts, steps=steps)
