"""Reading JSON request bodies.

Bodies are JSON (``JsonBodyGuard`` refuses any other declared content type);
an empty body is ``null``. ``NaN`` and
``Infinity`` are refused: they are not JSON and could not be stored.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from starlette.requests import Request

from water.server.errors import ApiError, field_errors

M = TypeVar("M", bound=BaseModel)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _invalid(message: str) -> ApiError:
    details = field_errors([{"loc": (), "msg": message, "type": "json_invalid"}], ("body",))
    return ApiError(422, "validation_error", "the request body is not valid JSON", details)


async def json_body(request: Request) -> Any:
    """The body as JSON, or None when it is empty."""
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise _invalid(str(exc)) from None


async def model_body(request: Request, model: type[M]) -> M | None:
    """The body validated as ``model``, or None when it is empty (or ``null``)."""
    data = await json_body(request)
    if data is None:
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        details = field_errors(exc.errors(include_url=False, include_input=False), ("body",))
        raise ApiError(422, "validation_error", "the request body is invalid", details) from None


def documented_body(description: str, schema: dict[str, Any] | None = None) -> dict[str, Any]:
    """``openapi_extra`` declaring an optional JSON request body."""
    return {
        "requestBody": {
            "required": False,
            "description": description,
            "content": {"application/json": {"schema": schema or {}}},
        }
    }
