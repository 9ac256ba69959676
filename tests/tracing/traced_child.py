"""Child process of the recovery test: traces into a file, starts a flow, is killed mid-way.

argv: the SQLite file, the execution id, the file the spans are written to (a JSON line each).
"""

from __future__ import annotations

import sys
import threading

sys.path.insert(0, __file__.rsplit("/", 1)[0])

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from tracedflows import two_steps

from water import Engine


def main() -> None:
    db, execution_id, spans_file = sys.argv[1], sys.argv[2], sys.argv[3]
    out = open(spans_file, "a")  # noqa: SIM115  # open until the process is killed
    exporter = ConsoleSpanExporter(out=out, formatter=lambda span: span.to_json(indent=None) + "\n")
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    flow = two_steps()
    engine = Engine(f"sqlite:///{db}", flows=[flow])
    with trace.get_tracer("the-app").start_as_current_span("request"):
        engine.start(flow, 1, execution_id=execution_id)
    print("STARTED", flush=True)  # its spans have ended (and are written)
    threading.Event().wait()  # the second step blocks: run until killed


if __name__ == "__main__":
    main()
