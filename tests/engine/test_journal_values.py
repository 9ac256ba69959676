"""Values the journal cannot store exactly are refused where they enter it.

The journal is JSON and must give back exactly what was stored: ``inf``/``nan``,
strings with a lone surrogate and lists or objects nested deeper than ``MAX_DEPTH``
are refused with a clear error naming the value, never changed and never a crash.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from pydantic import BaseModel

from water import (
    Cancel,
    Engine,
    ExecutionFailedError,
    ExecutionStatus,
    Flow,
    Resume,
    RetryPolicy,
    Signal,
    StateConflictError,
    StepOutputError,
    TaskContext,
    UnstorableValueError,
    WaterError,
    task,
)
from water.types import MAX_DEPTH


def nested(depth: int) -> Any:
    """A value with ``depth`` levels of lists: ``nested(2) == [[1]]``."""
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


UNSTORABLE = [
    pytest.param(float("inf"), "inf is not a JSON number", id="inf"),
    pytest.param({"price": float("nan")}, "at $.price: nan is not a JSON number", id="nan"),
    pytest.param(["ok", "a\ud800b"], "at $[1]: the string holds a lone surrogate", id="surrogate"),
    pytest.param({"k\udc80": 1}, "lone surrogate", id="surrogate-key"),
    pytest.param(nested(MAX_DEPTH + 1), f"nest more than {MAX_DEPTH} levels", id="too-deep"),
    pytest.param(nested(300), f"nest more than {MAX_DEPTH} levels", id="far-too-deep"),
]


class Price(BaseModel):
    amount: float


@task
def echo(value: Any) -> Any:
    return value


@task
def priced(p: Price) -> Price:
    return p


@pytest.mark.parametrize(("value", "problem"), UNSTORABLE)
def test_an_input_the_journal_cannot_store_is_refused_at_start(engine, value, problem):
    flow = Flow("echo").then(echo)
    with pytest.raises(UnstorableValueError, match="input of flow 'echo' cannot be stored") as e:
        engine.start(flow, value)
    assert problem in str(e.value)
    assert isinstance(e.value, WaterError) and isinstance(e.value, ValueError)
    with pytest.raises(UnstorableValueError):
        engine.start_many(flow, [1, value])
    with pytest.raises(UnstorableValueError):
        asyncio.run(engine.start_async(flow, value))
    assert engine.list_executions() == []  # nothing was started


def test_a_model_input_with_an_infinite_field_is_refused(engine):
    with pytest.raises(UnstorableValueError, match=r"at \$\.amount: inf is not a JSON number"):
        engine.start(Flow("price").then(priced), {"amount": "inf"})
    with pytest.raises(UnstorableValueError):
        Flow("price").then(priced).run(Price(amount=float("-inf")))


def test_values_at_the_limits_round_trip_exactly(sqlite_url):
    flow = Flow("echo").then(echo)
    value = {
        "deep": nested(MAX_DEPTH - 1),
        "big": 1.7976931348623157e308,
        "tiny": 5e-324,
        "huge_int": 10**40,
        "text": "é\u2028\U0001f600",
    }
    with Engine(sqlite_url, flows=[flow]) as engine:
        ref = engine.start(flow, value)
        assert ref.result(timeout=10) == value
        snap = ref.status()
        assert snap.input == value and snap.output == value
    with Engine(sqlite_url, flows=[flow]) as engine:
        assert engine.ref(ref.execution_id).status().step_outputs == {"0.echo": value}


def make(value: Any):
    @task(retry=RetryPolicy(max_attempts=3, delay=0.01))
    def produce(n: int) -> Any:
        return value

    @task(retry=RetryPolicy(max_attempts=3, delay=0.01))
    async def produce_async(n: int) -> Any:
        return value

    return produce, produce_async


@pytest.mark.parametrize(("value", "problem"), UNSTORABLE)
def test_a_step_output_the_journal_cannot_store_fails_the_step_for_good(engine, value, problem):
    for produce in make(value):
        ref = engine.start(Flow(f"out-{produce.id}").then(produce), 1)
        with pytest.raises(ExecutionFailedError) as e:
            ref.result(timeout=10)
        error = e.value.error
        assert error is not None and error.type == StepOutputError.__name__
        assert f"output of task {produce.id!r} cannot be stored" in error.message
        assert problem in error.message
        assert not error.retryable
        assert ref.status().steps[0].attempts == 1


def test_a_suspend_payload_the_journal_cannot_store_fails_the_step(engine):
    @task
    def ask_human(n: int, ctx: TaskContext) -> int:
        ctx.suspend({"question": "ok?", "score": float("nan")})
        return n

    ref = engine.start(Flow("suspends").then(ask_human), 1)
    with pytest.raises(ExecutionFailedError) as e:
        ref.result(timeout=10)
    assert e.value.error is not None and e.value.error.type == "StepOutputError"
    assert "suspend payload of task 'ask_human' cannot be stored at $.score" in str(e.value)


def test_an_error_message_with_a_lone_surrogate_fails_the_execution_cleanly(engine):
    @task
    def boom(n: int) -> int:
        raise RuntimeError("bad byte \udcff in the file")

    ref = engine.start(Flow("boom").then(boom), 1)
    with pytest.raises(ExecutionFailedError, match=r"bad byte \\udcff in the file"):
        ref.result(timeout=10)
    assert ref.status().status == ExecutionStatus.FAILED


def test_a_validation_error_about_an_unstorable_input_fails_the_execution_cleanly(engine):
    @task
    def parse(n: int) -> Price:
        return Price.model_validate({"amount": "\ud800"})

    ref = engine.start(Flow("parse").then(parse), 1)
    with pytest.raises(ExecutionFailedError) as e:
        ref.result(timeout=10)
    assert e.value.error is not None
    details = e.value.error.details
    assert details is not None and details["errors"][0]["loc"] == ["amount"]


@pytest.mark.parametrize(("value", "problem"), UNSTORABLE)
def test_signal_payloads_and_resume_data_the_journal_cannot_store_are_refused(
    engine, value, problem
):
    @task
    def review(n: Any, ctx: TaskContext) -> Any:
        return ctx.suspend({"question": "ok?"}).data

    flow = Flow("steered").then(echo).wait_for_signal("go").then(review)
    ref = engine.start(flow, 1)
    ref.wait_for_status("waiting", timeout=10)
    with pytest.raises(StateConflictError, match="payload of signal 'go' cannot be stored") as e:
        ref.ask(Signal("go", value))
    assert e.value.code == "invalid" and problem in str(e.value)
    ref.ask(Signal("go", {"fine": True}))
    snap = ref.wait_for_status("waiting", timeout=10)
    assert list(snap.suspended) == ["2.review"]
    with pytest.raises(StateConflictError, match=r"resume data for step '2\.review'") as e:
        ref.ask(Resume(data=value))
    assert e.value.code == "invalid"
    ref.ask(Resume(data={"approved": 1.5}))
    assert ref.result(timeout=10) == {"approved": 1.5}


def test_a_cancel_reason_the_journal_cannot_store_is_refused(engine):
    flow = Flow("waits").wait_for_signal("go")
    ref = engine.start(flow)
    with pytest.raises(StateConflictError, match="the cancel reason cannot be stored") as e:
        ref.ask(Cancel("user \ud800 left"))
    assert e.value.code == "invalid"
    assert ref.ask(Cancel("user left")).status == ExecutionStatus.CANCELLED


def test_flow_variables_metadata_and_signal_defaults_are_checked_when_declared():
    with pytest.raises(UnstorableValueError, match=r"variables of flow 'f' .* at \$\.rate"):
        Flow("f", variables={"rate": float("nan")})
    with pytest.raises(UnstorableValueError, match="metadata of flow 'f'"):
        Flow("f", metadata={"owner": "\ud800"})
    with pytest.raises(UnstorableValueError, match=r"f\.wait_for_signal default"):
        Flow("f").wait_for_signal("go", timeout="1s", default=float("inf"))
