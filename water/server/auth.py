"""Bearer-token protection of the API (every route but ``/health`` and the dashboard's files).

The token comes from ``create_app(api_token=...)`` or the ``WATER_API_TOKEN``
environment variable. It is compared in constant time and never logged. The
dashboard's static files (``/ui/...``) hold no data, so a browser can load them
without the token; the page then sends it on every API request it makes.
"""

from __future__ import annotations

import hmac
import os

from starlette.types import ASGIApp, Receive, Scope, Send

from water.server.dashboard import is_dashboard_path
from water.server.errors import error_response

TOKEN_ENV = "WATER_API_TOKEN"
OPEN_PATHS = frozenset({"/health"})


def resolve_token(api_token: str | None) -> str | None:
    """The token to require: the argument, else ``$WATER_API_TOKEN``; neither: None.

    An empty token is refused (``ValueError``) rather than taken to mean "no
    authentication": a variable set to an empty string is a mistake, not a choice.
    """
    if api_token is not None:
        if not api_token.strip():
            raise ValueError(
                "api_token is empty; pass the token to require, or None to serve without one "
                f"(unless {TOKEN_ENV} is set)"
            )
        return api_token
    token = os.environ.get(TOKEN_ENV)
    if token is not None and not token.strip():
        raise ValueError(
            f"{TOKEN_ENV} is set but empty; set it to the token to require, or unset it "
            "to serve without a token"
        )
    return token


def is_open(path: str) -> bool:
    """Whether a path is served without the token: ``/health`` and the dashboard's files."""
    return path in OPEN_PATHS or is_dashboard_path(path)


def route_path(scope: Scope) -> str:
    """The request's path below the app's mount point (``root_path``), as routes see it."""
    path = str(scope.get("path", ""))
    root = str(scope.get("root_path", "")).rstrip("/")
    if root and (path == root or path.startswith(root + "/")):
        return path[len(root) :] or "/"
    return path


def token_matches(authorization: bytes | None, expected: bytes) -> bool:
    """Whether an ``Authorization`` header value carries the expected bearer token."""
    if not authorization:
        return False
    scheme, _, given = authorization.strip().partition(b" ")
    if scheme.lower() != b"bearer":
        return False
    return hmac.compare_digest(given.strip(), expected)


class BearerAuthMiddleware:
    """Answers 401 (in the error envelope) unless the request bears the token."""

    def __init__(self, app: ASGIApp, token: str) -> None:
        self.app = app
        self.expected = token.encode("utf-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or is_open(route_path(scope)):
            await self.app(scope, receive, send)
            return
        header = next((v for k, v in scope.get("headers", ()) if k == b"authorization"), None)
        if token_matches(header, self.expected):
            await self.app(scope, receive, send)
            return
        response = error_response(
            401,
            "unauthorized",
            "missing or invalid API token: send 'Authorization: Bearer <token>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
        await response(scope, receive, send)
