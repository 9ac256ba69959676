"""``water list``, ``water inspect`` and ``water stats``: executions read from a database
(no flows file)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from water.cli.app import Db, existing, fail
from water.cli.follow import Interrupted
from water.cli.follow import follow as follow_execution
from water.cli.reading import Reading, read_execution
from water.cli.render import count, out, print_execution, print_records, print_stats
from water.stats import ExecutionStats
from water.status import ExecutionStatus
from water.storage import ExecutionRecord


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
def inspect(
    execution_id: Annotated[str, typer.Argument(help="The execution's id.")],
    db: Db = "water.db",
    follow: Annotated[
        bool,
        typer.Option(
            "--follow",
            "-f",
            help="Show its progress until it finishes (another process runs it), then the "
            "full view.",
        ),
    ] = False,
    interval: Annotated[
        float, typer.Option(min=0.05, help="With --follow: seconds between two reads.")
    ] = 0.5,
) -> None:
    """Show an execution: status, steps, outputs and event timeline (no flows file needed)."""
    storage = existing(db)
    if follow:
        try:
            found = follow_execution(out(), storage, execution_id, interval)
        except Interrupted as stop:
            _print(stop.reading)
            fail(
                f"stopped following; execution {execution_id} is {stop.reading.record.status}",
                code=130,
            )
    else:

        async def read() -> Reading | None:
            await storage.initialize()
            try:
                return await read_execution(storage, execution_id)
            finally:
                await storage.close()

        found = asyncio.run(read())
    if found is None:
        fail(f"no execution {execution_id!r} in {db}")
    _print(found)


def _print(found: Reading) -> None:
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
