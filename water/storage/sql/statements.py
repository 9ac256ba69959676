"""The SQL every dialect shares: reads, filters, statistics and the gap-refusing events insert."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from water.stats import PERCENTILES
from water.storage.base import RECOVER_ALWAYS, RECOVER_WITH_TIMER, StatusFilter, statuses
from water.storage.sql.dialect import Dialect
from water.storage.sql.rows import EVENT_COLUMNS, RECORD_COLUMNS, TASK_COLUMNS

__all__ = ["Statements", "insert_events"]

_RECORD = ", ".join(RECORD_COLUMNS)


def insert_events(source: str, columns: Sequence[str], owners: str = "executions") -> str:
    """An insert of event rows that refuses to leave a gap in a stream.

    ``source`` yields the rows under the alias ``v``; ``columns`` name its columns,
    one for each value of an ``EventRow`` (``EVENT_ROW``). Where a row's ``expected``
    names a ``seq`` that does not exist, the row's ``seq`` becomes NULL, which
    the primary key's NOT NULL rule turns into an integrity error for the whole
    statement, exactly like a duplicate ``seq`` does.

    The fence works the same way: a row with an ``owner`` is refused when its
    execution's index row exists and names another owner or another ``epoch`` (a new
    execution has no index row yet: nobody else can own it). ``owners`` is where the
    index rows are read: ``executions`` itself where the write holds a lock for the
    whole transaction (SQLite), or a relation of ``(execution_id, owner, epoch)`` whose
    rows the statement has locked, read as the last claim left them (PostgreSQL:
    ``postgres.fence_lock``), so that a claim and an append are always one after the
    other.
    """
    execution_id, seq, type_, ts, data, expected, owner, epoch = (f"v.{c}" for c in columns)
    fenced = (
        f"{owner} IS NULL OR EXISTS (SELECT 1 FROM {owners} AS x "
        f"WHERE x.execution_id = {execution_id} AND x.owner = {owner} "
        f"AND COALESCE(x.epoch, 0) = {epoch}) OR NOT EXISTS (SELECT 1 FROM {owners} "
        f"AS y WHERE y.execution_id = {execution_id})"
    )
    return (
        f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) "
        f"SELECT {execution_id}, CASE WHEN ({expected} IS NULL OR EXISTS ("
        f"SELECT 1 FROM events AS e WHERE e.execution_id = {execution_id} AND e.seq = {expected}"
        f")) AND ({fenced}) THEN {seq} END, {type_}, {ts}, {data} "
        f"FROM {source}"
    )


class Statements:
    """The shared statements in one dialect, rendered once.

    Each attribute notes the parameters it takes and the columns it returns.
    """

    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        p = dialect.param
        always, always_params = dialect.any_of("status", [s.value for s in RECOVER_ALWAYS])
        timer, timer_params = dialect.any_of("status", [s.value for s in RECOVER_WITH_TIMER])
        # (execution_id, after_seq) -> (seq, data)
        self.load_events = (
            f"SELECT seq, data FROM events WHERE execution_id = {p} AND seq > {p} ORDER BY seq"
        )
        # (execution_id,) -> (last seq or 0,)
        self.last_seq = f"SELECT COALESCE(MAX(seq), 0) FROM events WHERE execution_id = {p}"
        # (execution_id,) -> (seq, state, view)
        self.load_checkpoint = (
            "SELECT seq, state, view FROM flow_snapshots "
            f"WHERE execution_id = {p} ORDER BY seq DESC LIMIT 1"
        )
        # (execution_id,) -> (view,)
        self.load_snapshot = (
            f"SELECT view FROM flow_snapshots WHERE execution_id = {p} ORDER BY seq DESC LIMIT 1"
        )
        # (execution_id,) -> TASK_COLUMNS after execution_id
        self.load_task_results = (
            f"SELECT {', '.join(TASK_COLUMNS[1:])} FROM task_results WHERE execution_id = {p} "
            f"ORDER BY started_at{dialect.nulls_first}, key"
        )
        # (execution_id,) -> RECORD_COLUMNS
        self.get_execution = f"SELECT {_RECORD} FROM executions WHERE execution_id = {p}"
        # recover_params -> RECORD_COLUMNS of the rows ``is_recoverable`` keeps, oldest first
        self.recover = (
            f"SELECT {_RECORD} FROM executions WHERE {always} "
            f"OR ({timer} AND wake_at IS NOT NULL) ORDER BY created_at, execution_id"
        )
        self.recover_params: list[Any] = [*always_params, *timer_params]

    def events_since(self, ts: float, flow_id: str | None) -> tuple[str, list[Any]]:
        """Events from ``ts`` on (of ``flow_id``) -> (execution_id, flow_id, seq, data)."""
        p = self.dialect.param
        flow, params = ("", []) if flow_id is None else (f" AND x.flow_id = {p}", [flow_id])
        # CROSS JOIN: SQLite then reads events first, by the index on ts (left to itself,
        # it may read every event of the flow's executions instead)
        sql = (
            "SELECT e.execution_id, x.flow_id, e.seq, e.data "
            "FROM events AS e CROSS JOIN executions AS x "
            f"WHERE x.execution_id = e.execution_id AND e.ts >= {p}{flow} "
            "ORDER BY e.ts, e.execution_id, e.seq"
        )
        return sql, [ts, *params]

    def _where(
        self, flow_id: str | None, status: StatusFilter, parent_id: str | None
    ) -> tuple[str, list[Any]]:
        p = self.dialect.param
        clauses: list[str] = []
        params: list[Any] = []
        if flow_id is not None:
            clauses.append(f"flow_id = {p}")
            params.append(flow_id)
        wanted = statuses(status)
        if wanted is not None:
            clause, values = self.dialect.any_of("status", [s.value for s in wanted])
            clauses.append(clause)
            params.extend(values)
        if parent_id is not None:
            clauses.append(f"parent_id = {p}")
            params.append(parent_id)
        return (" WHERE " + " AND ".join(clauses) if clauses else ""), params

    def list_executions(
        self,
        flow_id: str | None,
        status: StatusFilter,
        parent_id: str | None,
        limit: int,
        offset: int,
    ) -> tuple[str, list[Any]]:
        """A page of the index, newest first -> RECORD_COLUMNS."""
        where, params = self._where(flow_id, status, parent_id)
        p = self.dialect.param
        sql = (
            f"SELECT {_RECORD} FROM executions{where} "
            f"ORDER BY created_at DESC, execution_id DESC LIMIT {p} OFFSET {p}"
        )
        return sql, [*params, limit, offset]

    def count_executions(
        self, flow_id: str | None, status: StatusFilter, parent_id: str | None
    ) -> tuple[str, list[Any]]:
        """How many rows ``list_executions`` pages through -> (count,)."""
        where, params = self._where(flow_id, status, parent_id)
        return f"SELECT COUNT(*) FROM executions{where}", params

    def last_seqs(self, execution_ids: Sequence[str]) -> tuple[str, list[Any]]:
        """The last ``seq`` of these streams -> (execution_id, seq) of those with events."""
        clause, params = self.dialect.any_of("execution_id", execution_ids)
        sql = f"SELECT execution_id, MAX(seq) FROM events WHERE {clause} GROUP BY execution_id"
        return sql, params

    # -- statistics (``water.stats`` defines the figures) ---------------------------------
    def _steps_of(self, flow_id: str | None) -> tuple[str, list[Any]]:
        """``task_results AS t`` (of the flow's executions) and the parameters."""
        if flow_id is None:
            return "task_results AS t", []
        p = self.dialect.param
        return (
            "task_results AS t JOIN executions AS x ON x.execution_id = t.execution_id "
            f"AND x.flow_id = {p}",
            [flow_id],
        )

    def stats_counts(self, flow_id: str | None) -> tuple[str, list[Any]]:
        """Executions by status -> (status, count)."""
        where, params = self._where(flow_id, None, None)
        return f"SELECT status, COUNT(*) FROM executions{where} GROUP BY status", params

    def stats_steps(self, flow_id: str | None) -> tuple[str, list[Any]]:
        """Steps by task -> (task_id, count, failures, retries)."""
        source, params = self._steps_of(flow_id)
        sql = (
            "SELECT t.task_id, COUNT(*), "
            "SUM(CASE WHEN t.status = 'failed' THEN 1 ELSE 0 END), "
            "SUM(CASE WHEN t.attempts > 1 THEN t.attempts - 1 ELSE 0 END) "
            f"FROM {source} GROUP BY t.task_id"
        )
        return sql, params

    def stats_durations(self, flow_id: str | None) -> tuple[str, list[Any]]:
        """Percentiles of completed steps' durations by task -> (task_id, *PERCENTILES in ms).

        Neither dialect's own percentile function is used (SQLite has none): each
        task's durations are numbered in order, and the percentile is interpolated
        between the durations at ``(n - 1) * q / 100`` (integer division) and the next
        one, by the remainder: ``percentile_cont``, computed the same way everywhere.
        """
        source, params = self._steps_of(flow_id)
        picks: list[str] = []
        values: list[str] = []
        for q in PERCENTILES:
            at = f"last * {q} / 100"
            picks.append(
                f"MAX(CASE WHEN i = {at} THEN ms END) AS lo{q}, "
                f"MAX(CASE WHEN i = {at} + 1 THEN ms END) AS hi{q}, "
                f"MAX(last * {q} - {at} * 100) AS rest{q}"  # no % (a parameter mark)
            )
            values.append(f"lo{q} + (COALESCE(hi{q}, lo{q}) - lo{q}) * rest{q} / 100.0")
        sql = (
            "WITH d AS ("
            "SELECT t.task_id AS task_id, (t.finished_at - t.started_at) * 1000.0 AS ms "
            f"FROM {source} WHERE t.status = 'completed' "
            "AND t.started_at IS NOT NULL AND t.finished_at IS NOT NULL"
            "), r AS ("
            "SELECT task_id, ms, ROW_NUMBER() OVER (PARTITION BY task_id ORDER BY ms) - 1 AS i, "
            "COUNT(*) OVER (PARTITION BY task_id) - 1 AS last FROM d"
            "), p AS ("
            f"SELECT task_id, {', '.join(picks)} FROM r GROUP BY task_id"
            f") SELECT task_id, {', '.join(values)} FROM p"
        )
        return sql, params
