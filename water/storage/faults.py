"""Storage faults: raw driver errors become ``StorageError``, marked transient or not.

No raw ``sqlite3`` (or ``aiosqlite``) error leaves the storage layer: storages
translate them at their boundary with ``storage_error``, and the engine does the
same for whatever a storage of its own hands back. A transient fault is one that
passes by itself (the database is locked by another process, the disk is full or
failing, the file went read-only for a while); the journal holds and retries its
writes through such faults. Anything else (a constraint the code relies on, a
corrupt file, a wrong schema) is not retried.
"""

from __future__ import annotations

import sqlite3

from water.errors import StorageError

__all__ = ["DRIVER_ERRORS", "is_transient", "storage_error"]

DRIVER_ERRORS: tuple[type[Exception], ...] = (sqlite3.Error,)
"""The database drivers' own errors (aiosqlite raises sqlite3's)."""

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


def _sqlite_transient(error: sqlite3.Error) -> bool:
    code = getattr(error, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in _TRANSIENT_CODES
    text = str(error).lower()
    return isinstance(error, sqlite3.OperationalError) and any(
        m in text for m in _TRANSIENT_MESSAGES
    )


def storage_error(error: BaseException, source: str = "the storage") -> BaseException:
    """``error`` as the storage layer reports it: driver errors become ``StorageError``.

    Other errors (a ``StorageError`` already, a value that cannot be encoded) are
    returned unchanged. ``source`` names the database in the message.
    """
    if not isinstance(error, DRIVER_ERRORS):
        return error
    transient = isinstance(error, sqlite3.Error) and _sqlite_transient(error)
    name = getattr(error, "sqlite_errorname", None) or type(error).__name__
    kind = "is temporarily unavailable" if transient else "failed"
    wrapped = StorageError(f"{source} {kind}: {error} ({name})", transient=transient)
    wrapped.__cause__ = error
    return wrapped


def is_transient(error: BaseException) -> bool:
    """Whether ``error`` is a storage fault that passes by itself (worth retrying)."""
    wrapped = storage_error(error)
    return isinstance(wrapped, StorageError) and wrapped.transient
