"""Execution ids users choose follow one rule; '/' is kept for nested flow executions."""

from __future__ import annotations

import asyncio

import pytest
from pydantic import BaseModel

from water import (
    Cancel,
    Engine,
    ExecutionNotFoundError,
    Flow,
    GetStatus,
    InvalidExecutionIdError,
    WaterError,
    task,
)


class Num(BaseModel):
    value: int


@task
def inc(n: Num) -> Num:
    return Num(value=n.value + 1)


def test_a_nested_flow_execution_id_cannot_be_taken_before_its_parent_makes_it(engine):
    arith = Flow("arith").then(inc)
    nest = Flow("nest").then(inc).then(Flow("inner").then(inc))  # child: P1/1.inner
    with pytest.raises(InvalidExecutionIdError, match="'/' is reserved") as e:
        engine.start(arith, {"value": 1}, execution_id="P1/1.inner")
    assert isinstance(e.value, WaterError) and isinstance(e.value, ValueError)
    assert engine.list_executions() == []
    parent = engine.start(nest, {"value": 1}, execution_id="P1")
    assert parent.result(timeout=10) == Num(value=3)
    child = engine.ref("P1/1.inner").status()
    assert (child.flow_id, child.parent_id) == ("inner", "P1")


@pytest.mark.parametrize(
    ("execution_id", "problem"),
    [
        ("", "it is empty"),
        ("a\x00b", r"it holds '\\x00'"),
        ("order 1", "it holds ' '"),
        ("caf\u00e9", r"it holds '\\xe9'"),
        ("\ud800", r"it holds '\\ud800'"),
        ("x" * 129, "it has 129 characters"),
        (42, "it must be a str"),
    ],
)
def test_execution_ids_outside_the_rule_are_refused(engine, execution_id, problem):
    flow = Flow("arith").then(inc)
    with pytest.raises(InvalidExecutionIdError, match=problem) as e:
        engine.start(flow, {"value": 1}, execution_id=execution_id)
    assert "1 to 128 characters among letters, digits" in str(e.value)
    with pytest.raises(InvalidExecutionIdError):
        asyncio.run(engine.start_async(flow, {"value": 1}, execution_id=execution_id))
    assert engine.list_executions() == []


def test_the_longest_id_and_every_allowed_character_start(engine):
    flow = Flow("arith").then(inc)
    for execution_id in ("x" * 128, "Order_2024-01.eu:7"):
        ref = engine.start(flow, {"value": 1}, execution_id=execution_id)
        assert ref.result(timeout=10) == Num(value=2)
        assert engine.get_execution(execution_id) is not None


@pytest.mark.parametrize("execution_id", ["", "\ud800", "no/such", "x" * 10_000])
def test_a_ref_to_an_id_no_execution_can_have_answers_not_found(engine, execution_id):
    ref = engine.ref(execution_id)
    with pytest.raises(ExecutionNotFoundError):
        ref.status()
    with pytest.raises(ExecutionNotFoundError):
        ref.ask(GetStatus())
    with pytest.raises(ExecutionNotFoundError):
        ref.result(timeout=5)
    with pytest.raises(ExecutionNotFoundError):
        asyncio.run(ref.wait(timeout=5))
    ref.tell(Cancel())  # dropped, without an error
    assert engine.events(execution_id) == []
    assert engine.get_execution(execution_id) is None
    assert engine.delete_execution(execution_id) is False


def test_a_surrogate_id_is_not_found_in_sqlite_storage(sqlite_url):
    with Engine(sqlite_url) as engine:
        with pytest.raises(ExecutionNotFoundError):
            engine.ref("\ud800").status()
        assert engine.events("\ud800") == []
