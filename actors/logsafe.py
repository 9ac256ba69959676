"""What a log line may say about a message: its type, its ids, and the sizes of its data.

Messages carry inputs, outputs, signal payloads and resume data, which must never
reach a log. ``describe(message)`` names the message's type and shows the fields
that identify things (execution, step key, attempt, task, signal or timer name);
any other field is shown as its size only (``output=<42 bytes>``), and an error as
its type (``error=<ValueError>``). ``describe_error`` does the same for an exception
whose message may quote data (a validation error).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

IDENTIFYING = frozenset(
    {
        "execution_id",
        "flow_id",
        "task_id",
        "child_id",
        "parent_id",
        "parent_step",
        "key",
        "step",
        "attempt",
        "name",
        "timer",
        "status",
        "incarnation",
        "tag",
        "definition",
        "detail",
        "ident",
        "worker",
    }
)
_NESTED = frozenset({"message", "job"})


def describe(message: Any) -> str:
    """``Type(ids..., payload=<N bytes>)``, never the payload itself."""
    kind = type(message).__name__
    if not dataclasses.is_dataclass(message) or isinstance(message, type):
        return kind
    parts = []
    for field in dataclasses.fields(message):
        value = getattr(message, field.name, None)
        if field.name in IDENTIFYING:
            parts.append(f"{field.name}={value!r}")
        elif field.name in _NESTED and dataclasses.is_dataclass(value):
            parts.append(f"{field.name}={describe(value)}")
        elif value is not None:
            parts.append(f"{field.name}={_shape(value)}")
    return f"{kind}({', '.join(parts)})"


def _shape(value: Any) -> str:
    if isinstance(value, BaseException):
        return f"<{type(value).__name__}>"
    if callable(value):
        return "<callable>"
    try:
        size = len(json.dumps(value, default=str).encode("utf-8"))
    except (TypeError, ValueError, RecursionError):
        return f"<{type(value).__name__}>"
    return f"<{size} bytes>"


def describe_error(exc: BaseException) -> str:
    """``Type: message``; for a validation error (its message quotes the invalid values),
    the type and the locations of the invalid fields only."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return f"{type(exc).__name__}: {exc}"
    try:
        where = [".".join(str(p) for p in e.get("loc", ())) or "(value)" for e in errors()]
    except Exception:
        where = []
    return f"{type(exc).__name__} at {', '.join(where) or '(unknown)'}"
