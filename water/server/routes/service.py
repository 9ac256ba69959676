"""The service's own routes: ``/health`` and ``/metrics``."""

import asyncio

from fastapi import APIRouter, Response

from water.engine import Engine
from water.server.errors import ApiError, documented
from water.server.models import Health, NodeHealth
from water.version import __version__


def health_routes(engine: Engine) -> APIRouter:
    """``/health`` (never behind the token)."""
    router = APIRouter(tags=["service"])

    @router.get("/health", summary="Liveness check (never needs a token)")
    async def health() -> Health:
        node = NodeHealth.model_validate(engine.node.info(), from_attributes=False)
        return Health(version=__version__, flows=len(engine.flows), node=node)

    return router


def service_routes(engine: Engine) -> APIRouter:
    """``/metrics``."""
    router = APIRouter(tags=["service"])

    @router.get(
        "/metrics",
        summary="Prometheus metrics",
        response_class=Response,
        responses={
            200: {"content": {"text/plain": {"schema": {"type": "string"}}}},
            **documented(404),
        },
    )
    async def metrics() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST

        if engine.metrics is None:
            raise ApiError(404, "metrics_disabled", "this engine was built without metrics")
        text = await asyncio.to_thread(engine.metrics_text)
        return Response(text, media_type=CONTENT_TYPE_LATEST)

    return router
