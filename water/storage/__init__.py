"""Where executions are kept: the ``Storage`` contract and its implementations."""

from water.storage.base import (
    AppendRequest,
    Checkpoint,
    ConcurrencyError,
    ExecutionRecord,
    JSONText,
    Storage,
    TaskResult,
)
from water.storage.memory import MemoryStorage
from water.storage.postgres import PostgresStorage
from water.storage.sqlite import SQLiteStorage
from water.storage.url import storage_from_url

__all__ = [
    "AppendRequest",
    "Checkpoint",
    "ConcurrencyError",
    "ExecutionRecord",
    "JSONText",
    "MemoryStorage",
    "PostgresStorage",
    "SQLiteStorage",
    "Storage",
    "TaskResult",
    "storage_from_url",
]
