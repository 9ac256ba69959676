"""Execution ids: the rule for the ids users choose, and which ids can name an execution.

A user may choose the id of an execution (``Engine.start(..., execution_id=...)``,
``?execution_id=`` over HTTP): 1 to ``MAX_LENGTH`` characters from letters, digits,
``_``, ``.``, ``:`` and ``-``. ``/`` is reserved: the child execution of a nested flow
is named ``<parent id>/<step key>`` (``P1/1.inner``) by the engine, so no user id can
take the id of a child before its parent makes it. Ids the engine makes for starts
without one are 32 hex digits.
"""

from __future__ import annotations

import os
import random
import re

from water.errors import InvalidExecutionIdError

MAX_LENGTH = 128
"""The longest execution id a user may choose."""

PATTERN = rf"^[A-Za-z0-9_.:\-]{{1,{MAX_LENGTH}}}$"
"""The ids a user may choose, as a regular expression (also the HTTP route's pattern)."""

_ALLOWED = "letters, digits, '_', '.', ':' and '-'"
_USER_ID = re.compile(PATTERN)


_MADE = random.Random()  # seeded from os.urandom; nobody else's seed() reaches it
os.register_at_fork(after_in_child=_MADE.seed)  # a forked process draws its own ids


def new_execution_id() -> str:
    """An id for a start without one: 128 random bits as 32 hex digits.

    Drawn from a generator of Water's own, seeded from the system's entropy at
    import and again in a forked child: ``uuid4`` asks the kernel for 16 bytes
    each time, a system call that lets other threads take the interpreter lock
    in the middle of every start.
    """
    return f"{_MADE.getrandbits(128):032x}"


def check_execution_id(value: object) -> str:
    """``value`` if a user may start an execution with it; else ``InvalidExecutionIdError``."""
    if isinstance(value, str) and _USER_ID.fullmatch(value):
        return value
    if not isinstance(value, str):
        problem = f"it must be a str, not {type(value).__name__}"
    elif not value:
        problem = "it is empty"
    elif len(value) > MAX_LENGTH:
        problem = f"it has {len(value)} characters"
    elif "/" in value:
        problem = "'/' is reserved for the ids the engine gives nested flow executions"
    else:
        bad = next(c for c in value if not _USER_ID.fullmatch(c))
        problem = f"it holds {bad!a}"
    raise InvalidExecutionIdError(
        value, f"{problem}; an execution id is 1 to {MAX_LENGTH} characters among {_ALLOWED}"
    )


def can_exist(value: object) -> bool:
    """Whether any execution can have this id (the ids of older versions included).

    A lookup by any other id (not a string, empty, or not encodable as UTF-8) answers
    "not found" without reaching the storage.
    """
    if not isinstance(value, str) or not value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
