"""Subscribers of an engine see the executions another engine runs on the same store."""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from subscribers import Collector, fan_out, journal, other

from water import Engine, ExecutionStatus
from water.events import Event, ExecutionStarted, StepCompleted
from water.storage import AppendRequest, ExecutionRecord, SQLiteStorage


def test_an_execution_followed_by_id(sqlite_url: str) -> None:
    with Engine(sqlite_url, flows=[fan_out()]) as runner, Engine(sqlite_url) as watcher:
        seen = Collector()
        watcher.subscribe(seen, execution_id="X-1")
        ref = runner.start("fan", {"value": 1}, execution_id="X-1")
        ref.result(timeout=10)
        seen.wait_finished(["X-1"])
        assert seen.of("X-1") == journal(runner, "X-1")
        assert {i.flow_id for i in seen.items} == {"fan"}


def test_a_flow_followed_as_a_whole(sqlite_url: str) -> None:
    flows = [fan_out(), other()]
    with Engine(sqlite_url, flows=flows) as runner, Engine(sqlite_url) as watcher:
        by_flow, everything = Collector(), Collector()
        watcher.subscribe(by_flow, flow_id="fan")
        watcher.subscribe(everything)
        fans = [runner.start("fan", {"value": i}) for i in range(3)]
        others = [runner.start("other", {"value": 1})]
        for ref in fans + others:
            ref.result(timeout=10)
        by_flow.wait_finished(r.execution_id for r in fans)
        everything.wait_finished(r.execution_id for r in fans + others)
        for ref in fans:  # each event once, in order
            assert by_flow.of(ref.execution_id) == journal(runner, ref.execution_id)
            assert everything.of(ref.execution_id) == journal(runner, ref.execution_id)
        assert {i.flow_id for i in by_flow.items} == {"fan"}
        assert everything.of(others[0].execution_id) == journal(runner, others[0].execution_id)


def test_events_committed_here_are_not_published_again_when_read_from_the_store(
    sqlite_url: str,
) -> None:
    with Engine(sqlite_url, flows=[fan_out()]) as here, Engine(sqlite_url, flows=[]) as there:
        there.register(fan_out())
        seen = Collector()
        here.subscribe(seen, flow_id="fan")
        mine = here.start("fan", {"value": 1})
        mine.result(timeout=10)
        # an execution of the other engine reaches this one through the store only: once
        # it is seen, the store was read over the time of this engine's own events
        theirs = there.start("fan", {"value": 2})
        theirs.result(timeout=10)
        seen.wait_finished([mine.execution_id, theirs.execution_id])
        assert seen.of(mine.execution_id) == journal(here, mine.execution_id)
        assert seen.of(theirs.execution_id) == journal(here, theirs.execution_id)


def _append(path: Path, execution_id: str, seq: int, events: list[Event]) -> None:
    async def write() -> None:
        storage = SQLiteStorage(path)
        await storage.initialize()
        try:
            now = datetime.now(UTC)
            record = ExecutionRecord(
                execution_id=execution_id,
                flow_id="late",
                status=ExecutionStatus.RUNNING,
                created_at=now,
                updated_at=now,
            )
            req = AppendRequest(
                execution_id=execution_id, expected_seq=seq, events=events, record=record
            )
            assert await storage.commit([req]) == [None]
        finally:
            await storage.close()

    asyncio.run(write())


def test_an_event_committed_long_after_its_time_is_found_by_the_next_one(tmp_path: Path) -> None:
    path = tmp_path / "water.db"
    with Engine(f"sqlite:///{path}") as watcher:
        seen = Collector()
        watcher.subscribe(seen, flow_id="late")
        now = time.time()
        _append(path, "L-1", 0, [ExecutionStarted(flow_id="late", fingerprint="f", ts=now)])
        seen.wait_for(lambda: len(seen.items) == 1)
        late = StepCompleted(key="0.a", attempt=1, ts=now - 3600)  # held for an hour
        on_time = StepCompleted(key="1.b", attempt=1, ts=time.time())
        _append(path, "L-1", 1, [late])
        _append(path, "L-1", 2, [on_time])
        seen.wait_for(lambda: len(seen.items) == 3)
        assert seen.of("L-1") == [
            (1, "execution_started"),
            (2, "step_completed"),
            (3, "step_completed"),
        ]
