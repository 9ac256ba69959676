"""Fixtures for the storage tests: every contract test runs on every storage."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from water.storage import MemoryStorage, PostgresStorage, SQLiteStorage, Storage

Body = Callable[[Storage], Awaitable[Any]]


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def make_storage(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], Storage]:
    """A factory of storages; SQLite ones all open the same file, PostgreSQL ones one schema."""
    if request.param == "memory":
        return MemoryStorage
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
        return lambda: PostgresStorage(url)
    return lambda: SQLiteStorage(tmp_path / "water.db")


@pytest.fixture
def run(make_storage: Callable[[], Storage]) -> Callable[[Body], Any]:
    """Run ``body(storage)`` on a fresh, initialised storage in its own event loop."""

    def runner(body: Body) -> Any:
        async def main() -> Any:
            storage = make_storage()
            await storage.initialize()
            try:
                return await body(storage)
            finally:
                await storage.close()

        return asyncio.run(main())

    return runner
