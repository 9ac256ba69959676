"""Storage faults: raw driver errors become ``StorageError``, marked transient or not.

No raw ``sqlite3`` or ``psycopg`` error leaves the storage layer:
storages translate them at their boundary with ``storage_error``, and the engine does
the same for whatever a storage of its own hands back. A transient fault is one that
passes by itself or on another connection (the database is locked by another
process, the disk is full or failing, the file went read-only for a while, the
server cannot be reached or dropped the connection); the journal holds and retries
its writes through such faults. Anything else (a constraint the code relies on, a
corrupt file, a wrong schema, a refused statement) is not retried.
"""

from __future__ import annotations

import sqlite3
import sys

from water.errors import StorageError

__all__ = ["DRIVER_ERRORS", "PostgresStorageError", "is_transient", "storage_error"]

DRIVER_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error,)
"""The database drivers' own errors that a storage may let through (sqlite3's, from
the SQLite storage's thread). ``PostgresStorage`` lets none of psycopg's through;
``storage_error`` translates them all the same."""

# SQLite's primary result codes of faults that pass (extended codes keep them in
# their low byte): BUSY, LOCKED, READONLY, IOERR, FULL, CANTOPEN, PROTOCOL.
_TRANSIENT_CODES = frozenset({5, 6, 8, 10, 13, 14, 15})
# The same faults by message, for errors raised without a result code.
_TRANSIENT_MESSAGES = (
    "database is locked",
    "database table is locked",
    "readonly database",
    "disk i/o error",
    "database or disk is full",
    "unable to open database file",
    "locking protocol",
)


class PostgresStorageError(StorageError):
    """A PostgreSQL error, raised or reported by ``PostgresStorage``.

    ``transient`` is true for errors a retry on another connection may cure: the
    connection was lost or could not be made, the server is shutting down or out of
    connections, a deadlock or serialization failure (psycopg's ``OperationalError``),
    or no pooled connection came free in time; every other error (a bad statement, a
    refused value) is permanent. ``__cause__`` is psycopg's exception.
    """

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message, transient=transient)


def _sqlite_transient(error: sqlite3.Error) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in _TRANSIENT_CODES
    text = str(error).lower()
    return isinstance(error, sqlite3.OperationalError) and any(
        m in text for m in _TRANSIENT_MESSAGES
    )


def _classify(error: BaseException) -> tuple[type[StorageError], bool] | None:
    """The ``StorageError`` class for a driver error and whether it is transient.

    None for anything that is not a driver's own error. psycopg is looked up among
    the loaded modules, never imported: none of its errors exists before it is.
    """
    if isinstance(error, sqlite3.Error):
        return StorageError, _sqlite_transient(error)
    psycopg = sys.modules.get("psycopg")
    if psycopg is not None and isinstance(error, psycopg.Error):
        # psycopg_pool's PoolTimeout is an OperationalError too
        return PostgresStorageError, isinstance(error, psycopg.OperationalError)
    return None


def storage_error(error: BaseException, source: str = "the storage") -> BaseException:
    """``error`` as the storage layer reports it: driver errors become ``StorageError``.

    SQLite's become ``StorageError``, PostgreSQL's ``PostgresStorageError`` (a
    ``StorageError``). Other errors (a ``StorageError`` already, a value that cannot
    be encoded) are returned unchanged. ``source`` names the database in the message.
    """
    found = _classify(error)
    if found is None:
        return error
    kind, transient = found
    name = getattr(error, "sqlite_errorname", None) or type(error).__name__
    what = "is temporarily unavailable" if transient else "failed"
    wrapped = kind(f"{source} {what}: {error} ({name})", transient=transient)
    wrapped.__cause__ = error
    return wrapped


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` is a storage fault that passes by itself (worth retrying)."""
    wrapped = storage_error(error)
    return isinstance(wrapped, StorageError) and wrapped.transient
