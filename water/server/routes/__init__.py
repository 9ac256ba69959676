"""The API's routes, one module per resource: ``flows``, ``sessions`` (list, observe,
steer and delete executions), ``streams`` (events, live or from the journal),
``stats`` and ``service`` (health, metrics); ``params`` holds what they share.

Every blocking engine call runs in a worker thread (``asyncio.to_thread``) or
through the engine's async API, so the event loop never waits on the engine.
"""

from fastapi import APIRouter

from water.engine import Engine
from water.server.routes.flows import flow_routes
from water.server.routes.service import health_routes, service_routes
from water.server.routes.sessions import flow_sessions_routes, session_routes, sessions_routes
from water.server.routes.stats import flow_stats_routes, stats_routes
from water.server.routes.streams import flow_events_routes, session_events_routes

__all__ = ["api_routes", "health_routes"]


def api_routes(engine: Engine) -> list[APIRouter]:
    """Every route but ``/health``, under its tag, in the order of the OpenAPI document.

    It is also the order in which a request's path is matched: an execution's
    ``/events`` comes before ``/sessions/{execution_id}``, whose id (a ``path``) would
    match it too.
    """
    flows = APIRouter(tags=["flows"])
    for part in (
        flow_routes(engine),
        flow_events_routes(engine),
        flow_stats_routes(engine),
        flow_sessions_routes(engine),
    ):
        flows.include_router(part)
    sessions = APIRouter(tags=["sessions"])
    for part in (
        sessions_routes(engine),
        stats_routes(engine),
        session_events_routes(engine),
        session_routes(engine),
    ):
        sessions.include_router(part)
    return [flows, sessions, service_routes(engine)]
