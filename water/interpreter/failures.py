"""The journaled form of a failure: an exception as an ``ErrorInfo``."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from supervision import CircuitOpenError
from water.errors import UnstorableValueError
from water.events import ErrorInfo
from water.types import safe_text, to_json


def error_info(
    exc: BaseException,
    *,
    step: str | None = None,
    retryable: bool = True,
    details: dict[str, Any] | None = None,
) -> ErrorInfo:
    """The journaled form of an exception (type name and message, never the object)."""
    info_details = dict(details or {})
    if isinstance(exc, ValidationError):
        info_details["errors"] = _validation_errors(exc)
    if isinstance(exc, CircuitOpenError):
        info_details.setdefault("breaker", exc.breaker)
    message = str(exc) or type(exc).__name__
    return ErrorInfo(
        type=type(exc).__name__,
        message=safe_text(message),  # an exception's text may hold anything
        step=step,
        retryable=retryable,
        details=info_details or None,
    )


def _validation_errors(exc: ValidationError) -> Any:
    """The field errors as JSON; without the inputs when those cannot be stored."""
    try:
        return to_json(exc.errors(include_url=False, include_context=False))
    except UnstorableValueError:
        return [
            {
                "loc": [p if isinstance(p, int) else safe_text(str(p)) for p in e["loc"]],
                "msg": safe_text(e["msg"]),
                "type": e["type"],
            }
            for e in exc.errors(include_url=False, include_context=False, include_input=False)
        ]
