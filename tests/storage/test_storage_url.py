"""Choosing a storage from a URL."""

from __future__ import annotations

import pytest

from water.storage import MemoryStorage, PostgresStorage, SQLiteStorage, storage_from_url


def test_none_is_the_default_sqlite_file() -> None:
    storage = storage_from_url(None)
    assert isinstance(storage, SQLiteStorage)
    assert storage.path == "water.db"
    assert storage.durability == "normal"
    assert storage.url == "sqlite:///water.db"


def test_a_storage_is_returned_as_it_is() -> None:
    memory = MemoryStorage()
    assert storage_from_url(memory) is memory
    sqlite = SQLiteStorage("x.db")
    assert storage_from_url(sqlite) is sqlite


def test_memory() -> None:
    storage = storage_from_url("memory://")
    assert isinstance(storage, MemoryStorage)
    assert storage.url == "memory://"
    assert storage_from_url("memory://") is not storage


@pytest.mark.parametrize(
    ("url", "path", "durability"),
    [
        ("sqlite:///water.db", "water.db", "normal"),
        ("sqlite:///data/runs/water.db", "data/runs/water.db", "normal"),
        ("sqlite:////var/lib/water/water.db", "/var/lib/water/water.db", "normal"),
        ("sqlite:////tmp/w.db?durability=full", "/tmp/w.db", "full"),
        ("sqlite:///w.db?durability=normal", "w.db", "normal"),
        ("sqlite:///my%20runs.db", "my runs.db", "normal"),
    ],
)
def test_sqlite(url: str, path: str, durability: str) -> None:
    storage = storage_from_url(url)
    assert isinstance(storage, SQLiteStorage)
    assert storage.path == path
    assert storage.durability == durability
    assert storage_from_url(storage.url).url == storage.url


@pytest.mark.parametrize(
    "url", ["sqlite://:memory:", "sqlite:///:memory:", "sqlite://:memory:?durability=full"]
)
def test_in_memory_sqlite_is_refused(url: str) -> None:
    with pytest.raises(ValueError, match="memory://"):
        storage_from_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "mysql://localhost/water",
        "redis://localhost",
        "postgresql:/localhost/water",
        "water.db",
        "",
        "memory://somewhere",
        "sqlite://host/water.db",
        "sqlite:water.db",
    ],
)
def test_unsupported_urls_list_the_supported_forms(url: str) -> None:
    with pytest.raises(
        ValueError, match=r"memory://.*sqlite:///relative.*sqlite:////absolute.*postgresql://"
    ):
        storage_from_url(url)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:///", "names no database file"),
        ("sqlite:///dir/", "names no database file"),
        ("sqlite:///w.db?durability=fast", "durability"),
        ("sqlite:///w.db?mode=ro", "unknown option"),
        ("sqlite:///w.db?durability", "unknown option|durability|bad query"),
    ],
)
def test_invalid_sqlite_urls(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        storage_from_url(url)


@pytest.mark.parametrize(
    ("url", "shown", "pool_max"),
    [
        ("postgresql://water@db.example.com/water", "postgresql://water@db.example.com/water", 10),
        (
            "postgres://localhost:5433/runs?pool_max=3",
            "postgres://localhost:5433/runs?pool_max=3",
            3,
        ),
        (
            "postgresql://water:s3cret@db/water?sslmode=require&pool_max=20",
            "postgresql://water:***@db/water?sslmode=require&pool_max=20",
            20,
        ),
        ("POSTGRESQL://h/d?password=s3cret", "POSTGRESQL://h/d?password=***", 10),
    ],
)
def test_postgresql(url: str, shown: str, pool_max: int) -> None:
    storage = storage_from_url(url)
    assert isinstance(storage, PostgresStorage)
    assert storage.url == shown  # no password: safe to print
    assert storage.pool_max == pool_max
    assert "s3cret" not in repr(storage)


@pytest.mark.parametrize("query", ["pool_max=0", "pool_max=-1", "pool_max=many", "pool_max="])
def test_invalid_pool_max(query: str) -> None:
    with pytest.raises(ValueError, match="pool_max"):
        storage_from_url(f"postgresql://localhost/water?{query}")


def test_wrong_types_are_refused() -> None:
    with pytest.raises(TypeError):
        storage_from_url(42)  # type: ignore[arg-type]
