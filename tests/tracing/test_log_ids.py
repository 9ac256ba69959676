"""Log records of step bodies and of the engine carry the ids of the current span."""

from __future__ import annotations

import logging

from opentelemetry import trace

from water import Engine, Flow, TaskContext, task


@task
def greet(name: str, ctx: TaskContext) -> str:
    ctx.logger.info("greeting someone")
    return f"hello {name}"


@task
async def shout(text: str, ctx: TaskContext) -> str:
    ctx.logger.info("shouting")
    return text.upper()


def test_a_step_bodys_records_carry_its_spans_ids(spans, caplog):
    flow = Flow("greeting").then(greet).then(shout)
    caplog.set_level(logging.INFO, logger="water.task")
    with Engine("memory://", flows=[flow]) as engine:
        assert engine.start(flow, "ann").result(timeout=10) == "HELLO ANN"

    for task_id, message in (("greet", "greeting someone"), ("shout", "shouting")):
        step = spans.one("water.step", task_id=task_id)
        [record] = [r for r in caplog.records if r.getMessage().endswith(message)]
        assert record.otelTraceID == trace.format_trace_id(step.context.trace_id)
        assert record.otelSpanID == trace.format_span_id(step.context.span_id)
        assert record.otelTraceSampled is True
        assert record.task_id == task_id  # the step's own ids are still there


def test_engine_records_carry_the_ids_of_the_span_they_are_made_in(spans, tracer, caplog):
    caplog.set_level(logging.INFO, logger="water")
    with Engine("memory://"):
        with tracer.start_as_current_span("operator action") as action:
            logging.getLogger("water.engine").info("in a span")
        logging.getLogger("water.engine").info("outside")
        logging.getLogger("elsewhere").warning("not ours")

    inside, outside, other = caplog.records[-3:]
    assert inside.otelSpanID == trace.format_span_id(action.get_span_context().span_id)
    assert inside.otelTraceID == trace.format_trace_id(action.get_span_context().trace_id)
    assert (outside.otelTraceID, outside.otelSpanID) == ("0", "0")
    assert not hasattr(other, "otelTraceID")  # other loggers' records are left alone
