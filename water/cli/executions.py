"""``water list``, ``water inspect`` and ``water stats``: executions read from a database
(no flows file)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Annotated

import typer

from water.cli.app import Db, existing, fail
from water.cli.render import count, out, print_execution, print_records, print_stats
from water.events import Event
from water.snapshot import Snapshot
from water.stats import ExecutionStats
from water.status import ExecutionStatus
from water.storage import ExecutionRecord, TaskResult


# -- list -------------------------------------------------------------------------------
def list_executions(
    db: Db = "water.db",
    flow: Annotated[str | None, typer.Option(help="Only this flow.")] = None,
    status: Annotated[
        list[ExecutionStatus] | None, typer.Option(help="Only this status (repeatable).")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many rows.")] = 20,
    offset: Annotated[int, typer.Option(min=0, help="Skip this many rows.")] = 0,
) -> None:
    """List executions, newest first (reads the database; no flows file needed)."""
    storage = existing(db)

    async def read() -> tuple[list[ExecutionRecord], int]:
        await storage.initialize()
        try:
            rows = await storage.list_executions(flow, status or None, limit, offset)
            return rows, await storage.count_executions(flow, status or None)
        finally:
            await storage.close()

    rows, total = asyncio.run(read())
    console = out()
    if not rows:
        console.print("no executions" + (" match" if flow or status else ""))
        return
    print_records(rows)
    shown = f"{len(rows)} of {count(total, 'execution')}"
    console.print(shown + (f" (from {offset})" if offset else ""))


# -- inspect ----------------------------------------------------------------------------
@dataclass
class _Execution:
    record: ExecutionRecord
    snapshot: Snapshot | None
    steps: list[TaskResult]
    events: list[Event]


def inspect(
    execution_id: Annotated[str, typer.Argument(help="The execution's id.")],
    db: Db = "water.db",
) -> None:
    """Show an execution: status, steps, outputs and event timeline (no flows file needed)."""
    storage = existing(db)

    async def read() -> _Execution | None:
        await storage.initialize()
        try:
            record = await storage.get_execution(execution_id)
            if record is None:
                return None
            return _Execution(
                record,
                await storage.load_snapshot(execution_id),
                await storage.load_task_results(execution_id),
                await storage.load_events(execution_id),
            )
        finally:
            await storage.close()

    found = asyncio.run(read())
    if found is None:
        fail(f"no execution {execution_id!r} in {db}")
    print_execution(found.record, found.snapshot, found.steps, found.events)


# -- stats ------------------------------------------------------------------------------
def stats(
    db: Db = "water.db",
    flow: Annotated[str | None, typer.Option(help="Only this flow.")] = None,
) -> None:
    """Executions by status and steps by task: counts, failures, retries, p50/p95 durations."""
    storage = existing(db)

    async def read() -> ExecutionStats:
        await storage.initialize()
        try:
            return await storage.stats(flow)
        finally:
            await storage.close()

    print_stats(asyncio.run(read()))
