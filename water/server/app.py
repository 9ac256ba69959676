"""The HTTP API of an engine (FastAPI).

::

    app = create_app(engine)                       # you own the engine
    app = create_app_from_flows([orders], "sqlite:///water.db")  # the app owns it

Besides the API, the app serves ``/docs`` (Swagger UI) and ``/ui/`` (the dashboard).
"""

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Security
from fastapi.middleware.cors import CORSMiddleware
from fastapi.security import HTTPBearer

from water.engine import Engine, Runnable
from water.server.auth import BearerAuthMiddleware, resolve_token
from water.server.dashboard import install_dashboard
from water.server.docs import install_docs
from water.server.errors import documented, install_error_handlers
from water.server.guard import JsonBodyGuard, OriginGuard
from water.server.limits import BodyLimitMiddleware
from water.server.openapi import install_openapi
from water.server.routes import api_routes, health_routes
from water.storage import Storage
from water.version import __version__

__all__ = ["DEFAULT_MAX_BODY_BYTES", "create_app", "create_app_from_flows"]

DEFAULT_MAX_BODY_BYTES = 1_048_576


@dataclass(frozen=True)
class _Options:
    api_token: str | None
    max_body_bytes: int
    allowed_hosts: tuple[str, ...] | None
    allowed_origins: tuple[str, ...]


def create_app(
    engine: Engine,
    *,
    api_token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    allowed_hosts: Iterable[str] | None = None,
    allowed_origins: Iterable[str] = (),
) -> FastAPI:
    """An API over ``engine`` (which the caller keeps and shuts down).

    ``api_token``: require ``Authorization: Bearer <token>`` on every route but
    ``/health`` (default: ``$WATER_API_TOKEN``; unset: no token; empty: ``ValueError``).
    ``max_body_bytes``: larger request bodies are answered 413.
    ``allowed_hosts``: the ``Host`` values answered, others get 400 (default: any,
    since the service the app is mounted in knows its names; ``water dev`` passes
    its own address and the loopback names).
    ``allowed_origins``: origins other than the API's own whose browser requests
    are accepted, with the CORS headers a browser needs (e.g.
    ``"http://localhost:3000"``, or ``"*"``); others get 403.
    Request bodies must be ``application/json`` (415 otherwise).
    """
    options = _options(api_token, max_body_bytes, allowed_hosts, allowed_origins)
    return _build(engine, options, owns_engine=False)


def create_app_from_flows(
    flows: Iterable[Runnable],
    storage: Storage | str | None = None,
    *,
    api_token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    allowed_hosts: Iterable[str] | None = None,
    allowed_origins: Iterable[str] = (),
    **engine_options: Any,
) -> FastAPI:
    """An API over a new ``Engine(storage, flows=flows, **engine_options)``.

    The app owns the engine: it is shut down when the app's lifespan ends. The
    other options are ``create_app``'s.
    """
    options = _options(api_token, max_body_bytes, allowed_hosts, allowed_origins)
    engine = Engine(storage, flows=flows, **engine_options)
    try:
        return _build(engine, options, owns_engine=True)
    except BaseException:
        engine.shutdown()
        raise


def _options(
    api_token: str | None,
    max_body_bytes: int,
    allowed_hosts: Iterable[str] | None,
    allowed_origins: Iterable[str],
) -> _Options:
    """The options checked before anything starts (a bad one raises ``ValueError``)."""
    if max_body_bytes < 0:
        raise ValueError("max_body_bytes must be >= 0")
    return _Options(
        api_token=resolve_token(api_token),
        max_body_bytes=max_body_bytes,
        allowed_hosts=None if allowed_hosts is None else _listed(allowed_hosts),
        allowed_origins=_listed(allowed_origins),
    )


def _listed(values: Iterable[str]) -> tuple[str, ...]:
    """A list of names (one name alone is a list of one, not of its characters)."""
    return (values,) if isinstance(values, str) else tuple(values)


def _build(engine: Engine, options: _Options, *, owns_engine: bool) -> FastAPI:
    token = options.api_token

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            if owns_engine:
                await engine.shutdown_async()

    app = FastAPI(
        title="Water",
        version=__version__,
        description="Start, observe and steer durable workflow executions.",
        lifespan=lifespan,
        docs_url=None,  # served by install_docs, without a CDN
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    app.state.engine = engine
    install_error_handlers(app)
    # documents the bearer scheme in the OpenAPI document; BearerAuthMiddleware enforces it
    security = [Security(HTTPBearer(auto_error=False))] if token else []
    guarded = (400, 403) if options.allowed_hosts is not None else (403,)
    protected = documented(*guarded, 401, 500) if token else documented(*guarded, 500)
    for router in api_routes(engine):
        app.include_router(router, dependencies=security, responses=protected)
    app.include_router(health_routes(engine), responses=documented(*guarded, 500))
    install_openapi(app, lambda: engine.flows)
    install_docs(app)
    install_dashboard(app)
    # the last added runs first: Host and Origin, CORS (a preflight bears no token),
    # then the token, then the body
    app.add_middleware(BodyLimitMiddleware, max_bytes=options.max_body_bytes)
    app.add_middleware(JsonBodyGuard)
    if token is not None:
        app.add_middleware(BearerAuthMiddleware, token=token)
    if options.allowed_origins:  # pages of these origins may call the API from a browser
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(options.allowed_origins),
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["authorization", "content-type"],
        )
    app.add_middleware(OriginGuard, hosts=options.allowed_hosts, origins=options.allowed_origins)
    return app
