"""``water run`` without ``--input``, and inputs the journal cannot store."""

from __future__ import annotations

import json

import pytest

from water.cli import app

FLOWS = """
from typing import Any

from pydantic import BaseModel

from water import Flow, task


class Options(BaseModel):
    greeting: str = "hello"
    times: int = 2


class Order(BaseModel):
    order_id: str
    amount: float = 0.0


@task
def greet(o: Options) -> str:
    return " ".join([o.greeting] * o.times)


@task
def take(o: Order) -> Order:
    return o


@task
def describe(value: Any) -> str:
    return repr(value)


defaults = Flow("defaults").then(greet)
required = Flow("required").then(take)
untyped = Flow("untyped").then(describe)
"""


@pytest.fixture
def flows(write):
    return write(FLOWS, "input_flows.py")


def invoke(runner, *args: object):
    return runner.invoke(app, [str(a) for a in args])


def test_run_without_input_gives_a_model_input_its_defaults(runner, flows, tmp_path):
    result = invoke(runner, "run", flows, "defaults", "--db", tmp_path / "w.db")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == "hello hello"


def test_run_without_input_names_the_missing_required_fields(runner, flows, tmp_path):
    result = invoke(runner, "run", flows, "required", "--db", tmp_path / "w.db")
    assert result.exit_code == 1
    assert "the input does not fit required's input model" in result.output
    assert "order_id: Field required" in result.output


def test_run_without_input_gives_an_untyped_flow_null(runner, flows, tmp_path):
    result = invoke(runner, "run", flows, "untyped", "--db", tmp_path / "w.db")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == "None"


@pytest.mark.parametrize(
    "raw", ['{"order_id": "A", "amount": NaN}', '{"order_id": "A", "amount": 1e400}']
)
def test_run_refuses_numbers_json_cannot_carry(runner, flows, tmp_path, raw):
    result = invoke(runner, "run", flows, "required", "-i", raw, "--db", tmp_path / "w.db")
    assert result.exit_code == 1
    assert "input of flow 'required' cannot be stored at $.amount" in result.output
    assert "Traceback" not in result.output
