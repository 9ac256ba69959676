"""The ownership primitives of the storage contract: nodes, leases, claims, fences, inbox.

Each runs on every storage (memory, SQLite, PostgreSQL).
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from water.events import ExecutionStarted, StepCompleted
from water.status import ExecutionStatus
from water.storage import AppendRequest, ConcurrencyError, ExecutionRecord, Storage
from water.storage.base import INBOX, REPLIES, STATUSES, OwnershipLost

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def row(execution_id: str, status: ExecutionStatus = ExecutionStatus.RUNNING) -> ExecutionRecord:
    return ExecutionRecord(
        execution_id=execution_id,
        flow_id="flow",
        status=status,
        created_at=T0,
        updated_at=T0,
    )


def start(execution_id: str, fence: tuple[str, int] | None) -> AppendRequest:
    started = ExecutionStarted(flow_id="flow", fingerprint="fp", input=None, ts=1.0)
    return AppendRequest(
        execution_id=execution_id,
        expected_seq=0,
        events=[started],
        record=row(execution_id),
        fence=fence,
    )


def step(execution_id: str, seq: int, fence: tuple[str, int] | None) -> AppendRequest:
    done = StepCompleted(key=f"k{seq}", attempt=1, output=seq, ts=2.0)
    return AppendRequest(execution_id=execution_id, expected_seq=seq, events=[done], fence=fence)


def test_a_new_execution_is_owned_by_its_writer_at_epoch_1(run: Any) -> None:
    async def body(s: Storage) -> None:
        await s.join("a", "host", 1, 30)
        assert await s.commit([start("e1", ("a", 1))]) == [None]
        record = await s.get_execution("e1")
        assert record is not None and (record.owner, record.epoch) == ("a", 1)
        assert await s.owners(["e1", "nope"]) == {"e1": ("a", 1)}
        assert await s.commit([step("e1", 1, ("a", 1))]) == [None]

    run(body)


def test_a_claim_fences_the_previous_owner(run: Any) -> None:
    async def body(s: Storage) -> None:
        await s.join("a", "host", 1, 30)
        await s.join("b", "host", 2, 30)
        assert await s.commit([start("e1", ("a", 1)), start("e2", ("a", 1))]) == [None, None]
        # a is alive: b claims nothing
        assert await s.claim("b", ["flow"]) == []
        assert await s.claim("b", ["flow"], execution_ids=["e1"]) == []
        await s.expire(["a"])
        claimed = await s.claim("b", ["flow"], execution_ids=["e1"])
        assert [(c.execution_id, c.epoch, c.status) for c in claimed] == [
            ("e1", 2, ExecutionStatus.RUNNING)
        ]
        # a's append to e1 is refused, while its append to e2 in the same batch is written
        results = await s.commit([step("e1", 1, ("a", 1)), step("e2", 1, ("a", 1))])
        assert isinstance(results[0], OwnershipLost)
        assert "owned by node 'b' (epoch 2)" in str(results[0])
        assert results[1] is None
        assert [e.seq for e in await s.load_events("e1")] == [1]
        assert await s.commit([step("e1", 1, ("b", 2))]) == [None]
        # a stale seq is still a conflict, not a fence
        results = await s.commit([step("e1", 1, ("b", 2))])
        assert isinstance(results[0], ConcurrencyError)

    run(body)


def test_claims_take_unfinished_executions_of_known_flows_without_a_live_owner(run: Any) -> None:
    async def body(s: Storage) -> None:
        await s.join("b", "host", 2, 30)
        await s.upsert_execution(row("free"))
        await s.upsert_execution(row("done", ExecutionStatus.COMPLETED))
        await s.upsert_execution(row("other").model_copy(update={"flow_id": "other"}))
        claimed = await s.claim("b", ["flow"])
        assert [c.execution_id for c in claimed] == ["free"]
        assert await s.claim("b", ["flow"]) == []  # b owns it now, and is alive
        assert await s.claim("b", []) == []
        # a finished one with a message waiting is claimed, for its message
        await s.post("done", "signal", "{}")
        assert [c.execution_id for c in await s.claim("b", ["flow"])] == ["done"]
        # mine: a node back under the same id claims its own again (a new epoch)
        again = await s.claim("b", ["flow"], execution_ids=["free"], mine=True)
        assert [(c.execution_id, c.epoch) for c in again] == [("free", 2)]

    run(body)


def test_a_claim_takes_its_share_of_the_orphans(run: Any) -> None:
    async def body(s: Storage) -> None:
        for i in range(5):
            await s.upsert_execution(row(f"e{i}"))
        for node in ("b", "c", "d"):
            await s.join(node, "host", 2, 30)
        # three live nodes share five orphans: two each (rounded up), oldest first
        first = await s.claim("b", ["flow"], share=3)
        assert len(first) == 2
        # of the three left, two live nodes take two each (rounded up), at most limit
        assert len(await s.claim("c", ["flow"], share=2, limit=1)) == 1
        assert len(await s.claim("c", ["flow"], share=2)) == 1
        # alone, a node takes the rest
        assert len(await s.claim("d", ["flow"], share=1)) == 1
        assert await s.claim("d", ["flow"]) == []

    run(body)


def test_two_claims_at_once_have_one_winner(run: Any, make_storage: Any) -> None:
    async def body(s: Storage) -> None:
        await s.upsert_execution(row("e1"))
        await s.join("a", "h", 1, 30)
        await s.join("b", "h", 2, 30)
        other = s if s.url == "memory://" else make_storage()
        await other.initialize()
        try:
            won = await asyncio.gather(
                s.claim("a", ["flow"], execution_ids=["e1"]),
                other.claim("b", ["flow"], execution_ids=["e1"]),
            )
        finally:
            if other is not s:
                await other.close()
        assert sorted(len(w) for w in won) == [0, 1]

    run(body)


def test_create_owned_is_idempotent(run: Any) -> None:
    async def body(s: Storage) -> None:
        assert await s.create_owned("e1", "flow", "a") is True
        assert await s.create_owned("e1", "flow", "b") is False
        record = await s.get_execution("e1")
        assert record is not None
        assert (record.owner, record.epoch, record.status) == ("a", 1, ExecutionStatus.PENDING)
        # its first append, fenced by the creator, is written; another node's is not
        assert await s.commit([start("e1", ("a", 1))]) == [None]
        record = await s.get_execution("e1")
        assert record is not None and record.status == ExecutionStatus.RUNNING
        assert record.owner == "a"

    run(body)


def test_leases_renew_lapse_and_leave(run: Any) -> None:
    async def body(s: Storage) -> None:
        await s.join("a", "h", 7, 30)
        assert await s.renew("a", 30) is True
        (node,) = await s.nodes()
        assert (node.node_id, node.host, node.pid, node.alive) == ("a", "h", 7, True)
        await s.expire(["a"])
        assert await s.renew("a", 30) is False  # lapsed: join again
        assert [n.alive for n in await s.nodes()] == [False]
        await s.join("a", "h", 7, 30)
        assert await s.commit([start("e1", ("a", 1))]) == [None]
        await s.leave("a")
        assert await s.nodes() == []
        assert await s.owners(["e1"]) == {"e1": None}

    run(body)


def test_the_inbox_keeps_messages_for_the_owner(run: Any) -> None:
    async def body(s: Storage) -> None:
        await s.join("a", "h", 1, 30)
        assert await s.commit([start("e1", ("a", 1))]) == [None]
        first = await s.post("e1", "pause", "{}")
        second = await s.post("e1", "signal", '{"name": "go"}')
        assert [m.id for m in await s.inbox("a")] == [first, second]
        assert await s.inbox("b") == []
        assert await s.reply(first) == (False, None)
        await s.answer(first, '{"ok": true}')
        await s.answer(second, None)  # a tell: removed once handled
        assert [m.id for m in await s.inbox("a")] == []
        assert await s.reply(first) == (True, '{"ok": true}')
        assert await s.reply(first) is None  # read once
        third = await s.post("e1", "pause", "{}")
        assert await s.withdraw(third) is True
        assert await s.withdraw(third) is False
        # an answer nobody collects is pruned in the end; an unhandled message is not
        fourth, fifth = await s.post("e1", "pause", "{}"), await s.post("e1", "pause", "{}")
        await s.answer(fourth, "{}")
        await s.prune_inbox(time.time() + 1)
        assert await s.reply(fourth) is None
        assert await s.reply(fifth) == (False, None)
        # deleting an execution deletes its messages
        await s.delete_execution("e1")
        assert await s.reply(fifth) is None

    run(body)


@pytest.mark.parametrize("count", [3])
def test_many_fenced_requests_in_one_batch(run: Any, count: int) -> None:
    async def body(s: Storage) -> None:
        await s.join("a", "h", 1, 30)
        ids = [f"e{i}" for i in range(count)]
        assert await s.commit([start(i, ("a", 1)) for i in ids]) == [None] * count
        await s.expire(["a"])
        await s.claim("b", ["flow"], execution_ids=ids[:1])
        results = await s.commit([step(i, 1, ("a", 1)) for i in ids])
        assert isinstance(results[0], OwnershipLost)
        assert results[1:] == [None] * (count - 1)

    run(body)


def test_postgresql_pushes_the_inbox_news_and_the_others_are_polled(run: Any) -> None:
    async def body(s: Storage) -> None:
        news: asyncio.Queue[tuple[str, str]] = asyncio.Queue()
        close = await s.listen(lambda channel, payload: news.put_nowait((channel, payload)))
        if close is None:  # SQLite and memory: the node polls
            assert s.url.startswith(("sqlite", "memory"))
            return
        try:
            message_id = await s.post("e1", "pause", "{}")
            assert await asyncio.wait_for(news.get(), 10) == (INBOX, "e1")
            await s.answer(message_id, '{"ok": true}')
            assert await asyncio.wait_for(news.get(), 10) == (REPLIES, message_id)
            # a node's append that changes a status (or makes a new execution) tells it;
            # one that writes the index row with its status unchanged does not
            await s.join("a", "h", 1, 30)
            assert await s.commit([start("e1", ("a", 1))]) == [None]
            assert await asyncio.wait_for(news.get(), 10) == (STATUSES, "e1")
            same = replace(step("e1", 1, ("a", 1)), record=row("e1"))
            assert await s.commit([same, start("e2", ("a", 1))]) == [None, None]
            assert await asyncio.wait_for(news.get(), 10) == (STATUSES, "e2")
            done = replace(step("e1", 2, ("a", 1)), record=row("e1", ExecutionStatus.COMPLETED))
            assert await s.commit([done]) == [None]
            assert await asyncio.wait_for(news.get(), 10) == (STATUSES, "e1")
        finally:
            await close()

    run(body)
