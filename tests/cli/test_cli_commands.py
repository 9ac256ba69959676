"""The ``water`` command, through typer's CliRunner (and one fresh process)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from water.cli import app


def invoke(runner, *args: str):
    return runner.invoke(app, [str(a) for a in args])


def run_ok(runner, *args: str):
    result = invoke(runner, *args)
    assert result.exit_code == 0, result.output
    return result


# -- validate --------------------------------------------------------------------------
def test_validate_reports_every_flow_and_exits_0(runner, flows_file):
    result = run_ok(runner, "validate", flows_file)
    assert "✓ inner (1 step)" in result.output
    assert "✓ arithmetic (2 steps)" in result.output
    assert "✓ failing (1 step)" in result.output
    assert "3 flows valid" in result.output


def test_validate_lists_the_problems_and_exits_1(runner, write):
    path = write(
        """
        from pydantic import BaseModel
        from water import Flow, Task, task

        class A(BaseModel):
            a: int

        class B(BaseModel):
            b: str

        @task
        def make_a(x: A) -> A:
            return x

        @task
        def needs_b(x: B) -> B:
            return x

        class Lazy(Task[A, A]):
            pass

        good = Flow("good").then(make_a)
        mismatched = Flow("mismatched").then(make_a).then(needs_b)
        empty = Flow("empty")
        lazy = Flow("lazy").then(Lazy("lazy_task"))
        loop = Flow("loop")
        loop.then(loop)
        """
    )
    result = invoke(runner, "validate", path)
    assert result.exit_code == 1
    out = result.output
    assert "✓ good" in out
    assert "✗ mismatched" in out and "cannot feed 'needs_b'" in out
    assert "✗ empty" in out and "has no steps" in out
    assert "✗ lazy" in out and "task 'lazy_task' does not implement execute()" in out
    assert "✗ loop" in out and "nested in itself" in out
    assert "4 of 5 flows invalid" in out
    assert "Traceback" not in out


def test_validate_warns_about_different_tasks_sharing_an_id(runner, write):
    path = write(
        """
        from water import Flow, task

        @task(id="step")
        def one(x: int) -> int:
            return x

        @task(id="step")
        def two(x: int) -> int:
            return x

        first = Flow("first").then(one)
        second = Flow("second").then(two)
        """
    )
    result = run_ok(runner, "validate", path)
    assert "task id 'step' is used by two different tasks" in result.output


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import no_such_module\n", "ModuleNotFoundError: No module named 'no_such_module'"),
        ("x = 1\nraise RuntimeError('boom')\n", "RuntimeError: boom (at "),
        ("def broken(:\n", "syntax error at"),
        ("import sys\nsys.exit(3)\n", "SystemExit: 3"),
        ("x = 1\n", "no flows in"),
    ],
)
def test_a_flows_file_that_cannot_load_gives_a_clear_message(runner, write, source, expected):
    path = write(source)
    for command in ("validate", "dev"):
        result = invoke(runner, command, path)
        assert result.exit_code == 1
        assert expected in result.output
        assert "Traceback" not in result.output


def test_a_missing_flows_file(runner, tmp_path):
    result = invoke(runner, "validate", tmp_path / "absent.py")
    assert result.exit_code == 1
    assert "flows file not found" in result.output


def test_two_flows_with_one_id_are_refused(runner, write):
    path = write(
        """
        from water import Flow, task

        @task
        def step(x: int) -> int:
            return x

        orders = Flow("orders").then(step)
        orders_v2 = Flow("orders").then(step).then(step)
        """
    )
    for command in ("validate", "dev"):
        result = invoke(runner, command, path)
        assert result.exit_code == 1
        assert "duplicate flow id 'orders'" in result.output
        assert "'orders'" in result.output and "'orders_v2'" in result.output


def test_dev_refuses_invalid_flows_before_serving(runner, write):
    path = write("from water import Flow\nempty = Flow('empty')\n")
    result = invoke(runner, "dev", path)
    assert result.exit_code == 1
    assert "has no steps" in result.output and "invalid flows" in result.output


# -- run -------------------------------------------------------------------------------
def test_run_prints_the_output_as_json(runner, flows_file, tmp_path):
    db = tmp_path / "water.db"
    result = run_ok(runner, "run", flows_file, "arithmetic", "--input", '{"value": 2}', "--db", db)
    assert json.loads(result.stdout) == {"value": 6}
    assert "completed" in result.stderr


def test_run_reads_the_input_from_a_file(runner, flows_file, tmp_path):
    (tmp_path / "input.json").write_text('{"value": 10}')
    db = tmp_path / "water.db"
    result = run_ok(runner, "run", flows_file, "inner", "-i", f"@{tmp_path}/input.json", "--db", db)
    assert json.loads(result.stdout) == {"value": 20}


def test_run_a_failing_flow_exits_1_with_the_error(runner, flows_file, tmp_path):
    result = invoke(
        runner, "run", flows_file, "failing", "-i", '{"value": 7}', "--db", tmp_path / "w.db"
    )
    assert result.exit_code == 1
    assert "FatalError in step '0.explode': cannot handle 7" in result.stderr
    assert result.stdout == ""


def test_run_refuses_bad_input(runner, flows_file, tmp_path):
    db = tmp_path / "water.db"
    invalid = invoke(runner, "run", flows_file, "arithmetic", "-i", '{"value": "x"}', "--db", db)
    assert invalid.exit_code == 1
    assert "value: Input should be a valid integer" in invalid.output
    not_json = invoke(runner, "run", flows_file, "arithmetic", "-i", "{value", "--db", db)
    assert not_json.exit_code == 2
    assert "--input is not valid JSON" in not_json.output
    unknown = invoke(runner, "run", flows_file, "nope", "--db", db)
    assert unknown.exit_code == 1
    assert "no flow 'nope'; flows: arithmetic, failing, inner" in unknown.output


# -- list and inspect ------------------------------------------------------------------
@pytest.fixture
def db_with_runs(runner, flows_file, tmp_path):
    db = tmp_path / "water.db"
    ids = {}
    for flow_id, value in (("arithmetic", 1), ("arithmetic", 2), ("failing", 3)):
        result = invoke(
            runner, "run", flows_file, flow_id, "-i", json.dumps({"value": value}), "--db", db
        )
        ids.setdefault(flow_id, []).append(result.stderr.split()[1])
    return db, ids


def test_list_shows_executions_with_filters(runner, db_with_runs):
    db, ids = db_with_runs
    everything = run_ok(runner, "list", "--db", db)
    for eid in ids["arithmetic"] + ids["failing"]:
        assert eid in everything.output
    assert "5 of 5 executions" in everything.output  # two children of the nested flow

    failed = run_ok(runner, "list", "--db", db, "--status", "failed")
    assert ids["failing"][0] in failed.output
    assert ids["arithmetic"][0] not in failed.output
    assert "1 of 1 execution" in failed.output

    one = run_ok(runner, "list", "--db", db, "--flow", "arithmetic", "--limit", "1")
    assert ids["arithmetic"][1] in one.output and ids["arithmetic"][0] not in one.output
    assert "1 of 2 executions" in one.output

    none = run_ok(runner, "list", "--db", db, "--flow", "nope")
    assert "no executions match" in none.output


def test_list_and_inspect_need_an_existing_database(runner, tmp_path):
    for args in (("list",), ("inspect", "abc")):
        result = invoke(runner, *args, "--db", tmp_path / "absent.db")
        assert result.exit_code == 1
        assert "no database at" in result.output
    assert not (tmp_path / "absent.db").exists()


def test_inspect_shows_status_steps_outputs_and_events(runner, db_with_runs):
    db, ids = db_with_runs
    result = run_ok(runner, "inspect", ids["arithmetic"][0], "--db", db)
    out = result.output
    assert ids["arithmetic"][0] in out and "arithmetic" in out and "completed" in out
    # steps table: step, task, status, attempts
    assert "0.inc" in out and "1.inner" in out
    assert '0.inc: {"value": 2}' in out and '1.inner: {"value": 4}' in out
    assert "execution_started" in out and "step_completed" in out
    assert "execution_completed" in out


def test_inspect_a_failed_execution_shows_the_error(runner, db_with_runs):
    db, ids = db_with_runs
    out = run_ok(runner, "inspect", ids["failing"][0], "--db", db).output
    assert "failed" in out and "cannot handle 3" in out
    assert "execution_failed" in out


def test_inspect_an_unknown_execution(runner, db_with_runs):
    db, _ = db_with_runs
    result = invoke(runner, "inspect", "nope", "--db", db)
    assert result.exit_code == 1 and "no execution 'nope'" in result.output


def test_inspect_works_in_a_process_that_never_saw_the_flows(db_with_runs, tmp_path):
    db, ids = db_with_runs
    inspected = subprocess.run(
        [sys.executable, "-m", "water.cli", "inspect", ids["arithmetic"][1], "--db", str(db)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path.parent,
    )
    assert inspected.returncode == 0, inspected.stderr
    assert "completed" in inspected.stdout and "0.inc" in inspected.stdout


# -- graph -----------------------------------------------------------------------------
def test_graph_prints_mermaid_with_nested_flows_as_subgraphs(runner, flows_file):
    result = run_ok(runner, "graph", flows_file, "arithmetic")
    lines = result.stdout.splitlines()
    assert lines[0] == "flowchart TD"
    assert any(line.strip().startswith("subgraph") and "flow inner" in line for line in lines)
    assert '["inc"]' in result.stdout and '["double"]' in result.stdout
    assert run_ok(runner, "graph", flows_file, "inner", "--direction", "LR").stdout.startswith(
        "flowchart LR"
    )


def test_graph_of_an_unknown_flow(runner, flows_file):
    result = invoke(runner, "graph", flows_file, "nope")
    assert result.exit_code == 1
    assert "no flow 'nope'" in result.output


# -- stats ------------------------------------------------------------------------------
def test_stats_counts_executions_by_status_and_steps_by_task(runner, db_with_runs):
    db, _ = db_with_runs
    everything = run_ok(runner, "stats", "--db", db)
    assert "Executions of every flow" in everything.output
    rows = {
        line.split("│")[1].strip(): line for line in everything.output.splitlines() if "│" in line
    }
    assert rows["completed"].split("│")[2].strip() == "4"  # two runs and their nested children
    assert rows["failed"].split("│")[2].strip() == "1"
    assert rows["total"].split("│")[2].strip() == "5"
    cells = [c.strip() for c in rows["explode"].split("│")[1:-1]]
    assert cells == ["explode", "1", "1", "0", "-", "-"]  # one step, failed, no duration
    assert [c.strip() for c in rows["inc"].split("│")[2:5]] == ["2", "0", "0"]
    assert rows["inc"].split("│")[5].strip().endswith("ms")

    failing = run_ok(runner, "stats", "--db", db, "--flow", "failing")
    assert "Executions of flow failing" in failing.output
    assert "inc" not in failing.output and "explode" in failing.output

    assert (
        "no executions of flow nope" in run_ok(runner, "stats", "--db", db, "--flow", "nope").output
    )


def test_stats_needs_an_existing_database(runner, tmp_path):
    result = invoke(runner, "stats", "--db", tmp_path / "none.db")
    assert result.exit_code == 1
    assert "no database at" in result.output
