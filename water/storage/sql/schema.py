"""The tables of a SQL storage, described once; each dialect's migrations derive from them.

Every table, column and index says the schema version that brought it (``since``).
Migration ``n`` creates the tables and indexes of version ``n`` and adds its columns
to older tables, so a change to the schema is one new line here: a column, an index
or a table with the next ``since``. The versions mean the same tables and columns in
every dialect, so one database can be read by any storage of this version.
"""

from __future__ import annotations

from dataclasses import dataclass

from water.errors import StorageError
from water.storage.sql.dialect import Dialect, Kind

__all__ = [
    "EVENTS",
    "EXECUTIONS",
    "EXECUTION_TABLES",
    "INBOX",
    "NODES",
    "SCHEMA_VERSION",
    "SNAPSHOTS",
    "TABLES",
    "TASK_RESULTS",
    "Column",
    "Index",
    "SchemaVersionError",
    "Table",
    "migrations",
]


class SchemaVersionError(StorageError):
    """The database was written by a newer version of Water than this one."""


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    kind: Kind
    null: bool = False
    since: int = 1


@dataclass(frozen=True, slots=True)
class Index:
    name: str
    columns: tuple[str, ...]
    since: int = 1


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    key: tuple[str, ...] = ()
    """The primary key (none if empty)."""
    indexes: tuple[Index, ...] = ()
    since: int = 1
    clustered: bool = False
    """Rows stored in key order (``Dialect.clustered``: SQLite's ``WITHOUT ROWID``)."""

    def column(self, name: str) -> Column:
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(f"table {self.name!r} has no column {name!r}")

    def upsert(self, columns: tuple[str, ...], keep: tuple[str, ...] = ()) -> str:
        """The ``ON CONFLICT`` clause of an insert of ``columns``: the new values win,
        except in the key and in ``keep`` (kept as first written)."""
        updated = [c for c in columns if c not in self.key and c not in keep]
        sets = ", ".join(f"{c} = excluded.{c}" for c in updated)
        return f"ON CONFLICT ({', '.join(self.key)}) DO UPDATE SET {sets}"


NODES_SINCE = 5
"""The schema version that brought ownership: nodes, owners and epochs, the inbox."""

VERSION_TABLE = Table("schema_version", (Column("version", "int"),))

EVENTS = Table(
    "events",
    (
        Column("execution_id", "id"),
        Column("seq", "seq"),
        Column("type", "text"),
        Column("ts", "real"),
        Column("data", "text"),
    ),
    key=("execution_id", "seq"),
    indexes=(Index("events_ts", ("ts",), since=4),),
    clustered=True,
)
"""The journal: one row per event, the source of truth."""

EXECUTIONS = Table(
    "executions",
    (
        Column("execution_id", "id"),
        Column("flow_id", "id"),
        Column("status", "text"),
        Column("parent_id", "id", null=True),
        Column("created_at", "real"),
        Column("updated_at", "real"),
        Column("wake_at", "real", null=True),
        Column("error", "text", null=True),
        Column("owner", "id", null=True, since=NODES_SINCE),
        Column("epoch", "int", null=True, since=NODES_SINCE),
    ),
    key=("execution_id",),
    indexes=(
        Index("executions_flow_created", ("flow_id", "created_at")),
        Index("executions_status", ("status",)),
        Index("executions_parent", ("parent_id",)),
        Index("executions_wake_at", ("wake_at",)),
        Index("executions_owner", ("owner",), since=NODES_SINCE),
    ),
)
"""The index of executions, for listing and recovery.

``owner`` is the node that runs the execution (NULL: none) and ``epoch`` counts the
claims of it (NULL: never claimed, as 0): every journal append of a node checks both
(``water.nodes``)."""

SNAPSHOTS = Table(
    "flow_snapshots",
    (
        Column("execution_id", "id"),
        Column("seq", "seq"),
        Column("state", "text"),
        Column("view", "text"),
        Column("created_at", "real"),
    ),
    key=("execution_id", "seq"),
)
"""Immutable checkpoints: the interpreter state and public view after an event."""

TASK_RESULTS = Table(
    "task_results",
    (
        Column("execution_id", "id"),
        Column("key", "id"),
        Column("task_id", "text"),
        Column("status", "text"),
        Column("attempts", "int"),
        Column("output", "text", null=True),
        Column("error", "text", null=True),
        Column("started_at", "real", null=True),
        Column("finished_at", "real", null=True),
        Column("child_execution_id", "text", null=True, since=2),
    ),
    key=("execution_id", "key"),
)
"""One row per step, by step key."""

NODES = Table(
    "nodes",
    (
        Column("node_id", "id"),
        Column("host", "text"),
        Column("pid", "int"),
        Column("started_at", "real"),
        Column("lease_until", "real"),
    ),
    key=("node_id",),
    since=NODES_SINCE,
)
"""The engines sharing the store: a node is alive while ``lease_until`` is ahead of
the store's clock."""

INBOX = Table(
    "inbox",
    (
        Column("id", "id"),
        Column("execution_id", "id"),
        Column("kind", "text"),
        Column("body", "text"),
        Column("created_at", "real"),
        Column("handled_at", "real", null=True),
        Column("reply", "text", null=True),
    ),
    key=("id",),
    indexes=(Index("inbox_execution", ("execution_id", "created_at"), since=NODES_SINCE),),
    since=NODES_SINCE,
)
"""Messages for executions, written by any node and handled by their owner."""

TABLES = (VERSION_TABLE, EVENTS, EXECUTIONS, SNAPSHOTS, TASK_RESULTS, NODES, INBOX)
"""Every table, in the order they are created."""

EXECUTION_TABLES = tuple(t for t in TABLES if any(c.name == "execution_id" for c in t.columns))
"""The tables holding rows of an execution (what deleting one deletes)."""

SCHEMA_VERSION = max(
    [t.since for t in TABLES]
    + [c.since for t in TABLES for c in t.columns]
    + [i.since for t in TABLES for i in t.indexes]
)
"""The schema version this code writes."""


def _column(column: Column, dialect: Dialect, *, key: bool = False) -> str:
    rule = " PRIMARY KEY" if key else "" if column.null else " NOT NULL"
    return f"{column.name} {dialect.types[column.kind]}{rule}"


def _create(table: Table, dialect: Dialect) -> str:
    inline = len(table.key) == 1
    parts = [
        _column(c, dialect, key=inline and c.name == table.key[0])
        for c in table.columns
        if c.since <= table.since
    ]
    if table.key and not inline:
        parts.append(f"PRIMARY KEY ({', '.join(table.key)})")
    tail = dialect.clustered if table.clustered else ""
    return f"CREATE TABLE {table.name} ({', '.join(parts)}){tail}"


def migrations(dialect: Dialect) -> list[tuple[int, list[str]]]:
    """Schema migrations as ``(version, statements)`` in ``dialect``, applied in order."""
    steps: list[tuple[int, list[str]]] = []
    for version in range(1, SCHEMA_VERSION + 1):
        statements: list[str] = []
        for table in TABLES:
            if table.since == version:
                statements.append(_create(table, dialect))
            elif table.since < version:
                statements.extend(
                    f"ALTER TABLE {table.name} ADD COLUMN {_column(c, dialect)}"
                    for c in table.columns
                    if c.since == version
                )
            statements.extend(
                f"CREATE INDEX {i.name} ON {table.name} ({', '.join(i.columns)})"
                for i in table.indexes
                if i.since == version
            )
        steps.append((version, statements))
    return steps
