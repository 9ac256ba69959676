"""What the commands print: consoles, rich tables, statuses and times.

Everything that comes from users or storage (ids, descriptions, errors, outputs)
is escaped before rich reads it as markup.
"""

from __future__ import annotations

import json
import os
import sys
from datetime import UTC, datetime
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from water.definition import Definition
from water.events import ErrorInfo, Event
from water.graph import step_labels
from water.server.discovery import FlowReport
from water.snapshot import Snapshot
from water.stats import ExecutionStats
from water.status import ExecutionStatus
from water.storage import ExecutionRecord, TaskResult

_STATUS_STYLE = {
    "completed": "green",
    "failed": "red",
    "cancelled": "magenta",
    "running": "cyan",
    "pausing": "yellow",
    "paused": "yellow",
    "waiting": "blue",
    "pending": "dim",
}


def _console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    # piped output is not cut to 80 columns (ids stay whole for grep and scripts)
    wide = not stream.isatty() and "COLUMNS" not in os.environ
    return Console(stderr=stderr, highlight=False, width=160 if wide else None)


def out() -> Console:
    return _console()


def err() -> Console:
    return _console(stderr=True)


def count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def styled(status: str) -> str:
    return f"[{_STATUS_STYLE.get(status, 'white')}]{escape(status)}[/]"


def local_time(value: datetime | float | None) -> str:
    """A time (a datetime, or unix seconds as events store them) in local ISO 8601."""
    if value is None:
        return ""
    if not isinstance(value, datetime):
        value = datetime.fromtimestamp(value, UTC)
    return value.astimezone().isoformat(timespec="seconds")


# -- flows ------------------------------------------------------------------------------
def print_flows(flows: list[Definition]) -> None:
    table = Table(title="Registered flows", title_justify="left")
    table.add_column("flow", style="bold", no_wrap=True)
    table.add_column("steps", justify="right")
    table.add_column("description")
    for flow in flows:
        table.add_row(escape(flow.id), str(len(step_labels(flow))), escape(flow.description))
    out().print(table)


def print_reports(reports: list[FlowReport]) -> None:
    console = out()
    for report in reports:
        flow = report.flow
        mark = "[green]✓[/]" if report.ok else "[red]✗[/]"
        console.print(
            f"{mark} [bold]{escape(flow.id)}[/] ({count(len(step_labels(flow)), 'step')})"
        )
        for problem in report.problems:
            console.print(f"    [red]- {escape(problem)}[/]")
        for warning in report.warnings:
            console.print(f"    [yellow]! {escape(warning)}[/]")


def warn_open(host: str) -> None:
    """Say loudly that a server reachable from other machines has no token."""
    from rich.panel import Panel

    from water.server.auth import TOKEN_ENV

    err().print(
        Panel(
            f"Serving on {escape(host)} without an API token: anyone who can reach this "
            "address can start, steer, read and delete executions.\n"
            f"Set {TOKEN_ENV} to require 'Authorization: Bearer <token>', or serve on "
            "127.0.0.1.",
            title="[bold]WARNING: no API token[/]",
            border_style="bold red",
        )
    )


# -- executions -------------------------------------------------------------------------
def progress(snapshot: Snapshot) -> str:
    """One line on where a running execution is."""
    parts = [styled(str(snapshot.status)), f"{len(snapshot.completed_steps)} steps done"]
    if snapshot.running_steps:
        parts.append("running " + escape(", ".join(snapshot.running_steps)))
    if snapshot.waiting_for:
        parts.append("waiting for " + escape(", ".join(snapshot.waiting_for)))
    if snapshot.suspended:
        parts.append("suspended " + escape(", ".join(snapshot.suspended)))
    return " · ".join(parts)


def print_records(rows: list[ExecutionRecord]) -> None:
    table = Table()
    table.add_column("execution", no_wrap=True)
    table.add_column("flow", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("created", no_wrap=True)
    table.add_column("updated", no_wrap=True)
    table.add_column("owner", no_wrap=True)
    table.add_column("error")
    for r in rows:
        table.add_row(
            escape(r.execution_id),
            escape(r.flow_id),
            styled(str(r.status)),
            local_time(r.created_at),
            local_time(r.updated_at),
            escape(r.owner or ""),
            escape(r.error or ""),
        )
    out().print(table)


def print_execution(
    record: ExecutionRecord,
    snapshot: Snapshot | None,
    steps: list[TaskResult],
    events: list[Event],
) -> None:
    """An execution's head (status, times, error), steps, outputs and event timeline."""
    console = out()
    console.print(execution_head(record, snapshot))
    if steps:
        console.print(steps_table(steps))

    if snapshot is not None:
        if snapshot.step_outputs:
            console.print("[bold]Step outputs[/]")
            for key, value in snapshot.step_outputs.items():
                console.print(f"  {escape(key)}: {escape(_short_json(value))}")
        if snapshot.status == ExecutionStatus.COMPLETED:
            console.print("[bold]Output[/]")
            console.print(escape(json.dumps(snapshot.output, indent=2)))

    if events:
        timeline = Table(title="Events", title_justify="left")
        timeline.add_column("seq", justify="right")
        timeline.add_column("at", no_wrap=True)
        timeline.add_column("event", no_wrap=True)
        timeline.add_column("detail")
        start = events[0].ts
        for event in events:
            timeline.add_row(
                str(event.seq),
                f"+{event.ts - start:.3f}s",
                escape(event.type),
                escape(_event_detail(event)),
            )
        console.print(timeline)


def execution_head(record: ExecutionRecord, snapshot: Snapshot | None) -> Table:
    """Id, flow, status, times, parent, original of a fork, what it waits for, error."""
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("execution", escape(record.execution_id))
    head.add_row("flow", escape(record.flow_id))
    head.add_row("status", styled(str(record.status)))
    head.add_row("created", local_time(record.created_at))
    head.add_row("updated", local_time(record.updated_at))
    if record.owner:
        head.add_row("owner", f"{escape(record.owner)} (epoch {record.epoch})")
    if record.parent_id:
        head.add_row("parent", escape(record.parent_id))
    if snapshot is not None and snapshot.forked_from:
        head.add_row("forked from", escape(snapshot.forked_from))
    if snapshot is not None and snapshot.suspended:
        head.add_row("suspended", escape(", ".join(snapshot.suspended)))
    if snapshot is not None and snapshot.waiting_for:
        head.add_row("waiting for", escape(", ".join(snapshot.waiting_for)))
    error = snapshot.error if snapshot is not None else None
    if error is not None:
        head.add_row("error", f"[red]{escape(str(error))}[/]")
    elif record.error:
        head.add_row("error", f"[red]{escape(record.error)}[/]")
    return head


def steps_table(steps: list[TaskResult], title: str = "Steps") -> Table:
    table = Table(title=title, title_justify="left")
    for name in ("step", "task", "status", "attempts", "duration"):
        table.add_column(name, no_wrap=True, justify="right" if name == "attempts" else "left")
    for s in steps:
        took = (
            f"{(s.finished_at - s.started_at).total_seconds():.3f}s"
            if s.started_at and s.finished_at
            else ""
        )
        table.add_row(escape(s.key), escape(s.task_id), styled(s.status), str(s.attempts), took)
    return table


def print_stats(stats: ExecutionStats) -> None:
    """Executions by status, then steps by task."""
    console = out()
    scope = f"flow {escape(stats.flow_id)}" if stats.flow_id is not None else "every flow"
    if not stats.total:
        console.print(f"no executions of {scope}")
        return
    console.print(f"[bold]Executions of {scope}[/]")
    statuses = Table()
    statuses.add_column("status", no_wrap=True)
    statuses.add_column("executions", justify="right")
    for status, n in stats.counts.items():
        if n:
            statuses.add_row(styled(str(status)), str(n))
    statuses.add_row("[bold]total[/]", f"[bold]{stats.total}[/]")
    console.print(statuses)
    if not stats.steps:
        return
    steps = Table(title="Steps by task", title_justify="left")
    steps.add_column("task", no_wrap=True)
    for name in ("steps", "failures", "retries", "p50", "p95"):
        steps.add_column(name, justify="right", no_wrap=True)
    for task_id, step in stats.steps.items():
        steps.add_row(
            escape(task_id),
            str(step.count),
            f"[red]{step.failures}[/]" if step.failures else "0",
            str(step.retries),
            _millis(step.p50_ms),
            _millis(step.p95_ms),
        )
    console.print(steps)


def _millis(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.1f} ms"


_BULKY = frozenset({"seq", "ts", "type", "output", "input", "payload", "data", "variables"})
_TIMES = frozenset({"retry_at", "fire_at"})


def _event_detail(event: Event) -> str:
    parts = []
    for name, value in event:
        if name in _BULKY or name == "metadata" or value is None or value == {}:
            continue
        if isinstance(value, ErrorInfo):
            value = f"{value.type}: {value.message}"
        elif name in _TIMES:
            value = local_time(value)
        parts.append(f"{name}={value}")
    return " ".join(parts)


def _short_json(value: Any, limit: int = 160) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
