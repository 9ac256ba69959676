"""The ``water`` command: serve, validate, run, list, inspect and draw flows.

::

    water dev flows.py --db water.db         # the HTTP API over every flow in flows.py
    water validate flows.py                  # check flows without running them
    water run flows.py orders --input '{"order_id": "A-1"}'
    water list --db water.db --status failed
    water inspect <execution-id> --db water.db
    water graph flows.py orders              # Mermaid
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from water.errors import UnstorableValueError
from water.events import ErrorInfo, Event
from water.flow import Flow
from water.graph import to_mermaid
from water.server.discovery import DiscoveryError, FlowReport, all_flows, check_flows, load_flows
from water.snapshot import Snapshot
from water.status import ExecutionStatus
from water.storage import ExecutionRecord, MemoryStorage, Storage, TaskResult

app = typer.Typer(
    name="water",
    help="Durable, typed workflows: serve, validate, run and inspect flows.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

FlowsFile = Annotated[
    Path,
    typer.Argument(help="Python file defining Flow objects at module level."),
]
Db = Annotated[
    str,
    typer.Option("--db", help="SQLite database file (or a storage URL such as sqlite:///x.db)."),
]

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
_TERMINAL = [ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED]


def _console(stderr: bool = False) -> Console:
    stream = sys.stderr if stderr else sys.stdout
    # piped output is not cut to 80 columns (ids stay whole for grep and scripts)
    wide = not stream.isatty() and "COLUMNS" not in os.environ
    return Console(stderr=stderr, highlight=False, width=160 if wide else None)


def _out() -> Console:
    return _console()


def _err() -> Console:
    return _console(stderr=True)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _fail(message: str, code: int = 1) -> NoReturn:
    _err().print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(code)


def _styled(status: str) -> str:
    return f"[{_STATUS_STYLE.get(status, 'white')}]{escape(status)}[/]"


def _load(path: Path) -> list[Flow]:
    try:
        return load_flows(path)
    except DiscoveryError as exc:
        _fail(str(exc))


def _storage(db: str) -> Storage:
    from water.server.dev import open_storage

    try:
        return open_storage(db)
    except ValueError as exc:
        _fail(str(exc))


# -- dev --------------------------------------------------------------------------------
@app.command()
def dev(
    flows_file: FlowsFile = Path("flows.py"),
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    reload: Annotated[bool, typer.Option(help="Restart when a file changes.")] = False,
    db: Db = "water.db",
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "info",
    allowed_host: Annotated[
        list[str] | None,
        typer.Option(
            help="Also answer requests for this Host (name, name:port, *.domain or *; "
            "repeatable). Always answered: the --host address and localhost, 127.0.0.1 "
            "and [::1], with the port."
        ),
    ] = None,
    allowed_origin: Annotated[
        list[str] | None,
        typer.Option(
            help="Accept browser requests from this origin, e.g. http://localhost:3000 "
            "(repeatable; * for any). The API's own origin is always accepted."
        ),
    ] = None,
) -> None:
    """Serve the HTTP API for every flow defined in FLOWS_FILE.

    Set WATER_API_TOKEN to require 'Authorization: Bearer <token>'.
    """
    import uvicorn

    from water.server import create_app_from_flows
    from water.server.auth import TOKEN_ENV, resolve_token
    from water.server.dev import ALLOWED_HOSTS_ENV, ALLOWED_ORIGINS_ENV, DB_ENV, FLOWS_FILE_ENV
    from water.server.guard import is_loopback, served_hosts

    try:
        token = resolve_token(None)
    except ValueError as exc:
        _fail(str(exc))
    flows = _load(flows_file)
    reports = check_flows(flows)
    if not all(r.ok for r in reports):
        _print_reports(reports)
        _fail(f"{flows_file} has invalid flows; fix them before serving")
    hosts = [*served_hosts(host, port), *(allowed_host or [])]
    origins = list(allowed_origin or [])
    _print_flows(flows)
    url = f"http://{host}:{port}"
    out = _out()
    out.print(
        f"\nServing [bold]{escape(url)}[/]  (API docs: {escape(url)}/docs, "
        f"metrics: {escape(url)}/metrics)"
    )
    out.print(f"Database: {escape(db)}")
    out.print(f"Answering for hosts: {escape(', '.join(hosts))}")
    if origins:
        out.print(f"Accepting browser requests from: {escape(', '.join(origins))}")
    if token is not None:
        out.print(f"API token required ({TOKEN_ENV} is set).")
    elif not is_loopback(host):
        _warn_open(host)
    if reload:
        os.environ[FLOWS_FILE_ENV] = str(flows_file.resolve())
        os.environ[DB_ENV] = (
            db if "://" in db or db.startswith("sqlite:") else str(Path(db).resolve())
        )
        os.environ[ALLOWED_HOSTS_ENV] = ",".join(hosts)
        os.environ[ALLOWED_ORIGINS_ENV] = ",".join(origins)
        uvicorn.run(
            "water.server:app_from_env",
            factory=True,
            host=host,
            port=port,
            reload=True,
            reload_dirs=[str(flows_file.resolve().parent)],
            log_level=log_level,
        )
        return
    try:
        api = create_app_from_flows(
            flows, _storage(db), allowed_hosts=hosts, allowed_origins=origins
        )
    except (ValueError, OSError) as exc:
        _fail(f"cannot start the engine: {exc}")
    uvicorn.run(api, host=host, port=port, log_level=log_level)


def _warn_open(host: str) -> None:
    """Say loudly that a server reachable from other machines has no token."""
    from rich.panel import Panel

    from water.server.auth import TOKEN_ENV

    _err().print(
        Panel(
            f"Serving on {escape(host)} without an API token: anyone who can reach this "
            "address can start, steer, read and delete executions.\n"
            f"Set {TOKEN_ENV} to require 'Authorization: Bearer <token>', or serve on "
            "127.0.0.1.",
            title="[bold]WARNING: no API token[/]",
            border_style="bold red",
        )
    )


def _print_flows(flows: list[Flow]) -> None:
    table = Table(title="Registered flows", title_justify="left")
    table.add_column("flow", style="bold", no_wrap=True)
    table.add_column("steps", justify="right")
    table.add_column("description")
    for flow in flows:
        table.add_row(escape(flow.id), str(len(flow.nodes)), escape(flow.description))
    _out().print(table)


# -- validate ---------------------------------------------------------------------------
@app.command()
def validate(flows_file: FlowsFile = Path("flows.py")) -> None:
    """Check every flow in FLOWS_FILE without running it (exit 1 if any is invalid)."""
    flows = _load(flows_file)
    reports = check_flows(flows)
    _print_reports(reports)
    invalid = sum(not r.ok for r in reports)
    out = _out()
    if invalid:
        out.print(f"\n[bold red]{invalid} of {_count(len(reports), 'flow')} invalid[/]")
        raise typer.Exit(1)
    out.print(f"\n[bold green]{_count(len(reports), 'flow')} valid[/]")


def _print_reports(reports: list[FlowReport]) -> None:
    out = _out()
    for report in reports:
        flow = report.flow
        mark = "[green]✓[/]" if report.ok else "[red]✗[/]"
        out.print(f"{mark} [bold]{escape(flow.id)}[/] ({_count(len(flow.nodes), 'step')})")
        for problem in report.problems:
            out.print(f"    [red]- {escape(problem)}[/]")
        for warning in report.warnings:
            out.print(f"    [yellow]! {escape(warning)}[/]")


# -- run --------------------------------------------------------------------------------
@app.command()
def run(
    flows_file: FlowsFile,
    flow_id: Annotated[str, typer.Argument(help="Id of the flow to run.")],
    input: Annotated[
        str | None,
        typer.Option(
            "--input",
            "-i",
            help="The input as JSON, or @file.json. Default: {} when the flow's input is a "
            "model (its field defaults apply), else null.",
        ),
    ] = None,
    db: Db = "water.db",
    timeout: Annotated[
        float | None, typer.Option(help="Give up waiting after this many seconds.")
    ] = None,
) -> None:
    """Run one execution of FLOW_ID, show its progress, and print its output as JSON."""
    from water.engine import Engine

    flow = _find_flow(_load(flows_file), flow_id)
    data = _no_input(flow) if input is None else _parse_input(input)
    try:
        engine = Engine(_storage(db), flows=[flow], recover=False)
    except (ValueError, OSError) as exc:
        _fail(f"cannot open {db}: {exc}")
    try:
        try:
            ref = engine.start(flow, data)
        except ValidationError as exc:
            _fail(f"the input does not fit {flow_id}'s input model:\n{_field_errors(exc)}")
        except UnstorableValueError as exc:
            _fail(str(exc))
        final = _follow(ref, flow_id, timeout)
    finally:
        engine.shutdown()
    _report_outcome(final)


def _find_flow(flows: list[Flow], flow_id: str) -> Flow:
    found = all_flows(flows)
    if flow_id not in found:
        _fail(f"no flow {flow_id!r}; flows: {', '.join(sorted(found))}")
    return found[flow_id]


def _no_input(flow: Flow) -> Any:
    """The input of a run without ``--input``: ``{}`` for a model input, else None."""
    tp = flow.input_type
    return {} if isinstance(tp, type) and issubclass(tp, BaseModel) else None


def _parse_input(text: str) -> Any:
    if text.startswith("@"):
        try:
            text = Path(text[1:]).read_text()
        except OSError as exc:
            _fail(f"cannot read the input file: {exc}")
    try:
        return json.loads(text)
    except ValueError as exc:
        _fail(f"--input is not valid JSON: {exc}", code=2)


def _field_errors(exc: ValidationError) -> str:
    lines = []
    for e in exc.errors(include_url=False):
        loc = ".".join(str(p) for p in e.get("loc", ())) or "(input)"
        lines.append(f"  {loc}: {e.get('msg')}")
    return "\n".join(lines)


def _follow(ref: Any, flow_id: str, timeout: float | None) -> Snapshot:
    """Show a live status line until the execution finishes; return its final snapshot."""
    import time

    deadline = None if timeout is None else time.monotonic() + timeout
    err = _err()
    label = f"{escape(flow_id)} [dim]{escape(ref.execution_id)}[/]"
    try:
        with err.status(f"{label}: starting") as line:
            while True:
                try:
                    snapshot: Snapshot = ref.wait_for_status(*_TERMINAL, timeout=0.25)
                    return snapshot
                except TimeoutError:
                    pass
                current = ref.status()
                line.update(f"{label}: {_progress(current)}")
                if deadline is not None and time.monotonic() > deadline:
                    _fail(
                        f"execution {ref.execution_id} is still {current.status} after "
                        f"{timeout}s; it stays in the database (water inspect {ref.execution_id})"
                    )
    except KeyboardInterrupt:
        _fail(
            f"interrupted; execution {ref.execution_id} stays in the database and resumes "
            "when an engine with this flow starts (e.g. water dev)",
            code=130,
        )


def _progress(snapshot: Snapshot) -> str:
    parts = [_styled(str(snapshot.status)), f"{len(snapshot.completed_steps)} steps done"]
    if snapshot.running_steps:
        parts.append("running " + escape(", ".join(snapshot.running_steps)))
    if snapshot.waiting_for:
        parts.append("waiting for " + escape(", ".join(snapshot.waiting_for)))
    if snapshot.suspended:
        parts.append("suspended " + escape(", ".join(snapshot.suspended)))
    return " · ".join(parts)


def _report_outcome(final: Snapshot) -> None:
    err = _err()
    status = str(final.status)
    took = (final.updated_at - final.created_at).total_seconds()
    summary = f"{escape(final.execution_id)} {_styled(status)} in {took:.3f}s"
    if final.status == ExecutionStatus.COMPLETED:
        err.print(f"[green]✓[/] {summary}")
        typer.echo(json.dumps(final.output, indent=2))
        return
    err.print(f"[red]✗[/] {summary}")
    if final.error is not None:
        _fail(str(final.error))
    _fail(f"execution {final.execution_id} {status}")


# -- list -------------------------------------------------------------------------------
@app.command("list")
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
    storage = _existing(db)

    async def read() -> tuple[list[ExecutionRecord], int]:
        await storage.initialize()
        try:
            rows = await storage.list_executions(flow, status or None, limit, offset)
            return rows, await storage.count_executions(flow, status or None)
        finally:
            await storage.close()

    rows, total = asyncio.run(read())
    out = _out()
    if not rows:
        out.print("no executions" + (" match" if flow or status else ""))
        return
    table = Table()
    table.add_column("execution", no_wrap=True)
    table.add_column("flow", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("created", no_wrap=True)
    table.add_column("updated", no_wrap=True)
    table.add_column("error")
    for r in rows:
        table.add_row(
            escape(r.execution_id),
            escape(r.flow_id),
            _styled(str(r.status)),
            _time(r.created_at),
            _time(r.updated_at),
            escape(r.error or ""),
        )
    out.print(table)
    shown = f"{len(rows)} of {_count(total, 'execution')}"
    out.print(shown + (f" (from {offset})" if offset else ""))


def _existing(db: str) -> Storage:
    """The storage of an existing database (never creates one)."""
    storage = _storage(db)
    if isinstance(storage, MemoryStorage):
        _fail("an in-memory storage holds nothing between processes; give a database file")
    path = getattr(storage, "path", None)
    if path is not None and not Path(path).is_file():
        _fail(f"no database at {path}")
    return storage


def _time(value: datetime | float | None) -> str:
    """A time (a datetime, or unix seconds as events store them) in local ISO 8601."""
    if value is None:
        return ""
    if not isinstance(value, datetime):
        value = datetime.fromtimestamp(value, UTC)
    return value.astimezone().isoformat(timespec="seconds")


# -- inspect ----------------------------------------------------------------------------
@dataclass
class _Execution:
    record: ExecutionRecord
    snapshot: Snapshot | None
    steps: list[TaskResult]
    events: list[Event]


@app.command()
def inspect(
    execution_id: Annotated[str, typer.Argument(help="The execution's id.")],
    db: Db = "water.db",
) -> None:
    """Show an execution: status, steps, outputs and event timeline (no flows file needed)."""
    storage = _existing(db)

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
        _fail(f"no execution {execution_id!r} in {db}")
    _print_execution(found)


def _print_execution(found: _Execution) -> None:
    out = _out()
    record, snapshot = found.record, found.snapshot
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    head.add_row("execution", escape(record.execution_id))
    head.add_row("flow", escape(record.flow_id))
    head.add_row("status", _styled(str(record.status)))
    head.add_row("created", _time(record.created_at))
    head.add_row("updated", _time(record.updated_at))
    if record.parent_id:
        head.add_row("parent", escape(record.parent_id))
    if snapshot is not None and snapshot.suspended:
        head.add_row("suspended", escape(", ".join(snapshot.suspended)))
    if snapshot is not None and snapshot.waiting_for:
        head.add_row("waiting for", escape(", ".join(snapshot.waiting_for)))
    error = snapshot.error if snapshot is not None else None
    if error is not None:
        head.add_row("error", f"[red]{escape(str(error))}[/]")
    elif record.error:
        head.add_row("error", f"[red]{escape(record.error)}[/]")
    out.print(head)

    if found.steps:
        steps = Table(title="Steps", title_justify="left")
        for name in ("step", "task", "status", "attempts", "duration"):
            steps.add_column(name, no_wrap=True, justify="right" if name == "attempts" else "left")
        for s in found.steps:
            took = (
                f"{(s.finished_at - s.started_at).total_seconds():.3f}s"
                if s.started_at and s.finished_at
                else ""
            )
            steps.add_row(
                escape(s.key), escape(s.task_id), _styled(s.status), str(s.attempts), took
            )
        out.print(steps)

    if snapshot is not None:
        if snapshot.step_outputs:
            out.print("[bold]Step outputs[/]")
            for key, value in snapshot.step_outputs.items():
                out.print(f"  {escape(key)}: {escape(_short_json(value))}")
        if snapshot.status == ExecutionStatus.COMPLETED:
            out.print("[bold]Output[/]")
            out.print(escape(json.dumps(snapshot.output, indent=2)))

    if found.events:
        timeline = Table(title="Events", title_justify="left")
        timeline.add_column("seq", justify="right")
        timeline.add_column("at", no_wrap=True)
        timeline.add_column("event", no_wrap=True)
        timeline.add_column("detail")
        start = found.events[0].ts
        for event in found.events:
            timeline.add_row(
                str(event.seq),
                f"+{event.ts - start:.3f}s",
                escape(event.type),
                escape(_event_detail(event)),
            )
        out.print(timeline)


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
            value = _time(value)
        parts.append(f"{name}={value}")
    return " ".join(parts)


def _short_json(value: Any, limit: int = 160) -> str:
    text = json.dumps(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- graph ------------------------------------------------------------------------------
@app.command()
def graph(
    flows_file: FlowsFile,
    flow_id: Annotated[str, typer.Argument(help="Id of the flow to draw.")],
    direction: Annotated[str, typer.Option(help="TD (top-down) or LR (left-right).")] = "TD",
) -> None:
    """Print FLOW_ID as a Mermaid flowchart (nested flows are subgraphs)."""
    if direction not in ("TD", "TB", "LR", "RL", "BT"):
        _fail(f"unknown direction {direction!r}; use TD, LR, RL or BT", code=2)
    flow = _find_flow(_load(flows_file), flow_id)
    typer.echo(to_mermaid(flow, direction), nl=False)


def main() -> None:
    """Entry point of the ``water`` command."""
    app()


if __name__ == "__main__":
    main()
