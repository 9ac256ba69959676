"""``Storage.events_since``: the events of every execution from a time on (the store feed)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from water.events import Event, ExecutionStarted, StepCompleted
from water.status import ExecutionStatus
from water.storage import AppendRequest, ExecutionRecord, Storage

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def request(execution_id: str, flow_id: str, times: list[float]) -> AppendRequest:
    events: list[Event] = [ExecutionStarted(flow_id=flow_id, fingerprint="fp", ts=times[0])]
    events += [StepCompleted(key=f"{i}.t", attempt=1, ts=ts) for i, ts in enumerate(times[1:])]
    record = ExecutionRecord(
        execution_id=execution_id,
        flow_id=flow_id,
        status=ExecutionStatus.RUNNING,
        created_at=T0,
        updated_at=T0,
    )
    return AppendRequest(execution_id=execution_id, expected_seq=0, events=events, record=record)


def test_events_since_a_time_of_one_flow_or_all(run: Any) -> None:
    async def body(storage: Storage) -> tuple[list[Any], list[Any], list[Any]]:
        results = await storage.commit(
            [
                request("a", "orders", [10.0, 11.0, 12.0]),
                request("b", "billing", [10.5, 11.5]),
                request("c", "orders", [9.0, 13.0]),
            ]
        )
        assert results == [None, None, None]
        everything = await storage.events_since(11.0)
        orders = await storage.events_since(11.0, "orders")
        none = await storage.events_since(14.0)
        return everything, orders, none

    everything, orders, none = run(body)
    assert [(eid, flow, e.seq, e.ts) for eid, flow, e in everything] == [
        ("a", "orders", 2, 11.0),
        ("b", "billing", 2, 11.5),
        ("a", "orders", 3, 12.0),
        ("c", "orders", 2, 13.0),
    ]
    assert [(eid, e.seq) for eid, _, e in orders] == [("a", 2), ("a", 3), ("c", 2)]
    assert orders[0][2].type == "step_completed"
    assert none == []
