"""Choosing a storage from a URL string."""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote

from water.storage.base import Storage
from water.storage.memory import MemoryStorage
from water.storage.postgres import PostgresStorage
from water.storage.sqlite import SQLiteStorage

__all__ = ["DEFAULT_PATH", "storage_from_url"]

DEFAULT_PATH = "water.db"

_FORMS = (
    "supported storage URLs: 'memory://' (in this process only), "
    "'sqlite:///relative/path.db', 'sqlite:////absolute/path.db', "
    "optionally followed by '?durability=full', and "
    "'postgresql://user:password@host:port/database' (or 'postgres://...'), "
    "optionally followed by '?pool_max=N' and libpq options"
)


def storage_from_url(url: str | Storage | None) -> Storage:
    """The storage a URL names.

    * ``None``: ``SQLiteStorage("water.db")``
    * a ``Storage`` instance: returned as it is
    * ``"memory://"``: a new ``MemoryStorage``
    * ``"sqlite:///relative/path.db"`` (three slashes) or ``"sqlite:////abs/path.db"``
      (four), optionally with ``?durability=full`` (or ``normal``, the default)
    * ``"postgresql://user:password@host:port/database"`` (or ``"postgres://..."``):
      a ``PostgresStorage``; ``?pool_max=N`` caps its connection pool, and the rest
      of the URL is handed to libpq as it is (``?sslmode=require``, ...)
    """
    if url is None:
        return SQLiteStorage(DEFAULT_PATH)
    if isinstance(url, Storage):
        return url
    if not isinstance(url, str):
        raise TypeError(f"a storage URL must be a string or a Storage, got {type(url).__name__}")
    text = url.strip()
    if text.lower() == "memory://":
        return MemoryStorage()
    if text.lower().startswith("sqlite:"):
        return _sqlite(text)
    if text.lower().startswith(("postgresql://", "postgres://")):
        return PostgresStorage(text)
    raise ValueError(f"unsupported storage URL {url!r}; {_FORMS}")


def _sqlite(url: str) -> SQLiteStorage:
    rest = url[len("sqlite:") :]
    rest, _, query = rest.partition("?")
    if rest in ("//:memory:", "///:memory:", ":memory:"):
        raise ValueError(
            f"{url!r}: an in-memory SQLite database would be lost between connections; "
            "use 'memory://' for in-process storage"
        )
    if not rest.startswith("///"):
        raise ValueError(f"invalid SQLite URL {url!r}; {_FORMS}")
    path = unquote(rest[3:])
    if not path or path.endswith("/"):
        raise ValueError(f"SQLite URL {url!r} names no database file; {_FORMS}")
    options = dict(parse_qsl(query, keep_blank_values=True, strict_parsing=bool(query)))
    durability = options.pop("durability", "normal")
    if options:
        raise ValueError(
            f"unknown option(s) {', '.join(sorted(options))} in SQLite URL {url!r}; "
            "only 'durability' (normal or full) is supported"
        )
    if durability == "normal":
        return SQLiteStorage(path)
    if durability == "full":
        return SQLiteStorage(path, durability="full")
    raise ValueError(f"durability must be 'normal' or 'full' in SQLite URL {url!r}")
