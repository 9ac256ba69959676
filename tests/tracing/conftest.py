"""Spans for the tracing tests: the OpenTelemetry SDK with an in-memory exporter.

A tracer provider can be set only once per process, so the session sets one whose
sampler is a switch: spans are recorded only while a test holds the ``spans``
fixture (other tests in the session pay for no recording).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult


class Switch(Sampler):
    def __init__(self) -> None:
        self.on = False

    def should_sample(
        self,
        parent_context: Any,
        trace_id: int,
        name: str,
        kind: Any = None,
        attributes: Any = None,
        links: Any = None,
        trace_state: Any = None,
    ) -> SamplingResult:
        decision = Decision.RECORD_AND_SAMPLE if self.on else Decision.DROP
        return SamplingResult(decision, attributes if self.on else None)

    def get_description(self) -> str:
        return "Switch"


class Spans:
    """The finished spans of the test, with a few ways to look them up."""

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self.exporter = exporter

    def all(self) -> Sequence[ReadableSpan]:
        return self.exporter.get_finished_spans()

    def named(self, name: str, **attributes: Any) -> list[ReadableSpan]:
        return [
            s
            for s in self.all()
            if s.name == name
            and all((s.attributes or {}).get(f"water.{k}") == v for k, v in attributes.items())
        ]

    def one(self, name: str, **attributes: Any) -> ReadableSpan:
        found = self.named(name, **attributes)
        assert len(found) == 1, f"{len(found)} spans {name} {attributes}: {self.describe()}"
        return found[0]

    def describe(self) -> list[str]:
        return [f"{s.name} {dict(s.attributes or {})}" for s in self.all()]


_switch = Switch()
_exporter = InMemorySpanExporter()


@pytest.fixture(scope="session")
def _provider() -> TracerProvider:
    provider = TracerProvider(sampler=_switch)
    provider.add_span_processor(SimpleSpanProcessor(_exporter))
    trace.set_tracer_provider(provider)
    assert trace.get_tracer_provider() is provider, "another tracer provider was set first"
    return provider


@pytest.fixture
def spans(_provider: TracerProvider) -> Iterator[Spans]:
    _exporter.clear()
    _switch.on = True
    try:
        yield Spans(_exporter)
    finally:
        _switch.on = False
        _exporter.clear()


@pytest.fixture
def tracer(_provider: TracerProvider) -> trace.Tracer:
    """The tracer of the application that calls Water."""
    return trace.get_tracer("the-app")
