"""``list`` and ``inspect`` print what a database holds as it is (markup-like text
included), with times in local ISO 8601."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest

from water import ExecutionStatus, Snapshot, SQLiteStorage
from water.cli import app
from water.events import ErrorInfo, ExecutionStarted, StepFailed, TimerArmed
from water.storage import ExecutionRecord, TaskResult

# rich markup: "[/]" closes nothing (an error), "[bold]" would be swallowed as a style
EXECUTION = "order-[/]-[bold]7"
PARENT = "batch-[/]"
FLOW = "[bold]orders[/]"
STEP = "0.[i]charge"
TASK = "charge-[/]"
MESSAGE = "card [red]declined[/] [/]"
OUTPUT = {"note": "[/][bold]"}


NOW = datetime(2030, 5, 17, 9, 30, 15, tzinfo=UTC)
FIRES = NOW.timestamp() + 5


def seed(db: Path) -> None:
    """An execution written by any engine (ids come from users and nested flows)."""
    now = NOW
    ts = now.timestamp()
    error = ErrorInfo(type="FatalError", message=MESSAGE, step=STEP)
    snapshot = Snapshot(
        execution_id=EXECUTION,
        flow_id=FLOW,
        status=ExecutionStatus.FAILED,
        step_outputs={STEP: OUTPUT},
        suspended={STEP: None},
        error=error,
        created_at=now,
        updated_at=now,
        parent_id=PARENT,
    )
    events = [
        ExecutionStarted(flow_id=FLOW, fingerprint="f", parent_id=PARENT, ts=ts),
        TimerArmed(timer=f"retry:{STEP}", fire_at=FIRES, ts=ts),
        StepFailed(key=STEP, attempt=1, error=error, ts=ts + 1),
    ]

    async def write() -> None:
        storage = SQLiteStorage(str(db))
        await storage.initialize()
        try:
            await storage.append_events(EXECUTION, events, 0)
            await storage.upsert_execution(
                ExecutionRecord(
                    execution_id=EXECUTION,
                    flow_id=FLOW,
                    status=ExecutionStatus.FAILED,
                    created_at=now,
                    updated_at=now,
                    parent_id=PARENT,
                    error=MESSAGE,
                )
            )
            await storage.save_snapshot(snapshot)
            await storage.save_task_result(
                EXECUTION,
                TASK,
                TaskResult(key=STEP, task_id=TASK, status="failed", attempts=1, error=error),
            )
        finally:
            await storage.close()

    asyncio.run(write())


@pytest.fixture
def db(tmp_path) -> Path:
    path = tmp_path / "water.db"
    seed(path)
    return path


def test_list_prints_ids_flows_and_errors_as_they_are(runner, db):
    result = runner.invoke(app, ["list", "--db", str(db)])
    assert result.exit_code == 0, result.output
    for text in (EXECUTION, FLOW, MESSAGE):
        assert text in result.output
    assert "Traceback" not in result.output


def test_inspect_prints_every_field_as_it_is(runner, db):
    result = runner.invoke(app, ["inspect", EXECUTION, "--db", str(db)])
    assert result.exit_code == 0, result.output
    out = result.output
    for text in (EXECUTION, PARENT, FLOW, STEP, TASK, MESSAGE, '{"note": "[/][bold]"}'):
        assert text in out, text
    assert "Traceback" not in out


def test_times_are_local_iso_8601(runner, db):
    local = NOW.astimezone().isoformat(timespec="seconds")
    fires = datetime.fromtimestamp(FIRES, UTC).astimezone().isoformat(timespec="seconds")
    listed = runner.invoke(app, ["list", "--db", str(db)]).output
    assert local in listed
    inspected = runner.invoke(app, ["inspect", EXECUTION, "--db", str(db)]).output
    assert f"created    {local}" in inspected
    assert f"fire_at={fires}" in inspected
    assert str(int(FIRES)) not in inspected  # no raw epoch seconds
