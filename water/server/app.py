"""The HTTP API of an engine (FastAPI).

::

    app = create_app(engine)                       # you own the engine
    app = create_app_from_flows([orders], "sqlite:///water.db")  # the app owns it
"""

from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, Security
from fastapi.security import HTTPBearer

from water import __version__
from water.engine import Engine
from water.flow import Flow
from water.server.auth import BearerAuthMiddleware, resolve_token
from water.server.errors import documented, install_error_handlers
from water.server.limits import BodyLimitMiddleware
from water.server.openapi import install_openapi
from water.server.routes import flow_routes, health_routes, service_routes, session_routes
from water.storage import Storage

__all__ = ["DEFAULT_MAX_BODY_BYTES", "create_app", "create_app_from_flows"]

DEFAULT_MAX_BODY_BYTES = 1_048_576


def create_app(
    engine: Engine,
    *,
    api_token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
) -> FastAPI:
    """An API over ``engine`` (which the caller keeps and shuts down).

    ``api_token``: require ``Authorization: Bearer <token>`` on every route but
    ``/health`` (default: ``$WATER_API_TOKEN``; unset or empty: no token).
    ``max_body_bytes``: larger request bodies are answered 413.
    """
    return _build(engine, api_token=api_token, max_body_bytes=max_body_bytes, owns_engine=False)


def create_app_from_flows(
    flows: Iterable[Flow],
    storage: Storage | str | None = None,
    *,
    api_token: str | None = None,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    **engine_options: Any,
) -> FastAPI:
    """An API over a new ``Engine(storage, flows=flows, **engine_options)``.

    The app owns the engine: it is shut down when the app's lifespan ends.
    """
    engine = Engine(storage, flows=flows, **engine_options)
    try:
        return _build(engine, api_token=api_token, max_body_bytes=max_body_bytes, owns_engine=True)
    except BaseException:
        engine.shutdown()
        raise


def _build(
    engine: Engine, *, api_token: str | None, max_body_bytes: int, owns_engine: bool
) -> FastAPI:
    token = resolve_token(api_token)

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
    )
    app.state.engine = engine
    install_error_handlers(app)
    # documents the bearer scheme in the OpenAPI document; BearerAuthMiddleware enforces it
    security = [Security(HTTPBearer(auto_error=False))] if token else []
    protected = documented(401, 500) if token else documented(500)
    for router in (flow_routes(engine), session_routes(engine), service_routes(engine)):
        app.include_router(router, dependencies=security, responses=protected)
    app.include_router(health_routes(engine), responses=documented(500))
    install_openapi(app, lambda: engine.flows)
    app.add_middleware(BodyLimitMiddleware, max_bytes=max_body_bytes)
    if token is not None:
        app.add_middleware(BearerAuthMiddleware, token=token)  # outermost: before the body
    return app
