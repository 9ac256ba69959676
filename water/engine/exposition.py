"""An engine's metrics over HTTP and its tracing, both optional.

Metrics need ``prometheus-client`` (a dependency); tracing needs ``opentelemetry-api``
and is off without it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from water.metrics import EngineMetrics
    from water.tracing import Tracing


class MetricsEndpoints:
    """The Prometheus exposition of one engine's registry, and the servers started for it."""

    def __init__(self, metrics: EngineMetrics | None) -> None:
        self.metrics = metrics
        self._servers: list[tuple[Any, Any]] = []  # (server, its thread)

    @property
    def registry(self) -> Any:
        if self.metrics is None:
            raise RuntimeError("this engine was built with a custom observer and has no metrics")
        return self.metrics.registry

    def text(self) -> bytes:
        from prometheus_client import generate_latest

        return bytes(generate_latest(self.registry))

    def app(self) -> Any:
        from prometheus_client import make_asgi_app

        return make_asgi_app(self.registry)

    def serve(self, port: int, addr: str) -> None:
        from prometheus_client import start_http_server

        self._servers.append(start_http_server(port, addr=addr, registry=self.registry))

    def close(self) -> None:
        for server, thread in self._servers:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)
        self._servers.clear()


def make_tracing() -> Tracing | None:
    try:
        from water.tracing import Tracing
    except ImportError:  # opentelemetry-api is not installed: no spans
        return None
    return Tracing()
