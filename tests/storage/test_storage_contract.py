"""The storage contract, checked on MemoryStorage and SQLiteStorage alike."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from water.events import (
    ErrorInfo,
    Event,
    ExecutionCompleted,
    ExecutionStarted,
    StepCompleted,
    StepFailed,
    TimerArmed,
)
from water.snapshot import Snapshot, StepView
from water.status import ExecutionStatus
from water.storage import (
    AppendRequest,
    Checkpoint,
    ConcurrencyError,
    ExecutionRecord,
    Storage,
    TaskResult,
)
from water.storage.base import is_recoverable

T0 = datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=UTC)


def started(flow_id: str = "flow") -> ExecutionStarted:
    return ExecutionStarted(flow_id=flow_id, fingerprint="fp", input={"n": 1}, ts=1.5)


def step(key: str, output: Any = None) -> StepCompleted:
    return StepCompleted(key=key, attempt=1, output=output, ts=2.5)


def record(
    execution_id: str,
    *,
    flow_id: str = "flow",
    status: ExecutionStatus = ExecutionStatus.RUNNING,
    created: datetime = T0,
    parent_id: str | None = None,
    wake_at: float | None = None,
    error: str | None = None,
) -> ExecutionRecord:
    return ExecutionRecord(
        execution_id=execution_id,
        flow_id=flow_id,
        status=status,
        created_at=created,
        updated_at=created,
        parent_id=parent_id,
        wake_at=wake_at,
        error=error,
    )


def snapshot(execution_id: str, seq: int, **changes: Any) -> Snapshot:
    values: dict[str, Any] = {
        "execution_id": execution_id,
        "flow_id": "flow",
        "status": ExecutionStatus.RUNNING,
        "created_at": T0,
        "updated_at": T0 + timedelta(seconds=seq),
        "seq": seq,
    }
    values.update(changes)
    return Snapshot(**values)


def checkpoint(execution_id: str, seq: int, **state: Any) -> Checkpoint:
    return Checkpoint(
        execution_id=execution_id,
        seq=seq,
        state=state or {"seq": seq},
        view=snapshot(execution_id, seq),
    )


def task(key: str, started_at: datetime | None = T0, **changes: Any) -> TaskResult:
    values: dict[str, Any] = {
        "key": key,
        "task_id": f"task-{key}",
        "status": "completed",
        "attempts": 1,
        "output": {"key": key},
        "started_at": started_at,
        "finished_at": None if started_at is None else started_at + timedelta(seconds=1),
    }
    values.update(changes)
    return TaskResult(**values)


# -- the journal -------------------------------------------------------------


def test_append_and_load_numbers_events(run: Any) -> None:
    async def body(s: Storage) -> None:
        assert await s.load_events("e1") == []
        assert await s.append_events("e1", [started(), step("a")], 0) == 2
        assert await s.append_events("e1", [step("b", [1, {"x": None}])], 2) == 3
        events = await s.load_events("e1")
        assert [e.seq for e in events] == [1, 2, 3]
        assert [e.type for e in events] == [
            "execution_started",
            "step_completed",
            "step_completed",
        ]
        assert events[0] == started().model_copy(update={"seq": 1})
        assert events[2] == step("b", [1, {"x": None}]).model_copy(update={"seq": 3})
        assert [e.seq for e in await s.load_events("e1", after_seq=1)] == [2, 3]
        assert await s.load_events("e1", after_seq=3) == []
        assert await s.load_events("other") == []

    run(body)


def test_append_with_no_events_is_a_no_op(run: Any) -> None:
    async def body(s: Storage) -> None:
        assert await s.append_events("e1", [], 0) == 0
        assert await s.load_events("e1") == []

    run(body)


@pytest.mark.parametrize("expected", [0, 1, 3, 7])
def test_append_with_wrong_expected_seq_is_a_conflict(run: Any, expected: int) -> None:
    async def body(s: Storage) -> None:
        await s.append_events("e1", [started(), step("a")], 0)
        with pytest.raises(ConcurrencyError) as info:
            await s.append_events("e1", [step("b")], expected)
        assert info.value.execution_id == "e1"
        assert info.value.expected_seq == expected
        assert info.value.actual_seq == 2
        assert [e.seq for e in await s.load_events("e1")] == [1, 2]

    run(body)


def test_append_to_an_empty_stream_must_expect_zero(run: Any) -> None:
    async def body(s: Storage) -> None:
        with pytest.raises(ConcurrencyError) as info:
            await s.append_events("e1", [step("a")], 4)
        assert info.value.actual_seq == 0
        assert await s.load_events("e1") == []

    run(body)


# -- group commit ---------------------------------------------------------------


@pytest.mark.parametrize("with_rows", [False, True], ids=["events-only", "with-rows"])
def test_group_commit_isolates_the_conflicting_requests(run: Any, with_rows: bool) -> None:
    def req(execution_id: str, expected: int, *events: Any) -> AppendRequest:
        extra: dict[str, Any] = {}
        if with_rows:
            extra = {
                "record": record(execution_id, status=ExecutionStatus.WAITING),
                "checkpoint": checkpoint(execution_id, expected + len(events)),
                "task_results": [task(f"{execution_id}-step")],
            }
        return AppendRequest(
            execution_id=execution_id, events=list(events), expected_seq=expected, **extra
        )

    async def body(s: Storage) -> None:
        await s.append_events("b", [started()], 0)
        await s.append_events("d", [started()], 0)
        results = await s.commit(
            [
                req("a", 0, started(), step("x")),
                req("b", 0, started()),  # stale: b already has one event
                req("c", 0, started()),
                req("d", 3, step("y")),  # ahead: would leave a gap
                req("b", 1, step("z")),  # the right continuation of b
            ]
        )
        assert results[0] is None
        assert isinstance(results[1], ConcurrencyError)
        assert results[1].actual_seq == 1
        assert results[2] is None
        assert isinstance(results[3], ConcurrencyError)
        assert results[3].actual_seq == 1
        assert results[4] is None

        assert [e.seq for e in await s.load_events("a")] == [1, 2]
        assert [e.type for e in await s.load_events("b")] == [
            "execution_started",
            "step_completed",
        ]
        assert [e.seq for e in await s.load_events("c")] == [1]
        assert [e.seq for e in await s.load_events("d")] == [1]
        if with_rows:
            for ok in ("a", "b", "c"):
                assert await s.get_execution(ok) is not None
                assert await s.load_checkpoint(ok) is not None
                assert len(await s.load_task_results(ok)) == 1
            # nothing of the refused request was written
            assert await s.get_execution("d") is None
            assert await s.load_checkpoint("d") is None
            assert await s.load_task_results("d") == []
            # only b's accepted request (checkpoint at seq 2) was written
            b_checkpoint = await s.load_checkpoint("b")
            assert b_checkpoint is not None
            assert b_checkpoint.seq == 2

    run(body)


def test_group_commit_applies_requests_of_one_stream_in_order(run: Any) -> None:
    async def body(s: Storage) -> None:
        results = await s.commit(
            [
                AppendRequest(execution_id="e", events=[started()], expected_seq=0),
                AppendRequest(execution_id="e", events=[step("a"), step("b")], expected_seq=1),
                AppendRequest(execution_id="e", events=[step("c")], expected_seq=3),
            ]
        )
        assert results == [None, None, None]
        assert [e.seq for e in await s.load_events("e")] == [1, 2, 3, 4]

    run(body)


def test_rows_written_twice_in_one_commit_end_as_if_written_in_turn(run: Any) -> None:
    async def body(s: Storage) -> None:
        later = T0 + timedelta(hours=1)
        first = AppendRequest(
            execution_id="e",
            events=[started()],
            expected_seq=0,
            record=record("e"),
            checkpoint=checkpoint("e", 1),
            task_results=[task("a", status="running")],
        )
        second = AppendRequest(
            execution_id="e",
            events=[step("a")],
            expected_seq=1,
            record=record("e", status=ExecutionStatus.COMPLETED, created=later),
            checkpoint=checkpoint("e", 1, again=True),
            task_results=[task("a", attempts=2)],
        )
        assert await s.commit([first, second]) == [None, None]
        got = await s.get_execution("e")
        assert got is not None
        assert (got.status, got.created_at, got.updated_at) == (
            ExecutionStatus.COMPLETED,
            T0,  # the first write's: an existing row keeps its creation time
            later,
        )
        loaded = await s.load_checkpoint("e")
        assert loaded is not None
        assert loaded.state == {"again": True}
        (row,) = await s.load_task_results("e")
        assert (row.status, row.attempts) == ("completed", 2)

    run(body)


def test_commit_writes_records_checkpoints_and_task_results(run: Any) -> None:
    async def body(s: Storage) -> None:
        assert await s.commit([]) == []
        results = await s.commit(
            [
                AppendRequest(
                    execution_id="e1",
                    events=[started(), step("a", {"v": [1, 2]})],
                    expected_seq=0,
                    record=record("e1"),
                    checkpoint=checkpoint("e1", 2, cursor=[0, 1]),
                    task_results=[task("a"), task("b", started_at=None, status="running")],
                ),
                AppendRequest(
                    execution_id="e2", expected_seq=0, record=record("e2", flow_id="other")
                ),
            ]
        )
        assert results == [None, None]
        assert [e.seq for e in await s.load_events("e1")] == [1, 2]
        assert await s.get_execution("e1") == record("e1")
        assert await s.get_execution("e2") == record("e2", flow_id="other")
        assert await s.load_checkpoint("e1") == checkpoint("e1", 2, cursor=[0, 1])
        assert [r.key for r in await s.load_task_results("e1")] == ["b", "a"]
        assert await s.load_events("e2") == []

    run(body)


def test_apply_is_all_or_nothing(run: Any) -> None:
    async def body(s: Storage) -> None:
        await s.append_events("e1", [started()], 0)
        with pytest.raises(ConcurrencyError):
            await s.apply(
                AppendRequest(
                    execution_id="e1",
                    events=[step("a")],
                    expected_seq=0,
                    record=record("e1"),
                    checkpoint=checkpoint("e1", 1),
                    task_results=[task("a")],
                )
            )
        assert await s.get_execution("e1") is None
        assert await s.load_checkpoint("e1") is None
        assert await s.load_task_results("e1") == []
        await s.apply(
            AppendRequest(
                execution_id="e1", events=[step("a")], expected_seq=1, record=record("e1")
            )
        )
        assert await s.get_execution("e1") == record("e1")

    run(body)


# -- snapshots -------------------------------------------------------------------


def test_latest_checkpoint_wins(run: Any) -> None:
    async def body(s: Storage) -> None:
        assert await s.load_checkpoint("e1") is None
        await s.save_checkpoint(checkpoint("e1", 5))
        await s.save_checkpoint(checkpoint("e1", 3))
        loaded = await s.load_checkpoint("e1")
        assert loaded is not None
        assert loaded.seq == 5
        assert loaded.state == {"seq": 5}
        await s.save_checkpoint(checkpoint("e1", 7))
        loaded = await s.load_checkpoint("e1")
        assert loaded is not None
        assert loaded == checkpoint("e1", 7)
        assert await s.load_checkpoint("e2") is None

    run(body)


def test_snapshot_view_round_trip(run: Any) -> None:
    view = snapshot(
        "e1",
        4,
        status=ExecutionStatus.FAILED,
        current_step="b",
        completed_steps=["a"],
        failed_steps=["b"],
        step_outputs={"a": {"nested": [1, 2.5, "x", None, True]}},
        suspended={"c": {"ask": "approve"}},
        variables={"v": 1},
        metadata={"owner": "me"},
        input=[1, 2],
        error=ErrorInfo(type="ValueError", message="boom", step="b", details={"k": [1]}),
        parent_id="p",
        waiting_for=["signal"],
        wake_at=T0 + timedelta(minutes=5),
        steps=[
            StepView(
                key="a",
                task_id="t",
                status="completed",
                attempts=2,
                started_at=T0,
                finished_at=T0 + timedelta(seconds=3),
            )
        ],
    )

    async def body(s: Storage) -> None:
        assert await s.load_snapshot("e1") is None
        await s.save_snapshot(view, {"pc": 3})
        assert await s.load_snapshot("e1") == view
        loaded = await s.load_checkpoint("e1")
        assert loaded is not None
        assert loaded.state == {"pc": 3}
        assert loaded.view == view

    run(body)


def test_stored_values_are_isolated_from_callers(run: Any) -> None:
    async def body(s: Storage) -> None:
        saved = checkpoint("e1", 1, items=[1, 2])
        await s.save_checkpoint(saved)
        saved.state["items"].append(3)
        saved.view.step_outputs["x"] = 1
        loaded = await s.load_checkpoint("e1")
        assert loaded is not None
        assert loaded.state == {"items": [1, 2]}
        assert loaded.view.step_outputs == {}
        loaded.state["items"].append(4)
        again = await s.load_checkpoint("e1")
        assert again is not None
        assert again.state == {"items": [1, 2]}

        result = task("a", output={"rows": [1]})
        await s.save_task_result("e1", "t", result)
        result.output["rows"].append(2)
        (row,) = await s.load_task_results("e1")
        assert row.output == {"rows": [1]}
        row.output["rows"].append(3)
        (row,) = await s.load_task_results("e1")
        assert row.output == {"rows": [1]}

    run(body)


# -- step results ----------------------------------------------------------------


def test_task_results_replace_by_key_and_order_by_start(run: Any) -> None:
    async def body(s: Storage) -> None:
        assert await s.load_task_results("e1") == []
        await s.save_task_result("e1", "t-c", task("c", T0))
        await s.save_task_result("e1", "t-b", task("b", T0 + timedelta(seconds=5)))
        await s.save_task_result("e1", "t-a", task("a", T0))
        await s.save_task_result("e1", "t-z", task("z", None, status="pending"))
        error = ErrorInfo(type="KeyError", message="k", step="b", retryable=False)
        await s.save_task_result(
            "e1", "t-b", task("b", T0 + timedelta(seconds=5), status="failed", error=error)
        )
        rows = await s.load_task_results("e1")
        assert [r.key for r in rows] == ["z", "a", "c", "b"]
        assert [r.task_id for r in rows] == ["t-z", "t-a", "t-c", "t-b"]
        assert rows[3].status == "failed"
        assert rows[3].error == error
        assert rows[1].started_at == T0
        assert rows[1].finished_at == T0 + timedelta(seconds=1)
        assert rows[0].started_at is None
        assert await s.load_task_results("e2") == []

    run(body)


def test_task_results_keep_the_child_execution_of_a_nested_step(run: Any) -> None:
    async def body(s: Storage) -> None:
        await s.save_task_result("e1", "inner", task("0.inner", child_execution_id="e1/0.inner"))
        await s.save_task_result("e1", "inc", task("1.inc", T0 + timedelta(seconds=1)))
        rows = await s.load_task_results("e1")
        assert [(r.key, r.child_execution_id) for r in rows] == [
            ("0.inner", "e1/0.inner"),
            ("1.inc", None),
        ]

    run(body)


# -- the executions index ----------------------------------------------------------


def test_datetimes_come_back_as_utc(run: Any) -> None:
    async def body(s: Storage) -> None:
        paris = timezone(timedelta(hours=1))
        await s.upsert_execution(record("aware", created=T0.astimezone(paris)))
        await s.upsert_execution(record("naive", created=T0.replace(tzinfo=None)))
        for execution_id in ("aware", "naive"):
            got = await s.get_execution(execution_id)
            assert got is not None
            assert got.created_at == T0
            assert got.created_at.utcoffset() == timedelta(0)
            assert got.updated_at.utcoffset() == timedelta(0)
        await s.save_task_result("e1", "t", task("a", T0.replace(tzinfo=None)))
        (row,) = await s.load_task_results("e1")
        assert row.started_at == T0
        assert row.started_at is not None
        assert row.started_at.utcoffset() == timedelta(0)

    run(body)


def test_upsert_keeps_created_at(run: Any) -> None:
    async def body(s: Storage) -> None:
        assert await s.get_execution("e1") is None
        await s.upsert_execution(record("e1"))
        later = T0 + timedelta(hours=1)
        await s.upsert_execution(
            ExecutionRecord(
                execution_id="e1",
                flow_id="flow",
                status=ExecutionStatus.FAILED,
                created_at=later,
                updated_at=later,
                parent_id="p",
                wake_at=123.5,
                error="boom",
            )
        )
        got = await s.get_execution("e1")
        assert got == ExecutionRecord(
            execution_id="e1",
            flow_id="flow",
            status=ExecutionStatus.FAILED,
            created_at=T0,
            updated_at=later,
            parent_id="p",
            wake_at=123.5,
            error="boom",
        )

    run(body)


def _fill_index() -> list[ExecutionRecord]:
    rows = []
    for i in range(12):
        rows.append(
            record(
                f"e{i:02d}",
                flow_id="even" if i % 2 == 0 else "odd",
                status=[ExecutionStatus.RUNNING, ExecutionStatus.COMPLETED, ExecutionStatus.FAILED][
                    i % 3
                ],
                # pairs share a creation time: the id breaks the tie
                created=T0 + timedelta(seconds=i // 2),
                parent_id="parent" if i < 4 else None,
            )
        )
    return rows


def test_list_and_count_executions(run: Any) -> None:
    async def body(s: Storage) -> None:
        assert await s.list_executions() == []
        assert await s.count_executions() == 0
        rows = _fill_index()
        for row in rows:
            await s.upsert_execution(row)
        newest_first = [f"e{i:02d}" for i in reversed(range(12))]

        listed = await s.list_executions()
        assert [r.execution_id for r in listed] == newest_first
        assert listed[0] == rows[11]
        assert await s.count_executions() == 12

        page = await s.list_executions(limit=5, offset=5)
        assert [r.execution_id for r in page] == newest_first[5:10]
        assert await s.list_executions(limit=5, offset=12) == []
        assert len(await s.list_executions(limit=1000)) == 12

        even = await s.list_executions(flow_id="even")
        assert [r.execution_id for r in even] == [e for e in newest_first if int(e[1:]) % 2 == 0]
        assert await s.count_executions(flow_id="even") == 6
        assert await s.count_executions(flow_id="nope") == 0

        running = await s.list_executions(status="running")
        assert [r.execution_id for r in running] == ["e09", "e06", "e03", "e00"]
        assert await s.count_executions(status=ExecutionStatus.RUNNING) == 4
        done = await s.list_executions(
            status=[ExecutionStatus.COMPLETED, "failed"], limit=3, offset=1
        )
        assert [r.execution_id for r in done] == ["e10", "e08", "e07"]
        assert await s.count_executions(status=("completed", "failed")) == 8
        assert await s.count_executions(status=[]) == 0
        assert await s.list_executions(status=[]) == []

        children = await s.list_executions(parent_id="parent")
        assert [r.execution_id for r in children] == ["e03", "e02", "e01", "e00"]
        assert await s.count_executions("even", "running", parent_id="parent") == 1
        assert [
            r.execution_id
            for r in await s.list_executions("even", ["running", "failed"], parent_id="parent")
        ] == ["e02", "e00"]

    run(body)


@pytest.mark.parametrize(("limit", "offset"), [(0, 0), (1001, 0), (-1, 0), (10, -1)])
def test_list_executions_validates_paging(run: Any, limit: int, offset: int) -> None:
    async def body(s: Storage) -> None:
        with pytest.raises(ValueError):
            await s.list_executions(limit=limit, offset=offset)

    run(body)


def test_unknown_status_filter_is_refused(run: Any) -> None:
    async def body(s: Storage) -> None:
        with pytest.raises(ValueError):
            await s.list_executions(status="bogus")
        with pytest.raises(ValueError):
            await s.count_executions(status=["running", "bogus"])

    run(body)


def test_executions_to_recover(run: Any) -> None:
    async def body(s: Storage) -> None:
        assert await s.executions_to_recover() == []  # type: ignore[attr-defined]
        statuses = [
            ("pending", ExecutionStatus.PENDING, None),
            ("running", ExecutionStatus.RUNNING, None),
            ("pausing", ExecutionStatus.PAUSING, None),
            ("paused", ExecutionStatus.PAUSED, None),
            ("waiting-timer", ExecutionStatus.WAITING, 1_000.0),
            ("waiting-signal", ExecutionStatus.WAITING, None),
            ("completed", ExecutionStatus.COMPLETED, None),
            ("failed", ExecutionStatus.FAILED, None),
            ("cancelled", ExecutionStatus.CANCELLED, None),
        ]
        # created newest first, so "oldest first" reverses the insertion order
        for i, (execution_id, status, wake_at) in enumerate(statuses):
            created = T0 - timedelta(seconds=i)
            await s.upsert_execution(
                record(execution_id, status=status, wake_at=wake_at, created=created)
            )
        recover = await s.executions_to_recover()  # type: ignore[attr-defined]
        assert [r.execution_id for r in recover] == [
            "waiting-timer",
            "pausing",
            "running",
            "pending",
        ]

    run(body)


def test_every_storage_recovers_what_is_recoverable_says(run: Any) -> None:
    """One definition of what an engine resumes at start, whatever the storage."""

    async def body(s: Storage) -> None:
        rows = [
            record(f"{status.value}-{wake_at}", status=status, wake_at=wake_at)
            for status in ExecutionStatus
            for wake_at in (None, 1_000.0)
        ]
        for row in rows:
            await s.upsert_execution(row)
        recovered = {r.execution_id for r in await s.executions_to_recover()}
        assert recovered == {r.execution_id for r in rows if is_recoverable(r)}
        assert "waiting-1000.0" in recovered and "waiting-None" not in recovered

    run(body)


def test_delete_execution(run: Any) -> None:
    async def body(s: Storage) -> None:
        assert await s.delete_execution("e1") is False
        await s.commit(
            [
                AppendRequest(
                    execution_id="e1",
                    events=[started(), TimerArmed(timer="t", fire_at=5.0)],
                    expected_seq=0,
                    record=record("e1"),
                    checkpoint=checkpoint("e1", 2),
                    task_results=[task("a")],
                ),
                AppendRequest(
                    execution_id="e2", events=[started()], expected_seq=0, record=record("e2")
                ),
            ]
        )
        assert await s.delete_execution("e1") is True
        assert await s.load_events("e1") == []
        assert await s.get_execution("e1") is None
        assert await s.load_checkpoint("e1") is None
        assert await s.load_task_results("e1") == []
        assert await s.delete_execution("e1") is False
        # the other execution is untouched, and a deleted stream starts again at 0
        assert len(await s.load_events("e2")) == 1
        assert await s.get_execution("e2") is not None
        assert await s.append_events("e1", [started()], 0) == 1
        # only events exist: still counts as existing
        assert await s.delete_execution("e1") is True

    run(body)


def test_failed_and_completed_events_round_trip(run: Any) -> None:
    async def body(s: Storage) -> None:
        error = ErrorInfo(type="RuntimeError", message="x", step="a", details={"d": [1]})
        events: list[Event] = [
            started(),
            StepFailed(key="a", attempt=1, error=error, retry_at=9.5, ts=3.0),
            ExecutionCompleted(output={"result": [1, "two", 3.0, None]}, ts=4.0),
        ]
        await s.append_events("e1", events, 0)
        loaded = await s.load_events("e1")
        assert loaded == [e.model_copy(update={"seq": i}) for i, e in enumerate(events, 1)]

    run(body)
