"""``water retry`` and ``water fork`` on a database, through typer's CliRunner."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from water import Engine
from water.cli import app

FLAKY = """
from pathlib import Path

from pydantic import BaseModel

from water import FatalError, Flow, task

FIXED = Path(__file__).with_name("fixed")  # the charge fails until this file exists


class Num(BaseModel):
    value: int


@task
def reserve(n: Num) -> Num:
    return Num(value=n.value + 1)


@task
def charge(n: Num) -> Num:
    if not FIXED.exists():
        raise FatalError("the card is declined")
    return Num(value=n.value * 10)


shop = Flow("shop").then(reserve).then(charge)
"""


def invoke(runner, *args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture
def failed(runner, write, tmp_path) -> tuple[Path, Path, str]:
    """A flows file, a database and the id of its failed execution of ``shop``."""
    flows = write(FLAKY, "flaky.py")
    db = tmp_path / "water.db"
    result = invoke(runner, "run", flows, "shop", "-i", '{"value": 1}', "--db", db)
    assert result.exit_code == 1, result.output
    with Engine(f"sqlite:///{db}", recover=False) as engine:
        (record,) = engine.list_executions()
    return flows, db, record.execution_id


def test_retry_runs_the_failed_step_with_the_files_code_and_prints_the_output(runner, failed):
    flows, db, execution_id = failed
    again = invoke(runner, "retry", execution_id, flows, "--db", db)
    assert again.exit_code == 1
    assert "the card is declined" in again.stderr
    (flows.parent / "fixed").touch()
    result = invoke(runner, "retry", execution_id, flows, "--db", db)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"value": 20}
    assert f"{execution_id} completed" in result.stderr
    refused = invoke(runner, "retry", execution_id, flows, "--db", db)
    assert refused.exit_code == 1
    assert "cannot retry an execution that is completed" in refused.stderr


def test_retry_says_what_it_needs(runner, failed, flows_file):
    flows, db, execution_id = failed
    other = invoke(runner, "retry", execution_id, flows_file, "--db", db)
    assert other.exit_code == 1
    said = " ".join(other.stderr.split())  # as the console wraps it
    assert f"runs flow 'shop', which {flows_file} does not define (it defines arith" in said
    assert "Traceback" not in other.output
    unknown = invoke(runner, "retry", "nope", flows, "--db", db)
    assert unknown.exit_code == 1 and "no execution 'nope'" in unknown.stderr
    absent = invoke(runner, "retry", execution_id, flows, "--db", db.with_name("absent.db"))
    assert absent.exit_code == 1 and "no database at" in absent.stderr


def test_fork_runs_a_new_execution_from_the_step_and_inspect_names_the_original(runner, failed):
    flows, db, execution_id = failed
    (flows.parent / "fixed").touch()
    result = invoke(runner, "fork", execution_id, flows, "--from", "1.charge", "--db", db)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"value": 20}
    named = invoke(
        runner, "fork", execution_id, flows, "--from", "0.reserve", "--id", "f-1", "--db", db
    )
    assert named.exit_code == 0, named.output
    shown = invoke(runner, "inspect", "f-1", "--db", db)
    assert shown.exit_code == 0 and "forked from" in shown.stdout
    assert execution_id in shown.stdout


def test_fork_from_a_step_the_execution_does_not_have_lists_its_steps(runner, failed):
    flows, db, execution_id = failed
    result = invoke(runner, "fork", execution_id, flows, "--from", "5.nope", "--db", db)
    assert result.exit_code == 1
    said = " ".join(result.stderr.split())
    assert "has no step '5.nope'; its steps: '0.reserve', '1.charge'" in said
