"""OpenTelemetry spans of an engine (``pip install 'water[otel]'``).

This module imports ``opentelemetry-api``; the engine imports it only when that
package is installed, and Water runs the same without it. Spans go through the
global tracer provider; while none is configured, Water makes none.

- ``water.start``: a call to ``Engine.start`` (or ``start_many``), a child of the
  caller's current span. Its W3C trace context is journaled with the start
  (``ExecutionStarted.trace``), so the execution belongs to that trace in every
  process that ever runs it, even when the caller had no trace of its own.
- ``water.execution``: an execution as one process ran it (a *segment*). It opens
  when the start is durable, or when this process rehydrates the execution after a
  restart (then ``water.resumed`` is true), and ends with the execution (status OK,
  ERROR, or unset for a cancel) or with the engine's shutdown. Its parent is the
  journaled context (a nested flow's or child workflow's first segment is a child
  of its parent's segment instead). A segment killed with its process is never
  exported: spans are exported when they end.
- ``water.step`` (``water.compensation`` for an undo): one run of a step body, on
  the thread or task that runs it, so the body's own spans nest under it and its
  log records carry its ids. A body that raises has status ERROR with the
  exception recorded; a suspended one has ``water.outcome = "suspended"``.

Attributes: ``water.execution_id``, ``water.flow_id``, ``water.step`` (the step key),
``water.attempt``, ``water.task_id``. No span holds an input, an output or a payload.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from importlib import metadata
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from actors.jobs import SuspendStep
from actors.observer import RuntimeObserver

_W3C = TraceContextTextMapPropagator()
"""The journal's format of a trace context, whatever propagators the process uses."""

_ENDS = {"execution_completed": "completed", "execution_failed": "failed", "cancelled": "cancelled"}
_TERMINAL = frozenset(_ENDS.values())


def _version() -> str | None:
    try:
        return metadata.version("water")
    except metadata.PackageNotFoundError:
        return None


_UNKNOWN = object()
_PROVIDER_FROM_ENV = "OTEL_PYTHON_TRACER_PROVIDER" in os.environ
"""A provider named in the environment (OpenTelemetry loads it on first use)."""


def enabled() -> bool:
    """Is a tracer provider configured (else every span would be a no-op)?

    Asked a few times per step. With no provider set (the global that
    ``trace.set_tracer_provider`` sets is still None) and none named in the
    environment when Water was imported, the answer is no without
    ``get_tracer_provider``, whose look-up of the environment variable raises and
    catches a ``KeyError`` each time.
    """
    if not _PROVIDER_FROM_ENV and getattr(trace, "_TRACER_PROVIDER", _UNKNOWN) is None:
        return False
    provider = trace.get_tracer_provider()
    return not isinstance(provider, (trace.ProxyTracerProvider, trace.NoOpTracerProvider))


def context_of(carrier: Mapping[str, str] | None) -> Context:
    """The context a journaled carrier names (an empty one without it)."""
    return _W3C.extract(carrier, context=Context()) if carrier else Context()


class Tracing(RuntimeObserver):
    """The spans of one engine. It observes commits on the reactor loop, where it
    opens and ends execution segments; step bodies only read the segments."""

    def __init__(self) -> None:
        self._tracer = trace.get_tracer("water", _version())
        self._segments: dict[str, Span] = {}  # execution id -> open segment (loop-owned)
        install_log_ids()

    # -- Engine.start ----------------------------------------------------------------
    @contextmanager
    def starting(
        self, flow_id: str, execution_id: str | None = None, count: int = 1
    ) -> Iterator[dict[str, str] | None]:
        """Around a start: the trace context to journal with it (None when tracing is off)."""
        if not enabled():
            yield None
            return
        attributes: dict[str, Any] = {"water.flow_id": flow_id}
        if execution_id is not None:
            attributes["water.execution_id"] = execution_id
        if count != 1:
            attributes["water.executions"] = count
        with self._tracer.start_as_current_span("water.start", attributes=attributes):
            carrier: dict[str, str] = {}
            _W3C.inject(carrier)
            yield carrier or None

    # -- execution segments (on the loop) ----------------------------------------------
    def events_committed(self, state: Any, events: Sequence[Any]) -> None:
        execution_id = state.execution_id
        end = None
        for event in events:
            if event.type in _ENDS:
                end = event
        if execution_id not in self._segments:
            if (end is None and state.status in _TERMINAL) or not enabled():
                return  # nothing more of a finished execution is traced
            started = any(e.type == "execution_started" for e in events)
            self._open(state, resumed=not started)
        if end is not None:
            self._close(execution_id, _ENDS[end.type], end)

    def restored(self, state: Any) -> None:
        """An unfinished execution was rehydrated: after a restart, a new segment opens."""
        if (
            state.status == "pending"
            or state.status in _TERMINAL
            or state.execution_id in self._segments
            or not enabled()
        ):
            return
        self._open(state, resumed=True)

    def _open(self, state: Any, resumed: bool) -> None:
        parent = self._segments.get(state.parent_id) if state.parent_id else None
        context = (
            trace.set_span_in_context(parent, Context())
            if parent is not None
            else context_of(state.trace)
        )
        attributes: dict[str, Any] = {
            "water.execution_id": state.execution_id,
            "water.flow_id": state.flow_id,
        }
        if state.parent_id:
            attributes["water.parent_execution_id"] = state.parent_id
        if resumed:
            attributes["water.resumed"] = True
        self._segments[state.execution_id] = self._tracer.start_span(
            "water.execution", context=context, attributes=attributes
        )

    def _close(self, execution_id: str, status: str, event: Any) -> None:
        span = self._segments.pop(execution_id, None)
        if span is None:
            return
        span.set_attribute("water.status", status)
        if status == "completed":
            span.set_status(Status(StatusCode.OK))
        elif status == "failed":
            error = event.error
            where = f" in step {error.step}" if error.step else ""
            span.set_status(Status(StatusCode.ERROR, f"{error.type}{where}"))
        span.end()

    def close(self) -> None:
        """The engine shuts down: end the segments of the executions still unfinished."""
        segments, self._segments = self._segments, {}
        for span in segments.values():
            span.set_attribute("water.status", "interrupted")
            span.end()

    # -- step bodies -----------------------------------------------------------------------
    def traced(
        self,
        body: Callable[[], Any],
        is_async: bool,
        state: Any,
        *,
        key: str,
        attempt: int,
        task_id: str,
        name: str = "water.step",
    ) -> Callable[[], Any]:
        """``body`` run inside a span of its own (``body`` itself when tracing is off)."""
        if not enabled():
            return body
        execution_id, carrier = state.execution_id, state.trace
        attributes = {
            "water.execution_id": execution_id,
            "water.flow_id": state.flow_id,
            "water.step": key,
            "water.attempt": attempt,
            "water.task_id": task_id,
        }
        segments, tracer = self._segments, self._tracer

        @contextmanager
        def spanned() -> Iterator[None]:
            # read when the body runs: by then the segment its dispatch came from is open
            segment = segments.get(execution_id)
            parent = (
                trace.set_span_in_context(segment, Context())
                if segment is not None
                else context_of(carrier)
            )
            span = tracer.start_span(name, context=parent, attributes=attributes)
            token = otel_context.attach(trace.set_span_in_context(span, parent))
            try:
                yield
            except BaseException as exc:
                _failed(span, exc)
                raise
            else:
                span.set_status(Status(StatusCode.OK))
            finally:
                otel_context.detach(token)
                span.end()

        if is_async:

            async def run_async() -> Any:
                with spanned():
                    return await body()

            return run_async

        def run_sync() -> Any:
            with spanned():
                return body()

        return run_sync


def _failed(span: Span, exc: BaseException) -> None:
    if isinstance(exc, SuspendStep):
        span.set_attribute("water.outcome", "suspended")
        return
    span.record_exception(exc)
    span.set_status(Status(StatusCode.ERROR, type(exc).__name__))


# -- log records --------------------------------------------------------------------
_installed = threading.Lock()
_log_ids_on = False


def install_log_ids() -> None:
    """Give every record of Water's loggers the ids of the current span (once per process).

    The attributes are those of OpenTelemetry's logging instrumentation:
    ``otelTraceID``, ``otelSpanID`` (``"0"`` outside any span) and ``otelTraceSampled``.
    Records of other loggers are left alone.
    """
    global _log_ids_on
    with _installed:
        if _log_ids_on:
            return
        _log_ids_on = True
        make = logging.getLogRecordFactory()

        def record_with_ids(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = make(*args, **kwargs)
            if record.name == "water" or record.name.startswith("water."):
                add_ids(record)
            return record

        logging.setLogRecordFactory(record_with_ids)


def add_ids(record: logging.LogRecord) -> None:
    span_context = trace.get_current_span().get_span_context()
    if span_context.is_valid:
        record.otelTraceID = trace.format_trace_id(span_context.trace_id)
        record.otelSpanID = trace.format_span_id(span_context.span_id)
        record.otelTraceSampled = span_context.trace_flags.sampled
    else:
        record.otelTraceID = "0"
        record.otelSpanID = "0"
        record.otelTraceSampled = False
