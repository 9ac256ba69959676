"""The HTTP API: ``create_app(engine)`` or ``create_app_from_flows(flows, storage)``."""

from water.server.app import DEFAULT_MAX_BODY_BYTES, create_app, create_app_from_flows
from water.server.dev import app_from_env

__all__ = ["DEFAULT_MAX_BODY_BYTES", "app_from_env", "create_app", "create_app_from_flows"]
