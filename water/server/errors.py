"""One error envelope for every failure: ``{"error": {"code", "message", "details"}}``.

Engine errors map to HTTP statuses here; anything unexpected becomes a 500 whose
body says nothing about the code (the traceback goes to the server log only).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from water.errors import (
    ExecutionCancelledError,
    ExecutionFailedError,
    ExecutionNotFoundError,
    FlowNotFoundError,
    StateConflictError,
    StorageError,
)
from water.server.models import ErrorBody, ErrorEnvelope, FieldError
from water.storage import ConcurrencyError

log = logging.getLogger("water.server")


class ApiError(Exception):
    """An error answered as the envelope with ``status``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: dict[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = headers


def error_response(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body = ErrorEnvelope(error=ErrorBody(code=code, message=message, details=details))
    return JSONResponse(
        body.model_dump(mode="json"), status_code=status, headers=dict(headers or {})
    )


def field_errors(errors: Sequence[Any], prefix: tuple[str, ...] = ()) -> dict[str, Any]:
    """``details`` of a validation error: ``{"errors": [{loc, message, type}, ...]}``."""
    fields = [
        FieldError(
            loc=[*prefix, *(p if isinstance(p, int) else str(p) for p in e.get("loc", ()))],
            message=str(e.get("msg", "invalid")),
            type=str(e.get("type", "value_error")),
        )
        for e in errors
    ]
    return {"errors": [f.model_dump() for f in fields]}


def invalid_request(message: str, loc: tuple[str, ...] = ()) -> ApiError:
    """A 422 ``validation_error`` about the request part at ``loc`` (empty: the whole)."""
    details = field_errors([{"loc": (), "msg": message, "type": "value_error"}], loc)
    return ApiError(422, "validation_error", message, details)


def allowed_methods(request: Request) -> list[str]:
    """Every method some route serves at the request's path (for a 405's ``Allow``)."""
    methods: set[str] = set()
    for route in _leaf_routes(request.app.router.routes):
        match, _ = route.matches(request.scope)
        if match != Match.NONE:
            methods.update(getattr(route, "methods", None) or ())
    return sorted(methods)


def _leaf_routes(routes: Iterable[Any]) -> Iterator[Any]:
    """Routes, with included routers expanded (FastAPI nests them in newer versions)."""
    for route in routes:
        nested = getattr(getattr(route, "original_router", None), "routes", None)
        if nested is None and not hasattr(route, "methods"):
            nested = getattr(route, "routes", None)
        if nested is not None:
            yield from _leaf_routes(nested)
        else:
            yield route


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "route_not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


STORAGE_RETRY_AFTER = "1"
"""Seconds a client should wait before retrying after a transient storage fault."""


def translate(exc: Exception) -> ApiError | None:
    """The API error for an engine error, or None if ``exc`` is not one."""
    if isinstance(exc, FlowNotFoundError):
        return ApiError(404, "flow_not_found", str(exc), {"flow_id": exc.flow_id})
    if isinstance(exc, ExecutionNotFoundError):
        return ApiError(404, "execution_not_found", str(exc), {"execution_id": exc.execution_id})
    if isinstance(exc, StateConflictError):
        if exc.code == "invalid":
            return invalid_request(str(exc))
        if exc.code == "not_found":
            return ApiError(404, "step_not_found", str(exc))
        return ApiError(409, "conflict", str(exc))
    if isinstance(exc, ExecutionCancelledError):
        return ApiError(422, "execution_cancelled", str(exc), {"execution_id": exc.execution_id})
    if isinstance(exc, ExecutionFailedError):
        error = exc.error.model_dump(mode="json") if exc.error is not None else None
        return ApiError(
            422,
            "execution_failed",
            str(exc),
            {"execution_id": exc.execution_id, "error": error},
        )
    if isinstance(exc, TimeoutError):
        return ApiError(504, "timeout", str(exc) or "the engine did not answer in time")
    if isinstance(exc, ConcurrencyError):
        return ApiError(409, "conflict", str(exc), {"execution_id": exc.execution_id})
    if isinstance(exc, StorageError):
        return ApiError(
            503,
            "storage_unavailable",
            str(exc),
            {"transient": exc.transient},
            headers={"Retry-After": STORAGE_RETRY_AFTER} if exc.transient else None,
        )
    return None


_DOCUMENTED = {
    400: "The `Host` header is not one this server answers for.",
    401: "Missing or invalid API token (only when a token is configured).",
    403: "The request comes from a web page of another origin.",
    404: "Unknown flow, execution or step.",
    409: "The execution's state does not allow this.",
    413: "The request body is too large.",
    415: "The request body is not `application/json`.",
    422: "Invalid request (field errors in `details.errors`), or the execution failed.",
    500: "Unexpected server error.",
    503: "The storage is unavailable (`Retry-After` says when to retry a passing fault).",
    504: "The engine did not answer in time.",
}


def documented(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` for error statuses (all answered with the envelope)."""
    return {s: {"model": ErrorEnvelope, "description": _DOCUMENTED[s]} for s in statuses}


def install_error_handlers(app: FastAPI) -> None:
    """Answer every error, FastAPI's own included, with the envelope."""

    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    async def http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else code.replace("_", " ")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request))
        return error_response(exc.status_code, code, message, headers=headers)

    async def request_invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        details = field_errors(exc.errors())
        return error_response(422, "validation_error", "the request is invalid", details)

    async def engine_error(request: Request, exc: Exception) -> JSONResponse:
        mapped = translate(exc)
        if mapped is None:
            return await unexpected(request, exc)
        return error_response(
            mapped.status, mapped.code, mapped.message, mapped.details, mapped.headers
        )

    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        # the server logs the traceback (Starlette re-raises after this answer)
        log.error("unhandled %s on %s %s", type(exc).__name__, request.method, request.url.path)
        return error_response(500, "internal_error", "internal server error")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, request_invalid)
    for kind in (
        FlowNotFoundError,
        ExecutionNotFoundError,
        StateConflictError,
        ExecutionFailedError,
        TimeoutError,
        StorageError,
    ):
        app.add_exception_handler(kind, engine_error)
    app.add_exception_handler(Exception, unexpected)
