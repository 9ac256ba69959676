"""Reading JSON request bodies.

Bodies are JSON (``JsonBodyGuard`` refuses any other declared content type); an
empty body is ``null``. ``NaN`` and ``Infinity``, and numbers too large for a float
(``1e400``), are refused: they are not JSON numbers and could not be stored. A body
that is a value to journal (a flow's input, a signal's payload) must pass the
journal's check too (``water.types.to_json``): no lone surrogates, no nesting deeper
than ``MAX_DEPTH``.
"""

from __future__ import annotations

import json
import math
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from water.errors import UnstorableValueError
from water.server.errors import ApiError, field_errors
from water.types import check_json, safe_text

M = TypeVar("M", bound=BaseModel)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is out of range")
    return value


def _invalid(message: str) -> ApiError:
    details = field_errors([{"loc": (), "msg": message, "type": "json_invalid"}], ("body",))
    return ApiError(422, "validation_error", "the request body is not valid JSON", details)


def unstorable(exc: UnstorableValueError) -> ApiError:
    """The 422 answer for a value the journal refuses."""
    loc = [p if isinstance(p, int) else safe_text(p) for p in exc.path]  # keys are user data
    error = {"loc": loc, "msg": exc.problem, "type": "value_error"}
    details = field_errors([error], ("body",))
    return ApiError(422, "validation_error", str(exc), details)


async def parse_body(request: Request) -> Any:
    """The body parsed as JSON (numbers finite), or None when it is empty."""
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise _invalid(str(exc)) from None


async def json_body(request: Request) -> Any:
    """The body as a value to journal, or None when it is empty."""
    data = await parse_body(request)
    try:
        check_json(data, "the request body")
    except UnstorableValueError as exc:
        raise unstorable(exc) from None
    return data


async def model_body(request: Request, model: type[M]) -> M | None:
    """The body validated as ``model``, or None when it is empty (or ``null``)."""
    data = await parse_body(request)
    if data is None:
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = field_errors(exc.errors(include_url=False, include_input=False), ("body",))
        raise ApiError(422, "validation_error", "the request body is invalid", details) from None


def documented_body(
    description: str, schema: dict[str, Any] | None = None, *, required: bool = False
) -> dict[str, Any]:
    """``openapi_extra`` declaring a JSON request body (optional unless ``required``)."""
    return {
        "requestBody": {
            "required": required,
            "description": description,
            "content": {"application/json": {"schema": schema or {}}},
        }
    }
