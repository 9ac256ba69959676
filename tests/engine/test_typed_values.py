"""Typed values between steps, end to end: lists, for_ inputs, signal defaults, conditions."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, ValidationError

from water import Flow, task


class Num(BaseModel):
    value: int


class Batch(BaseModel):
    items: list[Num]
    label: str = "today"


class Pair(BaseModel):
    left: list[Num]
    right: list[Num]


class Approval(BaseModel):
    approved: bool


@task
def inc(n: Num) -> Num:
    return Num(value=n.value + 1)


@task
def total(xs: list[Num]) -> Num:
    return Num(value=sum(x.value for x in xs))


@task
def finish(a: Approval | None) -> Approval:
    return a or Approval(approved=False)


def test_a_flow_starting_with_for_takes_a_list_or_a_model_with_one_list_field(engine):
    flow = Flow("batch").for_(inc).then(total)
    items = [{"value": 1}, {"value": 2}]
    for given in (items, Batch(items=items), {"items": items, "label": "x"}):
        assert engine.start(flow, given).result(timeout=10) == Num(value=5)
    with pytest.raises(ValidationError) as info:
        engine.start(flow, Pair(left=[], right=[]))
    message = str(info.value)
    assert "flow 'batch' step 0 (for inc) needs a list or a model with exactly one list" in message
    assert "Pair has list fields ['left', 'right']" in message


def test_a_nested_flow_starting_with_for_takes_a_model_with_one_list_field(engine):
    @task
    def gather(n: Num) -> Batch:
        return Batch(items=[n, n])

    inner = Flow("each").for_(inc)
    flow = Flow("outer").then(gather).then(inner).then(total).validate()
    assert engine.start(flow, {"value": 1}).result(timeout=10) == Num(value=4)


def test_the_readme_signal_pattern_continues_with_the_default_after_the_timeout(engine):
    flow = (
        Flow("approval")
        .then(inc)
        .wait_for_signal("approve", model=Approval, timeout="50ms", default=None)
        .then(finish)
    )
    assert engine.start(flow, {"value": 1}).result(timeout=10) == Approval(approved=False)
