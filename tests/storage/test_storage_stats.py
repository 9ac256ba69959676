"""``Storage.stats``: the same figures on every storage, over the same rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from water.stats import ExecutionStats, StepStats, percentile
from water.status import ExecutionStatus
from water.storage import ExecutionRecord, Storage, TaskResult

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def record(execution_id: str, flow_id: str, status: ExecutionStatus) -> ExecutionRecord:
    return ExecutionRecord(
        execution_id=execution_id, flow_id=flow_id, status=status, created_at=T0, updated_at=T0
    )


def row(
    key: str, task_id: str, status: str, ms: float | None = None, attempts: int = 1
) -> TaskResult:
    finished = None if ms is None else T0 + timedelta(milliseconds=ms)
    return TaskResult(
        key=key,
        task_id=task_id,
        status=status,
        attempts=attempts,
        started_at=T0,
        finished_at=finished,
    )


async def fill(storage: Storage) -> None:
    """Two flows: ``orders`` (4 executions) and ``billing`` (1)."""
    executions = [
        ("o1", "orders", ExecutionStatus.COMPLETED),
        ("o2", "orders", ExecutionStatus.COMPLETED),
        ("o3", "orders", ExecutionStatus.FAILED),
        ("o4", "orders", ExecutionStatus.RUNNING),
        ("b1", "billing", ExecutionStatus.COMPLETED),
    ]
    for execution_id, flow_id, status in executions:
        await storage.upsert_execution(record(execution_id, flow_id, status))
    rows: dict[str, list[TaskResult]] = {
        "o1": [row("0.charge", "charge", "completed", 10), row("1.ship", "ship", "completed", 100)],
        "o2": [
            row("0.charge", "charge", "completed", 30, attempts=3),
            row("1.ship", "ship", "completed", 200),
        ],
        "o3": [row("0.charge", "charge", "failed", 5, attempts=2)],
        "o4": [row("0.charge", "charge", "completed", 20), row("1.ship", "ship", "running")],
        "b1": [row("0.charge", "charge", "completed", 1000), row("1.bill", "bill", "backoff")],
    }
    for execution_id, results in rows.items():
        for result in results:
            await storage.save_task_result(execution_id, result.task_id, result)


def test_stats_of_one_flow(run: Any) -> None:
    async def body(storage: Storage) -> ExecutionStats:
        await fill(storage)
        return await storage.stats("orders")

    stats = run(body)
    assert stats.flow_id == "orders"
    assert stats.counts == {
        **dict.fromkeys(ExecutionStatus, 0),
        ExecutionStatus.COMPLETED: 2,
        ExecutionStatus.FAILED: 1,
        ExecutionStatus.RUNNING: 1,
    }
    assert stats.total == 4
    assert set(stats.steps) == {"charge", "ship"}
    charge = stats.steps["charge"]
    # completed durations 10, 20, 30: the median is 20; p95 at 2 * 0.95 = 1.9 -> 20 + 0.9 * 10
    assert (charge.count, charge.failures, charge.retries) == (4, 1, 3)
    assert charge.p50_ms == pytest.approx(20, abs=1e-3)
    assert charge.p95_ms == pytest.approx(29, abs=1e-3)
    ship = stats.steps["ship"]
    assert (ship.count, ship.failures, ship.retries) == (3, 0, 0)
    assert ship.p50_ms == pytest.approx(150, abs=1e-3)  # between 100 and 200
    assert ship.p95_ms == pytest.approx(195, abs=1e-3)


def test_stats_of_every_flow(run: Any) -> None:
    async def body(storage: Storage) -> ExecutionStats:
        await fill(storage)
        return await storage.stats()

    stats = run(body)
    assert stats.flow_id is None
    assert stats.counts[ExecutionStatus.COMPLETED] == 3
    assert stats.total == 5
    assert stats.steps["charge"].count == 5
    assert stats.steps["charge"].p50_ms == pytest.approx(25, abs=1e-3)  # 10 20 30 1000
    # a task without a completed step has no durations
    assert stats.steps["bill"] == StepStats(count=1, failures=0, retries=0)


def test_stats_of_an_empty_store_and_an_unknown_flow(run: Any) -> None:
    async def body(storage: Storage) -> tuple[ExecutionStats, ExecutionStats]:
        empty = await storage.stats()
        await fill(storage)
        return empty, await storage.stats("no-such-flow")

    empty, unknown = run(body)
    for stats in (empty, unknown):
        assert stats.total == 0
        assert stats.steps == {}
        assert set(stats.counts) == set(ExecutionStatus)


def test_percentiles_interpolate_like_percentile_cont() -> None:
    assert percentile([], 50) is None
    assert percentile([7.0], 95) == 7.0
    assert percentile([1.0, 2.0], 50) == 1.5
    assert percentile([4.0, 1.0, 3.0, 2.0], 50) == 2.5
    values = [float(v) for v in range(1, 101)]  # 1..100: position 99 * 0.95 = 94.05
    assert percentile(values, 95) == pytest.approx(95.05)
